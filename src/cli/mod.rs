//! The one-shot commands: glue between arguments, the library and the terminal. Output is
//! Spanish; exit codes follow sysexits so scripts and systemd tell a bad config from a crash.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use mesa_fe::config::{Buzon, Config, ConfigError};
use mesa_fe::desk::case::Status;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::desk::{Level, Tema};
use mesa_fe::mail::thread::MessageIds;
use mesa_fe::pipeline::Desk;
use mesa_fe::store::Store;
use mesa_fe::store::cases::CaseFilter;
use mesa_fe::store::outbox::OutboxStatus;
use mesa_fe::store::raw::Origin;

mod act;
pub mod copy;
pub mod help;
mod kb;
mod preflight;
pub mod providers;
pub mod purge;
mod quarantine;
pub mod report;
pub mod sessions;
mod show;

/// Files stored per transaction by `ingest`.
const INGEST_BATCH: usize = 64;

pub const EX_USAGE: u8 = 64;
pub const EX_DATAERR: u8 = 65;
pub const EX_NOINPUT: u8 = 66;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_IOERR: u8 = 74;
pub const EX_TEMPFAIL: u8 = 75;
pub const EX_CONFIG: u8 = 78;

/// A failed command: the message for the operator and its exit code.
#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code }
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Failure {
        Failure::new(EX_CONFIG, error.to_string())
    }
}

impl Failure {
    /// The exit code of a store failure: a configuration to fix (78) or a database that failed
    /// (74).
    fn from_store(error: &mesa_fe::store::StoreError) -> u8 {
        if error.is_config() { EX_CONFIG } else { EX_IOERR }
    }
}

impl From<mesa_fe::store::StoreError> for Failure {
    fn from(error: mesa_fe::store::StoreError) -> Failure {
        Failure::new(Failure::from_store(&error), error.to_string())
    }
}

#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Lista los casos, con filtros opcionales.
    List {
        /// n1, n2, n3 o administracion_tecnica.
        #[arg(long)]
        nivel: Option<String>,
        /// nuevo, pendiente_informacion, en_atencion, escalado, solucionado o cerrado.
        #[arg(long)]
        estado: Option<String>,
        /// factura_electronica, documento_soporte, nomina_electronica, radian,
        /// facturador_gratuito, habilitacion u otro.
        #[arg(long)]
        tema: Option<String>,
        /// Solo los hijos de este caso padre (afectación masiva); FE-2026-000001 o solo 1.
        #[arg(long)]
        padre: Option<String>,
        /// Solo los casos abiertos con un objetivo de servicio (SLA) vencido en su nivel actual.
        #[arg(long)]
        vencidos: bool,
        /// incidente, requerimiento, cambio o problema.
        #[arg(long)]
        tipo: Option<String>,
        /// correo, aranda, pqsr o rechazado (remitentes que no podían escribir a ese buzón).
        #[arg(long)]
        canal: Option<String>,
        /// Solo los casos con un documento de este CUFE/CUDE (el suyo o el que responde).
        #[arg(long)]
        cufe: Option<String>,
        /// Solo los casos con este NIT como emisor o adquiriente de un documento, o como
        /// proveedor tecnológico que escribió (con o sin puntos y dígito de verificación).
        #[arg(long)]
        nit: Option<String>,
        /// Solo los casos de este solicitante (su correo).
        #[arg(long)]
        correo: Option<String>,
        /// Solo los casos en espera de información del solicitante, el más antiguo primero:
        /// desde cuándo, días hábiles de espera, si ya se le recordó y cuándo se cierra.
        #[arg(long, conflicts_with_all = ["nivel", "estado", "tema", "padre", "vencidos", "tipo", "canal", "cufe", "nit", "correo", "referencia"])]
        esperando: bool,
        /// Solo el caso con esta referencia externa: el número de Aranda, el radicado de PQSR o
        /// el ticket de Administración Técnica (con o sin el nombre del sistema: "778812" o
        /// "Aranda 778812").
        #[arg(long)]
        referencia: Option<String>,
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
    /// Muestra un caso: datos, mensajes, documentos, historial de actividades y correos en cola.
    Show {
        /// Número del caso, por ejemplo FE-2026-000001, o solo 1 para un caso de este año.
        numero: String,
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Act(act::ActCommand),
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Lista los mensajes en cuarentena.
    List {
        /// Incluye también los mensajes automáticos que no pertenecían a ningún caso (rebotes,
        /// respuestas automáticas): se guardan sin responderlos.
        #[arg(long)]
        ignorados: bool,
        /// Solo los mensajes descartados por un operador (`quarantine discard`).
        #[arg(long, conflicts_with = "ignorados")]
        descartados: bool,
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
    /// Muestra un mensaje en cuarentena: la razón, el comienzo de su contenido y lo que los
    /// operadores hicieron con él (reprocesar, descartar).
    Show {
        /// Identificador del mensaje (columna "id" de `quarantine list`).
        id: i64,
        /// Salida en JSON (el comienzo del contenido va en "head").
        #[arg(long)]
        json: bool,
    },
    /// Pasa otra vez por la mesa un mensaje en cuarentena (después de una corrección o de un
    /// cambio de configuración): si ahora abre un caso o se une a uno, sale de la cuarentena y
    /// sus respuestas se encolan como las de un mensaje nuevo; si vuelve a fallar, sigue en
    /// cuarentena con la razón nueva.
    Reprocess {
        /// Identificador del mensaje (columna "id" de `quarantine list`).
        #[arg(required_unless_present = "todos", conflicts_with = "todos")]
        id: Option<i64>,
        /// Todos los mensajes en cuarentena (no los descartados).
        #[arg(long)]
        todos: bool,
        /// Quién lo hace, para el registro (por defecto, el usuario del sistema).
        #[arg(long, value_name = "NOMBRE")]
        operador: Option<String>,
    },
    /// Descarta un mensaje en cuarentena: deja de listarse (salvo con --descartados) y sus bytes
    /// se conservan hasta la purga.
    Discard {
        /// Identificador del mensaje (columna "id" de `quarantine list`).
        id: i64,
        /// Por qué se descarta (obligatorio; queda en el registro).
        #[arg(long, value_name = "TEXTO")]
        motivo: Option<String>,
        /// Quién lo hace, para el registro (por defecto, el usuario del sistema).
        #[arg(long, value_name = "NOMBRE")]
        operador: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Lista los correos de la cola, con su estado.
    List {
        /// pendiente, enviado, fallo_temporal, fallo_permanente o rebotado.
        #[arg(long)]
        estado: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Muestra un correo de la cola: destinatario, encabezados de hilo, intentos y último error.
    Show {
        id: i64,
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
    /// Vuelve a poner en cola un correo fallido (se envía en el próximo ciclo).
    Retry { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Lista los errores conocidos cargados.
    List {
        /// Salida en JSON: cada error conocido con los campos de la base.
        #[arg(long)]
        json: bool,
    },
    /// Aprueba el error conocido que propuso un problema solucionado: entra a la base, responde
    /// en primer contacto los casos nuevos con esas reglas y aparece en `kb export`.
    Aprobar {
        /// Número del caso problema, por ejemplo FE-2026-000001, o solo 1 para uno de este año.
        numero: String,
        /// Correo de quien aprueba (coordinador o agente configurado).
        #[arg(long)]
        agente: String,
    },
    /// Escribe la guía de primer contacto del Contact Center (CT-CAC-0127): los errores
    /// conocidos con respuesta de primer contacto y las soluciones que los agentes marcaron
    /// como primer contacto.
    Export {
        /// md (Markdown, para leer), csv (para una hoja de cálculo) o json.
        #[arg(long, default_value = "md")]
        formato: String,
        /// Archivo donde se escribe la guía (por defecto, la salida estándar).
        #[arg(long, value_name = "ARCHIVO")]
        salida: Option<PathBuf>,
    },
}

fn load_config(path: Option<&Path>) -> Result<Config, Failure> {
    Ok(Config::load(path)?)
}

fn load_knowledge(config: &Config) -> Result<KnowledgeBase, Failure> {
    if config.general.knowledge_base.is_empty() {
        return Ok(KnowledgeBase::builtin());
    }
    KnowledgeBase::load(Path::new(&config.general.knowledge_base))
        .map_err(|e| Failure::new(EX_CONFIG, e.to_string()))
}

/// The key that signs our Message-IDs: configured, or generated once into the state directory.
fn load_message_ids(config: &Config) -> Result<MessageIds, Failure> {
    match &config.general.message_key {
        Some(source) => {
            let secret = mesa_fe::secrets::load(source)
                .map_err(|e| Failure::new(EX_CONFIG, e.to_string()))?;
            Ok(MessageIds::new(secret.expose().as_bytes().to_vec()))
        }
        None => MessageIds::from_state_dir(&config.state_dir(), legacy_key_window(config))
            .map_err(|e| Failure::new(EX_IOERR, e.to_string())),
    }
}

/// How long a replaced key still recognises replies to the mail it signed: the control window
/// (business days, counted twice as calendar days for weekends and holidays) plus two weeks for
/// late replies.
fn legacy_key_window(config: &Config) -> std::time::Duration {
    let days = (config.control_posterior.business_days.max(0.0) * 2.0).ceil() as u64 + 14;
    std::time::Duration::from_secs(days * 24 * 3600)
}

/// The existing database, for commands that read or act on it: a state directory that is not
/// there means no service ever started, said as such rather than as sqlite's "unable to open"
/// or a "Permission denied" from trying to create it.
async fn open_store(config: &Config) -> Result<Store, Failure> {
    if config.general.database_url.is_empty() {
        let dir = config.state_dir();
        if !dir.exists() {
            return Err(Failure::new(EX_NOINPUT, missing_state_dir(&dir)));
        }
    }
    create_store(config).await
}

fn missing_state_dir(dir: &Path) -> String {
    format!(
        "el directorio de estado {} no existe, así que todavía no hay base de datos. Si el \
         paquete está instalado, créelo con `sudo systemd-tmpfiles --create mesa-fe.conf` o \
         arranque el servicio una vez (`sudo systemctl start mesa-fe`); si no, revise \
         general.directorio_estado en la configuración (--config)",
        dir.display()
    )
}

/// The database, created with its directory if missing: for `run`, `migrate` and `ingest`.
async fn create_store(config: &Config) -> Result<Store, Failure> {
    let password = match &config.general.database_password {
        Some(source) => Some(
            mesa_fe::secrets::load(source)
                .map_err(|e| Failure::new(EX_CONFIG, format!("general.base_datos_clave: {e}")))?,
        ),
        None => None,
    };
    Ok(Store::open_with_password(&config.database_url(), password.as_ref().map(|p| p.expose()))
        .await?)
}

fn pick_buzon(config: &Config, name: Option<&str>) -> Result<Buzon, Failure> {
    match name {
        Some(name) => config.buzon(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = config.buzones.iter().map(|b| b.name.as_str()).collect();
            Failure::new(
                EX_DATAERR,
                format!(
                    "el buzón \"{name}\" no está configurado; los buzones son: {}",
                    known.join(", ")
                ),
            )
        }),
        None => config
            .buzones
            .first()
            .cloned()
            .ok_or_else(|| Failure::new(EX_CONFIG, "no hay buzones configurados")),
    }
}

/// The case an operator names: a full number (`fe-2026-000004`, any case), or the bare
/// sequence (`4`) for a case of this year with the configured prefix, the way the desk speaks
/// of its cases.
fn case_number(config: &Config, numero: &str) -> String {
    let year = chrono::Datelike::year(&config.zone().local(chrono::Utc::now()));
    expand_case_number(&config.general.case_prefix, year, numero)
}

fn expand_case_number(prefix: &str, year: i32, numero: &str) -> String {
    let numero = numero.trim();
    let bare = numero.bytes().all(|b| b.is_ascii_digit());
    match numero.parse::<u64>() {
        Ok(sequence) if bare => format!("{prefix}-{year}-{sequence:06}"),
        _ => numero.to_uppercase(),
    }
}

/// `--formato` checked against what the command writes; lower-cased.
fn output_format(formato: &str, known: &[&str]) -> Result<String, Failure> {
    let format = formato.trim().to_ascii_lowercase();
    if known.contains(&format.as_str()) {
        Ok(format)
    } else {
        Err(Failure::new(
            EX_DATAERR,
            format!("formato desconocido: \"{formato}\"; use uno de {}", known.join(", ")),
        ))
    }
}

/// Writes a command's document to `--salida` (returns `true`) or to standard output.
fn write_output(salida: Option<&Path>, text: &str) -> Result<bool, Failure> {
    match salida {
        Some(path) => {
            std::fs::write(path, text.as_bytes()).map_err(|e| {
                Failure::new(EX_IOERR, format!("no se pudo escribir {}: {e}", path.display()))
            })?;
            Ok(true)
        }
        None => {
            crate::output::document(text);
            Ok(false)
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new(EX_NOINPUT, format!("no se pudo leer {}: {e}", path.display())))
}

/// The daemon, until SIGTERM or SIGINT.
pub async fn run(path: Option<&Path>) -> Result<ExitCode, Failure> {
    let preflight::Checked { config, knowledge, .. } =
        preflight::preflight(path, preflight::Mode::Run)?;
    let store = create_store(&config).await?;
    store.sync_known_errors(&knowledge).await?;
    let ids = load_message_ids(&config)?;
    let desk = Desk::new(config, knowledge)
        .with_message_ids(ids)
        .with_imported_providers(store.providers().await?);
    let setup =
        mesa_fe::live::Setup::new(desk).map_err(|e| Failure::new(EX_CONFIG, e.to_string()))?;
    let path = path.map(Path::to_path_buf);
    let reload: mesa_fe::daemon::Reloader = Box::new(move || {
        let config = load_config(path.as_deref()).map_err(|f| f.to_string())?;
        let knowledge = load_knowledge(&config).map_err(|f| f.to_string())?;
        let ids = load_message_ids(&config).map_err(|f| f.to_string())?;
        Ok(Desk::new(config, knowledge).with_message_ids(ids))
    });
    let result = mesa_fe::daemon::run(setup, store.clone(), stop_signal(), reload).await;
    store.close().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(mesa_fe::daemon::DaemonError::Store(e)) => Err(e.into()),
        Err(other @ mesa_fe::daemon::DaemonError::Smtp { .. }) => {
            Err(Failure::new(EX_CONFIG, other.to_string()))
        }
        Err(other) => Err(Failure::new(EX_CONFIG, other.to_string())),
    }
}

/// Completes on SIGTERM (systemd) or SIGINT (Ctrl+C).
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "no se pudo escuchar SIGTERM; solo Ctrl+C detiene el servicio");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The checks `run` makes at start ([`preflight`]), without connecting or opening the database.
pub fn check_config(path: Option<&Path>) -> Result<ExitCode, Failure> {
    let preflight::Checked { config, knowledge, notices } =
        preflight::preflight(path, preflight::Mode::Check)?;
    for notice in &notices {
        eprintln!("Aviso: {notice}.");
    }
    say!(
        "Configuración válida: {} buzones, {} temas, {} grupos, {} agentes; {} errores conocidos; base de datos {}.",
        config.buzones.len(),
        config.temas.len(),
        config.grupos.len(),
        config.agentes.len(),
        knowledge.len(),
        mesa_fe::store::redact_url(&config.database_url())
    );
    Ok(ExitCode::SUCCESS)
}

/// `migrate` without options: the configured database, created if missing, at this version's
/// schema. With `--desde` and `--hacia`: [`copy::run`].
pub async fn migrate_configured(path: Option<&Path>) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let store = create_store(&config).await?;
    store.close().await;
    say!("Base de datos al día: {}", mesa_fe::store::redact_url(&config.database_url()));
    Ok(ExitCode::SUCCESS)
}

pub fn inspect(
    path: Option<&Path>,
    buzon: Option<&str>,
    file: &Path,
    json: bool,
) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let buzon = pick_buzon(&config, buzon)?;
    let desk = Desk::new(config.clone(), load_knowledge(&config)?);
    let raw = read_file(file)?;
    let analysis = desk.analyze(&raw, &buzon);
    if json {
        let text = serde_json::to_string_pretty(&analysis.to_json())
            .map_err(|e| Failure::new(EX_SOFTWARE, format!("no se pudo escribir el JSON: {e}")))?;
        say!("{text}");
    } else {
        show::analysis(&analysis);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn ingest(
    path: Option<&Path>,
    buzon: Option<&str>,
    files: &[PathBuf],
) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let buzon = pick_buzon(&config, buzon)?;
    let ids = load_message_ids(&config)?;
    let store = create_store(&config).await?;
    let desk = Desk::new(config.clone(), load_knowledge(&config)?)
        .with_message_ids(ids)
        .with_imported_providers(store.providers().await?);
    let desk = std::sync::Arc::new(desk);
    store.sync_known_errors(&desk.knowledge).await?;
    let origin = Origin::local(buzon.name.clone());
    for outcome in desk.process_pending(&store).await? {
        say!("pendiente de una ejecución anterior: {}", show::outcome(&outcome));
    }
    let mut failed = 0;
    // Files are read and stored a batch at a time: one commit per batch, memory bounded.
    for chunk in files.chunks(INGEST_BATCH) {
        let mut read = Vec::with_capacity(chunk.len());
        for file in chunk {
            match read_file(file) {
                Ok(raw) => read.push((file, raw)),
                Err(failure) => {
                    eprintln!("{failure}");
                    failed += 1;
                }
            }
        }
        let raws: Vec<&[u8]> = read.iter().map(|(_, raw)| raw.as_slice()).collect();
        let outcomes = desk.ingest_batch(&store, &origin, &raws).await?;
        for ((file, _), outcome) in read.iter().zip(&outcomes) {
            say!("{}: {}", file.display(), show::outcome(outcome));
        }
    }
    store.close().await;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EX_NOINPUT) })
}

fn parse_filter<T>(
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, Failure> {
    value
        .map(|v| {
            parse(v).ok_or_else(|| Failure::new(EX_DATAERR, format!("{what} desconocido: \"{v}\"")))
        })
        .transpose()
}

/// `--nit`: the digits as documents keep them, without dots or verification digit.
fn nit_filter(written: &str) -> Result<String, Failure> {
    match mesa_fe::dian::nit::normalize_nit(written) {
        Some((digits, _)) => Ok(digits),
        None => Err(Failure::new(
            EX_DATAERR,
            format!(
                "NIT no válido \"{written}\": escriba solo los dígitos, por ejemplo 900123456-7"
            ),
        )),
    }
}

pub async fn case(path: Option<&Path>, command: CaseCommand) -> Result<ExitCode, Failure> {
    if let CaseCommand::Act(action) = command {
        return act::act(path, action).await;
    }
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    match command {
        CaseCommand::List { esperando: true, json, .. } => {
            let now = chrono::Utc::now();
            let cases = mesa_fe::pipeline::waiting::waiting_cases(&config, &store, now).await?;
            if json { show::json(&cases)? } else { show::waiting_list(&cases) }
        }
        CaseCommand::List {
            nivel,
            estado,
            tema,
            padre,
            vencidos,
            tipo,
            canal,
            cufe,
            nit,
            correo,
            referencia,
            json,
            ..
        } => {
            let filter = CaseFilter {
                level: parse_filter(nivel.as_deref(), Level::parse, "nivel")?,
                status: parse_filter(estado.as_deref(), Status::parse, "estado")?,
                tema: parse_filter(tema.as_deref(), Tema::parse, "tema")?,
                parent: padre.map(|p| case_number(&config, &p)),
                overdue: vencidos,
                case_type: parse_filter(tipo.as_deref(), mesa_fe::desk::CaseType::read, "tipo")?,
                channel: parse_filter(canal.as_deref(), mesa_fe::desk::Channel::parse, "canal")?,
                cufe: cufe.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
                nit: nit.as_deref().map(nit_filter).transpose()?,
                requester: correo.map(|c| c.trim().trim_matches(['<', '>']).to_lowercase()),
                external_ref: referencia.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
            };
            let cases = store.list_cases(&filter).await?;
            if json { show::json(&cases)? } else { show::case_list(&cases, &config.zone()) }
        }
        CaseCommand::Show { numero, json } => {
            let numero = case_number(&config, &numero);
            let Some(detail) = store.case_detail(&numero).await? else {
                return Err(Failure::new(EX_DATAERR, format!("no existe el caso {numero}")));
            };
            if json { show::json(&detail)? } else { show::case_detail(&detail, &config.zone()) }
        }
        CaseCommand::Act(_) => {}
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn quarantine(
    path: Option<&Path>,
    command: QuarantineCommand,
) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    if let QuarantineCommand::Reprocess { id, operador, .. } = command {
        return quarantine::reprocess(config, id, operador).await;
    }
    let store = open_store(&config).await?;
    match command {
        QuarantineCommand::List { descartados: true, json, .. } => {
            let entries = store.discarded_messages().await?;
            if json {
                show::json(&entries)?
            } else {
                show::quarantine_list(&entries, &config.zone())
            }
        }
        QuarantineCommand::List { ignorados, json, .. } => {
            let entries = store.held_messages(ignorados).await?;
            if json {
                show::json(&entries)?
            } else {
                show::quarantine_list(&entries, &config.zone())
            }
        }
        QuarantineCommand::Discard { id, motivo, operador } => {
            quarantine::discard(&store, id, motivo.as_deref(), operador).await?;
        }
        QuarantineCommand::Reprocess { .. } => {}
        QuarantineCommand::Show { id, json } => match store.quarantine_entry(id).await? {
            Some((entry, raw)) => {
                let actions = store.raw_actions(id).await?;
                let shown = show::QuarantineJson::new(&entry, &raw, actions);
                if json {
                    show::json(&shown)?
                } else {
                    show::quarantine_entry(&shown, &raw, &config.zone())
                }
            }
            None => {
                return Err(Failure::new(
                    EX_DATAERR,
                    format!("no hay un mensaje en cuarentena con id {id}"),
                ));
            }
        },
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn outbox(path: Option<&Path>, command: OutboxCommand) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    match command {
        OutboxCommand::List { estado, json } => {
            let wanted = estado
                .as_deref()
                .map(OutboxStatus::read)
                .transpose()
                .map_err(|e| Failure::new(EX_DATAERR, e.to_string()))?;
            let items = store.list_outbox(wanted).await?;
            if json {
                let rows: Vec<serde_json::Value> = items
                    .iter()
                    .map(|row| match row {
                        Ok(item) => serde_json::to_value(item),
                        Err(unreadable) => serde_json::to_value(unreadable),
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| Failure::new(EX_SOFTWARE, e.to_string()))?;
                show::json(&rows)?
            } else {
                show::outbox_list(&items)
            }
        }
        OutboxCommand::Show { id, json } => match store.outbox_item(id).await? {
            Some(Ok(item)) if json => show::json(&item)?,
            Some(Ok(item)) => show::outbox_item(&item, &config.zone()),
            Some(Err(unreadable)) => {
                return Err(Failure::new(
                    EX_DATAERR,
                    format!(
                        "el correo {id} no se puede leer con esta versión: {}",
                        unreadable.error
                    ),
                ));
            }
            None => {
                return Err(Failure::new(
                    EX_DATAERR,
                    format!("no hay un correo con id {id} en la cola"),
                ));
            }
        },
        OutboxCommand::Retry { id } => {
            if store.retry_outbox(id).await? {
                say!(
                    "El correo {id} vuelve a la cola; el servicio lo enviará en su próximo ciclo."
                );
            } else {
                return Err(Failure::new(
                    EX_DATAERR,
                    format!(
                        "el correo {id} no existe, ya fue enviado o es de un caso cuyos datos se \
                         eliminaron por retención (mesa-fe purge)"
                    ),
                ));
            }
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn kb(path: Option<&Path>, command: KbCommand) -> Result<ExitCode, Failure> {
    if let KbCommand::Export { formato, salida } = command {
        return kb::export(path, &formato, salida.as_deref()).await;
    }
    if let KbCommand::Aprobar { numero, agente } = command {
        let action = mesa_fe::desk::command::Action {
            command: mesa_fe::desk::command::Command::AprobarErrorConocido,
            text: String::new(),
        };
        return act::perform(path, &numero, &agente, &action).await;
    }
    let config = load_config(path)?;
    let knowledge = load_knowledge(&config)?;
    match command {
        KbCommand::List { json: true } => show::json(&knowledge.entries())?,
        KbCommand::List { json: false } => show::knowledge(&knowledge),
        KbCommand::Export { .. } | KbCommand::Aprobar { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::expand_case_number;

    #[test]
    fn a_bare_sequence_is_a_case_of_this_year() {
        assert_eq!(expand_case_number("FE", 2027, "4"), "FE-2027-000004");
        assert_eq!(expand_case_number("MESA", 2027, " 000012 "), "MESA-2027-000012");
        assert_eq!(expand_case_number("FE", 2027, "fe-2026-000004"), "FE-2026-000004");
        assert_eq!(expand_case_number("FE", 2027, "-4"), "-4");
        assert_eq!(expand_case_number("FE", 2027, ""), "");
    }
}
