//! `mesa-fe case note|solve|escalate|info|assign|link|close|reopen|seguridad|relate|merge`: an operator acts on a case
//! without e-mail, as the agent named by `--agente`. The same engine as the e-mail commands;
//! the mail it causes waits in the outbox for the running service.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mesa_fe::desk::command::{Action, Command};
use mesa_fe::desk::{CaseType, Tema};
use mesa_fe::pipeline::{ActError, Desk};
use mesa_fe::text::fold;

use super::{
    EX_DATAERR, EX_IOERR, Failure, load_config, load_knowledge, load_message_ids, open_store,
};

/// What every action takes.
#[derive(Debug, Args)]
pub struct ActArgs {
    /// Número del caso, por ejemplo FE-2026-000001, o solo 1 para un caso de este año.
    numero: String,
    /// Correo del agente que actúa (de [[agentes]], o el de Administración Técnica).
    #[arg(long)]
    agente: String,
    /// Texto de la acción. Sin esta opción se lee de la entrada estándar (si no es una terminal).
    #[arg(long)]
    texto: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ActCommand {
    /// Nota interna (en nivel 2 es el diagnóstico).
    Note(ActArgs),
    /// Solución: el texto le llega al solicitante y el caso queda solucionado (y sus hijos).
    Solve {
        #[command(flatten)]
        args: ActArgs,
        /// La solución entra a la guía de primer contacto (mesa-fe kb export).
        #[arg(long)]
        primer_contacto: bool,
    },
    /// Escala al siguiente nivel (N2 → N3 → Administración Técnica); el texto es el motivo.
    Escalate {
        #[command(flatten)]
        args: ActArgs,
        /// Del filtro funcional de nivel 3 al grupo técnico de nivel 3.
        #[arg(long, conflicts_with_all = ["csat", "sin_xml"])]
        n3_tecnico: bool,
        /// A Administración Técnica (el caso debe estar en el último grupo de nivel 3).
        #[arg(long)]
        csat: bool,
        /// A Administración Técnica sin el XML del solicitante: el motivo por el que no aplica.
        #[arg(long, value_name = "MOTIVO")]
        sin_xml: Option<String>,
    },
    /// Marca el caso como evento de seguridad (categoría a–h del procedimiento) y lo pasa al
    /// grupo de seguridad, que desde entonces es el único que lo ve.
    Seguridad {
        /// Número del caso, por ejemplo FE-2026-000001, o solo 1 para un caso de este año.
        numero: String,
        /// a control ineficaz, b integridad/confidencialidad/disponibilidad, c error humano,
        /// d políticas, e seguridad física, f cambio no controlado, g mal funcionamiento,
        /// h violación de acceso.
        categoria: String,
        /// Correo del agente que actúa (de [[agentes]]).
        #[arg(long)]
        agente: String,
        /// Por qué es un evento de seguridad (queda en el historial del caso).
        #[arg(long)]
        motivo: String,
    },
    /// Pregunta al solicitante; el caso queda pendiente de información.
    Info(ActArgs),
    /// Asigna el caso a otro agente.
    Assign {
        #[command(flatten)]
        args: ActArgs,
        /// Correo del agente que recibe el caso.
        destino: String,
    },
    /// Vincula el caso como hijo de un caso padre (afectación masiva).
    Link {
        #[command(flatten)]
        args: ActArgs,
        /// Número del caso padre.
        padre: String,
    },
    /// Cierra el caso.
    Close(ActArgs),
    /// Reabre el caso.
    Reopen(ActArgs),
    /// Cambia el tipo del caso: incidente, requerimiento, cambio o problema.
    Type {
        #[command(flatten)]
        args: ActArgs,
        /// incidente, requerimiento, cambio o problema.
        tipo: String,
    },
    /// Registra la causa raíz de un problema (necesaria para solucionarlo).
    Cause(ActArgs),
    /// Crea un caso nuevo relacionado con este (hijo suyo, mismo solicitante y canal); el texto
    /// es su descripción y el solicitante recibe el número nuevo.
    Relate {
        #[command(flatten)]
        args: ActArgs,
        /// Tema del caso nuevo, si no es el del caso actual.
        #[arg(long)]
        tema: Option<String>,
    },
    /// Fusiona un caso duplicado (el número) en otro: mensajes, documentos e historial pasan al
    /// destino, el duplicado queda cerrado apuntando a él y su solicitante recibe el número.
    Merge {
        #[command(flatten)]
        args: ActArgs,
        /// Caso que se queda (FE-2026-000001 o solo 1).
        #[arg(long = "en")]
        en: String,
    },
}

impl ActCommand {
    fn split(self) -> Result<(ActArgs, Command, bool), Failure> {
        Ok(match self {
            ActCommand::Note(args) => (args, Command::Nota, true),
            ActCommand::Solve { args, primer_contacto } => {
                (args, Command::Solucion { first_contact: primer_contacto }, true)
            }
            ActCommand::Escalate { args, n3_tecnico, csat, sin_xml } => {
                (args, escalation(n3_tecnico, csat, sin_xml)?, false)
            }
            ActCommand::Seguridad { numero, categoria, agente, motivo } => {
                let Some(category) = security_category(&categoria) else {
                    return Err(Failure::new(
                        EX_DATAERR,
                        format!(
                            "categoría de seguridad desconocida \"{categoria}\": use una letra de la a \
                             a la h (a control ineficaz, b integridad/confidencialidad/\
                             disponibilidad, c error humano, d políticas, e seguridad física, \
                             f cambio no controlado, g mal funcionamiento, h violación de acceso)"
                        ),
                    ));
                };
                let args = ActArgs { numero, agente, texto: Some(motivo) };
                (args, Command::Seguridad(category), true)
            }
            ActCommand::Info(args) => (args, Command::Info, true),
            ActCommand::Assign { args, destino } => {
                (args, Command::Asignar(destino.to_lowercase()), false)
            }
            ActCommand::Link { args, padre } => (args, Command::Padre(padre.to_uppercase()), false),
            ActCommand::Close(args) => (args, Command::Cerrar, false),
            ActCommand::Reopen(args) => (args, Command::Reabrir, false),
            ActCommand::Type { args, tipo } => match CaseType::read(&tipo) {
                Some(case_type) => (args, Command::Tipo(case_type), false),
                None => {
                    return Err(Failure::new(
                        EX_DATAERR,
                        format!(
                            "tipo desconocido \"{tipo}\": use incidente, requerimiento, cambio o problema"
                        ),
                    ));
                }
            },
            ActCommand::Cause(args) => (args, Command::Causa, true),
            ActCommand::Relate { args, tema } => {
                let tema = match tema.as_deref().map(|t| Tema::parse(&fold(t.trim()))) {
                    None => None,
                    Some(Some(tema)) => Some(tema),
                    Some(None) => {
                        return Err(Failure::new(
                            EX_DATAERR,
                            format!(
                                "tema desconocido \"{}\": use factura_electronica, documento_soporte, \
                                 nomina_electronica, radian, facturador_gratuito, habilitacion u otro",
                                tema.unwrap_or_default()
                            ),
                        ));
                    }
                };
                (args, Command::Relacionado { tema }, true)
            }
            ActCommand::Merge { args, en } => (args, Command::Fusionar(en), false),
        })
    }
}

/// `--n3-tecnico`, `--csat`, `--sin-xml MOTIVO` (implies `--csat`), or the next level.
fn escalation(n3_tecnico: bool, csat: bool, sin_xml: Option<String>) -> Result<Command, Failure> {
    Ok(match sin_xml {
        Some(reason) if reason.trim().is_empty() => {
            return Err(Failure::new(
                EX_DATAERR,
                "--sin-xml necesita el motivo por el que el XML del solicitante no aplica",
            ));
        }
        Some(reason) => Command::EscalarCsat { without_xml: Some(reason.trim().to_string()) },
        None if csat => Command::EscalarCsat { without_xml: None },
        None if n3_tecnico => Command::EscalarN3Tecnico,
        None => Command::Escalar,
    })
}

/// `a`…`h`, any case.
fn security_category(written: &str) -> Option<char> {
    let written = written.trim().to_ascii_lowercase();
    let mut chars = written.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ 'a'..='h'), None) => Some(c),
        _ => None,
    }
}

pub async fn act(path: Option<&Path>, command: ActCommand) -> Result<ExitCode, Failure> {
    let (args, command, needs_text) = command.split()?;
    let text = match args.texto {
        Some(text) => text,
        None if !std::io::stdin().is_terminal() => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                Failure::new(
                    EX_IOERR,
                    format!("no se pudo leer el texto de la entrada estándar: {e}"),
                )
            })?;
            text
        }
        None => String::new(),
    };
    if needs_text && text.trim().is_empty() {
        return Err(Failure::new(
            EX_DATAERR,
            format!(
                "#{} necesita un texto: use --texto \"…\" o páselo por la entrada estándar",
                command.name()
            ),
        ));
    }
    let action = Action { command, text: text.trim().to_string() };
    perform(path, &args.numero, &args.agente, &action).await
}

/// One action on a case, as the agent `agent`, with the same engine as the e-mail commands.
pub async fn perform(
    path: Option<&Path>,
    number: &str,
    agent: &str,
    action: &Action,
) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let number = &super::case_number(&config, number);
    // `--en 1` is the case 1 of this year, as the case's own number.
    let merged;
    let action = match &action.command {
        Command::Fusionar(target) => {
            let command = Command::Fusionar(super::case_number(&config, target));
            merged = Action { command, text: action.text.clone() };
            &merged
        }
        _ => action,
    };
    let ids = load_message_ids(&config)?;
    let store = open_store(&config).await?;
    let desk = Desk::new(config.clone(), load_knowledge(&config)?)
        .with_message_ids(ids)
        .with_imported_providers(store.providers().await?);
    let outcome = desk.act_by_cli(&store, number, agent, action).await;
    store.close().await;
    let outcome = outcome.map_err(|e| match e {
        ActError::Store(e) => Failure::from(e),
        other => Failure::new(EX_DATAERR, other.to_string()),
    })?;
    if let Some(why) = &outcome.refusal {
        return Err(Failure::new(EX_DATAERR, format!("{}: no se aplicó: {why}", outcome.case)));
    }
    if let Some(created) = &outcome.created {
        say!(
            "{}: caso relacionado {created} creado (hijo de {}); el solicitante recibe el número \
             nuevo en su propio hilo",
            outcome.case,
            outcome.case
        );
    }
    if let Command::Fusionar(target) = &action.command {
        say!("{}: fusionado en {target}; su solicitante recibe el número {target}", outcome.case);
    }
    say!(
        "{}: {} · {}{}",
        outcome.case,
        outcome.status.as_str(),
        outcome.level.as_str(),
        match outcome.children_solved {
            0 => String::new(),
            n => format!(" · solución enviada a {n} casos hijos"),
        }
    );
    Ok(ExitCode::SUCCESS)
}
