//! The pure middle of mesa-fe: classification, minimum requirements, the known-error base and the
//! case state machine. Nothing here does I/O, so unit tests drive it directly.

pub mod answer;
pub mod bounce;
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
pub mod systems;
pub mod waiting;
pub mod zone;

crate::names::named_enum! {
    /// Topic of a request; each one has its N2 group (activity 4 of the procedure).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Tema {
        FacturaElectronica = "factura_electronica",
        DocumentoSoporte = "documento_soporte",
        NominaElectronica = "nomina_electronica",
        Radian = "radian",
        FacturadorGratuito = "facturador_gratuito",
        Habilitacion = "habilitacion",
        Otro = "otro",
    }
}

impl Tema {
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

crate::names::named_enum! {
    /// One item of the minimum information a case needs (activity 2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Requirement {
        Descripcion = "descripcion",
        Documento = "documento",
        Evidencia = "evidencia",
        Nit = "nit",
        Xml = "xml",
    }
}

crate::names::named_enum! {
    /// Support level a case sits at.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Level {
        N1 = "n1",
        N2 = "n2",
        N3 = "n3",
        AdministracionTecnica = "administracion_tecnica",
    }
}

crate::names::named_enum! {
    /// How the request reached the desk (the reply goes back the same way).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Channel {
        Correo = "correo",
        Aranda = "aranda",
        Pqsr = "pqsr",
        /// A sender who may not write to that buzón (the aliados buzón is for registered providers):
        /// kept and answered with the right channel, not worked as a case.
        Rechazado = "rechazado",
    }
}

crate::names::named_enum! {
    /// How the procedure relates cases ("Crear Relacionado a"): every case has one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub enum CaseType {
        #[default]
        Incidente = "incidente",
        Requerimiento = "requerimiento",
        Cambio = "cambio",
        Problema = "problema",
    }
}

impl Channel {
    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Correo => "Correo",
            Channel::Aranda => "Aranda",
            Channel::Pqsr => "PQSR",
            Channel::Rechazado => "Rechazado",
        }
    }
}

impl CaseType {
    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            CaseType::Incidente => "Incidente",
            CaseType::Requerimiento => "Requerimiento",
            CaseType::Cambio => "Cambio",
            CaseType::Problema => "Problema",
        }
    }

    /// Reads what a person typed: case, accents and surrounding spaces ignored.
    pub fn read(name: &str) -> Option<CaseType> {
        CaseType::parse(&crate::text::fold(name.trim()))
    }
}
