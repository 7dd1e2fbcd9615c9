//! The pure middle of mesa-fe: classification, minimum requirements, the known-error base and the
//! case state machine. Nothing here does I/O, so unit tests drive it directly.

pub mod calendar;
pub mod case;
pub mod classify;
pub mod command;
pub mod guide;
pub mod knowledge;
pub mod levels;
pub mod providers;
pub mod report;
pub mod requirements;
pub mod sla;

use serde::{Deserialize, Serialize};

/// Topic of a request; each one has its N2 group (activity 4 of the procedure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tema {
    FacturaElectronica,
    DocumentoSoporte,
    NominaElectronica,
    Radian,
    FacturadorGratuito,
    Habilitacion,
    Otro,
}

impl Tema {
    pub const ALL: [Tema; 7] = [
        Tema::FacturaElectronica,
        Tema::DocumentoSoporte,
        Tema::NominaElectronica,
        Tema::Radian,
        Tema::FacturadorGratuito,
        Tema::Habilitacion,
        Tema::Otro,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tema::FacturaElectronica => "factura_electronica",
            Tema::DocumentoSoporte => "documento_soporte",
            Tema::NominaElectronica => "nomina_electronica",
            Tema::Radian => "radian",
            Tema::FacturadorGratuito => "facturador_gratuito",
            Tema::Habilitacion => "habilitacion",
            Tema::Otro => "otro",
        }
    }

    pub fn parse(name: &str) -> Option<Tema> {
        Tema::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// How a requester reads the topic in an e-mail.
    pub fn label(self) -> &'static str {
        match self {
            Tema::FacturaElectronica => "Factura electrónica de venta",
            Tema::DocumentoSoporte => "Documento soporte",
            Tema::NominaElectronica => "Nómina electrónica",
            Tema::Radian => "RADIAN",
            Tema::FacturadorGratuito => "Facturador gratuito",
            Tema::Habilitacion => "Habilitación",
            Tema::Otro => "Otros temas",
        }
    }
}

/// One item of the minimum information a case needs (activity 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Descripcion,
    Documento,
    Evidencia,
    Nit,
    Xml,
}

impl Requirement {
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Descripcion => "descripcion",
            Requirement::Documento => "documento",
            Requirement::Evidencia => "evidencia",
            Requirement::Nit => "nit",
            Requirement::Xml => "xml",
        }
    }

    pub fn parse(name: &str) -> Option<Requirement> {
        [
            Requirement::Descripcion,
            Requirement::Documento,
            Requirement::Evidencia,
            Requirement::Nit,
            Requirement::Xml,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// Support level a case sits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    N1,
    N2,
    N3,
    AdministracionTecnica,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::N1, Level::N2, Level::N3, Level::AdministracionTecnica];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::N1 => "n1",
            Level::N2 => "n2",
            Level::N3 => "n3",
            Level::AdministracionTecnica => "administracion_tecnica",
        }
    }

    pub fn parse(name: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// How the request reached the desk (the reply goes back the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Correo,
    Aranda,
    Pqsr,
    /// A sender who may not write to that buzón (the aliados buzón is for registered providers):
    /// kept and answered with the right channel, not worked as a case.
    Rechazado,
}

impl Channel {
    pub const ALL: [Channel; 4] =
        [Channel::Correo, Channel::Aranda, Channel::Pqsr, Channel::Rechazado];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Correo => "correo",
            Channel::Aranda => "aranda",
            Channel::Pqsr => "pqsr",
            Channel::Rechazado => "rechazado",
        }
    }

    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// How the procedure relates cases ("Crear Relacionado a"): every case has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    #[default]
    Incidente,
    Requerimiento,
    Cambio,
    Problema,
}

impl CaseType {
    pub const ALL: [CaseType; 4] =
        [CaseType::Incidente, CaseType::Requerimiento, CaseType::Cambio, CaseType::Problema];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseType::Incidente => "incidente",
            CaseType::Requerimiento => "requerimiento",
            CaseType::Cambio => "cambio",
            CaseType::Problema => "problema",
        }
    }

    pub fn parse(name: &str) -> Option<CaseType> {
        let folded = crate::text::fold(name.trim());
        CaseType::ALL.into_iter().find(|t| t.as_str() == folded)
    }
}
