//! Typed configuration: one TOML file over the built-in defaults, then `MESA_FE__SECCION__CLAVE`
//! environment overrides.
//!
//! The built-in defaults ARE `config/mesa-fe.example.toml` (embedded at build time), so the
//! example always documents what the program does without a file. A user file is laid over it:
//! keys it does not write keep their default; lists (`[[buzones]]`, `[[temas]]`, `[[grupos]]`,
//! `[[agentes]]`) are replaced whole when written. Keys and messages are Spanish because operators
//! edit and read them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::desk::{Channel, Level, Requirement, Tema};
use crate::dian::XmlLimits;
use crate::mail::AttachmentLimits;

/// The example configuration, which is also the built-in default.
pub const EXAMPLE_TOML: &str = include_str!("../config/mesa-fe.example.toml");

/// Prefix of the environment overrides: `MESA_FE__LIMITES__ZIP_MAX_ENTRADAS=100`.
pub const ENV_PREFIX: &str = "MESA_FE";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub general: General,
    pub buzones: Vec<Buzon>,
    pub canales: ChannelPatterns,
    pub temas: Vec<TemaConfig>,
    pub grupos: Vec<Group>,
    pub enrutamiento: Routing,
    pub agentes: Vec<Agent>,
    /// Technology providers declared in the file (`[[proveedores]]`); the registry is these plus
    /// the CSV imported with `mesa-fe proveedores importar`.
    #[serde(default)]
    pub proveedores: Vec<crate::desk::providers::Provider>,
    pub control_posterior: FollowUp,
    /// Cases waiting for the requester's information: reminder and closure.
    #[serde(default)]
    pub espera_solicitante: WaitingForRequester,
    pub masiva: MassIncidents,
    pub notificaciones: Notifications,
    pub privacidad: Privacy,
    pub horario: WorkingHours,
    pub sla: SlaSettings,
    pub http: HttpSettings,
    /// The web console of agents and coordinators (`/consola` on `http.direccion`).
    #[serde(default)]
    pub consola: ConsoleSettings,
    pub limites: Limits,
    pub autenticacion: Authentication,
}

/// Who vouches that mail from an agent's address is the agent's: the buzones' own MTA, by the
/// `Authentication-Results` it adds (RFC 8601).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    /// authserv-ids of the MTAs that receive the buzones' mail: only their results count.
    #[serde(rename = "servidores")]
    pub servers: Vec<String>,
    /// `false` only on a test stack without SPF/DKIM/DMARC checks: agents' commands by mail then
    /// run without a trusted result (logged as a warning at start).
    #[serde(rename = "exigir")]
    pub required: bool,
}

/// The operators' HTTP endpoint: health, readiness, metrics and the read-only case API.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// `host:puerto`; empty = no HTTP server.
    #[serde(rename = "direccion")]
    pub address: String,
    /// Bearer token of `/api/casos`; absent = the API is off.
    #[serde(rename = "token_api", default)]
    pub api_token: Option<SecretRef>,
}

/// The web console, served by the daemon under `/consola` on `http.direccion`. People sign in
/// with a single-use link mailed to their address (agents, coordinators, Administración Técnica).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// `false`: no console (the HTTP server keeps health, metrics and the API).
    #[serde(rename = "activa")]
    pub enabled: bool,
    /// The address people open, as they reach it: behind a TLS proxy `https://mesa.example`.
    /// The sign-in links point to it. Empty = `http://` + `http.direccion` (loopback only).
    #[serde(rename = "url_publica")]
    pub public_url: String,
    /// How long a session lasts without signing in again.
    #[serde(rename = "sesion_horas")]
    pub session_hours: u32,
    /// How long a sign-in link stays valid (it also dies on first use).
    #[serde(rename = "enlace_minutos")]
    pub link_minutes: u32,
    /// Sign-in links one address may ask for per hour (more get the same page and no mail).
    #[serde(rename = "enlaces_por_hora")]
    pub links_per_hour: u32,
    /// Buzón whose SMTP sends the sign-in links; empty = the first buzón with `[buzones.smtp]`.
    #[serde(rename = "buzon")]
    pub buzon: String,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            enabled: true,
            public_url: String::new(),
            session_hours: 12,
            link_minutes: 15,
            links_per_hour: 5,
            buzon: String::new(),
        }
    }
}

impl ConsoleSettings {
    /// The console's base URL, without a trailing slash.
    pub fn base_url(&self, http_address: &str) -> String {
        if self.public_url.is_empty() {
            format!("http://{http_address}")
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
}

/// When the desk works: business days for control posterior, business hours for SLA targets.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// Working weekdays, Spanish names ("lunes" … "domingo").
    #[serde(rename = "dias")]
    pub weekdays: Vec<String>,
    /// "08:00".
    #[serde(rename = "hora_inicio")]
    pub opens: String,
    /// "17:00"; "24:00" = until midnight.
    #[serde(rename = "hora_fin")]
    pub closes: String,
    /// Colombia's national holidays, computed for any year
    /// ([`crate::desk::calendar::colombia_holidays`]); false = only the listed ones.
    #[serde(rename = "festivos_nacionales", default = "default_true")]
    pub national_holidays: bool,
    /// More holidays, "AAAA-MM-DD" (the key of configurations written before the holidays
    /// were computed; still added).
    #[serde(rename = "festivos", default)]
    pub holidays: Vec<String>,
    /// More holidays, "AAAA-MM-DD".
    #[serde(rename = "festivos_adicionales", default)]
    pub additional_holidays: Vec<String>,
    /// Days worked although computed or listed as holidays, "AAAA-MM-DD".
    #[serde(rename = "no_festivos", default)]
    pub not_holidays: Vec<String>,
}

/// Service-level targets per level, in business hours.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSettings {
    /// How often the daemon looks for targets that passed.
    #[serde(rename = "revision_segundos")]
    pub sweep_seconds: u64,
    pub n2: SlaTarget,
    pub n3: SlaTarget,
    pub administracion_tecnica: SlaTarget,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaTarget {
    /// From reaching the level to the first action of an agent there.
    #[serde(rename = "primera_respuesta_horas")]
    pub first_response_hours: f64,
    /// From reaching the level to the solution (or the hand-over to the next level).
    #[serde(rename = "solucion_horas")]
    pub resolution_hours: f64,
}

/// Mail to agents.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// More notifications than this for one agent within a minute go as one digest (at most
    /// one digest per agent and minute). 0 = never a digest.
    #[serde(rename = "resumen_desde")]
    pub digest_from: u32,
}

/// Personal data: how long bodies and attachments of closed cases are kept.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// Days after a case is closed before `mesa-fe purge` removes its bodies and attachments.
    #[serde(rename = "retencion_dias")]
    pub retention_days: u32,
}

/// Activity 12: how long the requester has to say the solution did not work.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// Business days (Monday to Friday) after the solution; fractions allowed.
    #[serde(rename = "dias_habiles")]
    pub business_days: f64,
    /// How often the daemon closes the cases whose window passed.
    #[serde(rename = "revision_segundos")]
    pub sweep_seconds: u64,
}

/// Cases waiting for the requester (`pendiente_informacion`): counted in business days (see
/// `[horario]`) from the desk's latest request to the requester.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaitingForRequester {
    /// Business days without an answer before one reminder to the requester.
    #[serde(rename = "recordatorio_dias_habiles")]
    pub reminder_days: u32,
    /// Business days without an answer before the case closes (requester and holder told).
    #[serde(rename = "cierre_sin_respuesta_dias_habiles")]
    pub closure_days: u32,
    /// How often the daemon looks for cases due for a reminder or a closure.
    #[serde(rename = "revision_segundos")]
    pub sweep_seconds: u64,
}

impl Default for WaitingForRequester {
    fn default() -> Self {
        WaitingForRequester { reminder_days: 3, closure_days: 10, sweep_seconds: 300 }
    }
}

impl WaitingForRequester {
    pub fn deadlines(&self) -> crate::desk::waiting::Deadlines {
        crate::desk::waiting::Deadlines {
            reminder_days: self.reminder_days,
            closure_days: self.closure_days,
        }
    }
}

/// Afectación masiva: suggestions to coordinators and the validation sample.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MassIncidents {
    /// Cases with the same DIAN rule code within the window that make a suggestion.
    #[serde(rename = "casos_para_sugerir")]
    pub cases_to_suggest: u32,
    #[serde(rename = "ventana_minutos")]
    pub window_minutes: u32,
    /// Children of a solved parent that get the "¿se resolvió?" message.
    #[serde(rename = "muestra_validacion")]
    pub validation_sample: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// Where the SQLite database and other state live.
    #[serde(rename = "directorio_estado", deserialize_with = "path_text")]
    pub state_dir: PathBuf,
    /// Database URL: `sqlite://PATH`, or `postgres://USER@HOST:PORT/DB` for two or more nodes
    /// sharing one state; empty = SQLite file under `state_dir`.
    #[serde(rename = "base_datos")]
    pub database_url: String,
    /// The PostgreSQL password, from a file, a variable or a systemd credential (never in the
    /// URL of a file others can read); absent = the URL's own, or none.
    #[serde(rename = "base_datos_clave", default)]
    pub database_password: Option<SecretRef>,
    /// This node's name in leases and `/readyz` when nodes share PostgreSQL; empty = the host name.
    #[serde(rename = "nodo", default)]
    pub node: String,
    /// Known-error base file; empty = the base built into the program.
    #[serde(rename = "base_conocimiento")]
    pub knowledge_base: String,
    /// Case numbers read `{case_prefix}-YYYY-NNNNNN`.
    #[serde(rename = "prefijo_caso")]
    pub case_prefix: String,
    /// The desk's time zone (tz database name, "America/Bogota"): the year of a case number,
    /// business hours and every time shown to people.
    #[serde(rename = "zona_horaria", default = "default_zone")]
    pub zone: String,
    /// Fixed offset from UTC in hours, from configurations written before `zona_horaria`;
    /// when given it wins. Use [`Config::zone`], not this.
    #[serde(rename = "zona_horaria_horas", default)]
    pub utc_offset_hours: Option<i32>,
    /// Domain of the Message-IDs we write; empty = the domain of each buzón's address.
    #[serde(rename = "dominio_mensajes", default)]
    pub message_domain: String,
    /// Key that signs our Message-IDs (HMAC); absent = generated once into the state directory.
    #[serde(rename = "firma_mensajes", default)]
    pub message_key: Option<SecretRef>,
    /// Folder of the e-mail templates; empty = the templates built into the program.
    #[serde(rename = "plantillas", default)]
    pub templates: String,
    /// Most automatic answers one sender gets per hour (mail-loop brake).
    #[serde(rename = "respuestas_automaticas_por_hora", default = "default_replies_per_hour")]
    pub auto_replies_per_hour: u32,
    /// How long a transient SMTP failure is retried before the row is marked failed.
    #[serde(rename = "reintentos_horas", default = "default_retry_hours")]
    pub retry_hours: u64,
    /// Most cases one address opens per hour; past it, its mail joins its latest case and the
    /// group's coordinator is told once. 0 = no cap.
    #[serde(rename = "casos_por_remitente_hora", default = "default_cases_per_sender")]
    pub cases_per_sender_hour: u32,
    /// The same cap for registered technology providers, who legitimately send many requests
    /// (one per client). 0 = no cap.
    #[serde(rename = "casos_por_proveedor_hora", default = "default_cases_per_provider")]
    pub cases_per_provider_hour: u32,
}

fn default_cases_per_sender() -> u32 {
    10
}

fn default_cases_per_provider() -> u32 {
    60
}

/// The dates of a list that read as "AAAA-MM-DD" (validated by [`Config::validate`]).
fn dates<'a>(
    texts: impl IntoIterator<Item = &'a String>,
) -> std::collections::HashSet<chrono::NaiveDate> {
    texts.into_iter().filter_map(|d| d.parse().ok()).collect()
}

fn default_zone() -> String {
    "America/Bogota".to_string()
}

fn default_replies_per_hour() -> u32 {
    10
}

fn default_retry_hours() -> u64 {
    48
}

/// One support mailbox.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Buzon {
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "direccion")]
    pub address: String,
    #[serde(rename = "canal")]
    pub channel: Channel,
    /// Only registered technology providers may write here (the aliados buzón); anyone else
    /// gets the redirect answer and no case.
    #[serde(rename = "solo_proveedores", default)]
    pub providers_only: bool,
    /// How the daemon reads this buzón; absent = only `mesa-fe ingest` feeds it.
    #[serde(default)]
    pub imap: Option<ImapSettings>,
    /// How answers leave from this buzón; absent = its outbox rows wait (visible in
    /// `mesa-fe outbox list`).
    #[serde(default)]
    pub smtp: Option<SmtpSettings>,
}

/// SMTP submission of one buzón: answers leave from the buzón the case came in on.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    #[serde(rename = "servidor")]
    pub host: String,
    #[serde(rename = "puerto")]
    pub port: u16,
    /// `implicito` (465), `starttls` (587) or `ninguno` (loopback tests only).
    pub tls: TlsMode,
    #[serde(rename = "ca", default, deserialize_with = "optional_path_text")]
    pub ca_file: Option<PathBuf>,
    /// Login; absent = no AUTH (a relay that trusts the sender's address, like loopback).
    #[serde(rename = "usuario", default)]
    pub user: Option<String>,
    #[serde(rename = "autenticacion", default = "default_auth")]
    pub auth: AuthMethod,
    #[serde(rename = "contrasena", default)]
    pub password: Option<SecretRef>,
    #[serde(default)]
    pub oauth2: Option<OAuth2Settings>,
    /// Display name of the From header.
    #[serde(rename = "nombre_remitente", default = "default_sender_name")]
    pub sender_name: String,
    /// Mails of this buzón sent at once, each on its own connection, and the most connections
    /// kept open between mails (1 to [`SMTP_CONNECTIONS_MAX`]).
    #[serde(rename = "conexiones_smtp", default = "default_smtp_connections")]
    pub connections: usize,
}

/// Most `conexiones_smtp` per buzón: more connections from one client make a submission server
/// refuse or throttle (Postfix's `smtpd_client_connection_count_limit` is 50) rather than send
/// faster.
pub const SMTP_CONNECTIONS_MAX: usize = 32;

fn default_smtp_connections() -> usize {
    4
}

fn default_auth() -> AuthMethod {
    AuthMethod::Contrasena
}

fn default_sender_name() -> String {
    "Mesa de Servicio Facturación Electrónica".into()
}

crate::names::named_enum! {
    /// How the connection is protected.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TlsMode {
        /// TLS from the first byte (IMAPS, port 993).
        Implicito = "implicito",
        /// Plain connection upgraded with STARTTLS before login (port 143).
        Starttls = "starttls",
        /// No TLS at all: only for loopback test servers.
        Ninguno = "ninguno",
    }
}

crate::names::named_enum! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum AuthMethod {
        /// LOGIN with a password.
        Contrasena = "contrasena",
        /// SASL XOAUTH2 with a token from the OAuth2 client-credentials grant.
        Xoauth2 = "xoauth2",
    }
}

crate::names::named_enum! {
    /// What the daemon does on the server once a message is safely stored.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum AfterProcessing {
        /// Move it to `carpeta_procesados` (MOVE, or COPY + \Deleted + UID EXPUNGE).
        Mover = "mover",
        /// Leave it in place, flagged \Seen.
        MarcarLeido = "marcar_leido",
    }
}

/// Where a secret comes from: exactly one of a file, an environment variable or a systemd
/// credential (`$CREDENTIALS_DIRECTORY/<name>`). Never the secret itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(rename = "archivo", default, deserialize_with = "optional_path_text")]
    pub file: Option<PathBuf>,
    #[serde(rename = "variable", default)]
    pub env: Option<String>,
    #[serde(rename = "credencial", default)]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    #[serde(rename = "servidor")]
    pub host: String,
    #[serde(rename = "puerto")]
    pub port: u16,
    pub tls: TlsMode,
    /// PEM file with extra trusted CA certificates; empty = the bundled public roots only.
    #[serde(rename = "ca", default, deserialize_with = "optional_path_text")]
    pub ca_file: Option<PathBuf>,
    #[serde(rename = "usuario")]
    pub user: String,
    #[serde(rename = "autenticacion")]
    pub auth: AuthMethod,
    #[serde(rename = "contrasena", default)]
    pub password: Option<SecretRef>,
    #[serde(default)]
    pub oauth2: Option<OAuth2Settings>,
    #[serde(rename = "carpeta", default = "default_folder")]
    pub folder: String,
    #[serde(rename = "carpeta_procesados", default = "default_processed_folder")]
    pub processed_folder: String,
    #[serde(rename = "al_procesar", default = "default_after")]
    pub after_processing: AfterProcessing,
    /// Messages fetched and stored per transaction.
    #[serde(rename = "lote", default = "default_batch")]
    pub batch: u32,
    /// Poll interval when the server has no IDLE, and the safety net when it has.
    #[serde(rename = "intervalo_sondeo_segundos", default = "default_poll_seconds")]
    pub poll_seconds: u64,
    #[serde(default = "default_true")]
    pub idle: bool,
    /// IDLE is re-issued after this long (RFC 2177 asks for less than 29 minutes).
    #[serde(rename = "idle_renovar_minutos", default = "default_idle_minutes")]
    pub idle_renew_minutes: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Settings {
    /// Token endpoint of the client-credentials grant.
    #[serde(rename = "url_token")]
    pub token_url: String,
    pub client_id: String,
    #[serde(rename = "secreto")]
    pub client_secret: SecretRef,
    /// e.g. `https://outlook.office365.com/.default`.
    #[serde(rename = "alcance", default)]
    pub scope: String,
}

fn default_folder() -> String {
    "INBOX".into()
}

fn default_processed_folder() -> String {
    "Procesados".into()
}

fn default_after() -> AfterProcessing {
    AfterProcessing::Mover
}

fn default_batch() -> u32 {
    50
}

fn default_poll_seconds() -> u64 {
    60
}

fn default_true() -> bool {
    true
}

fn default_idle_minutes() -> u64 {
    25
}

/// Sender patterns (`*` = any text) that mark a message as coming from Aranda or PQSR.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatterns {
    pub aranda: Vec<String>,
    pub pqsr: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TemaConfig {
    #[serde(rename = "nombre")]
    pub tema: Tema,
    #[serde(rename = "grupo_n2")]
    pub n2_group: String,
    /// Explicit topic words: they decide the tema (step 1 of the classification).
    #[serde(rename = "palabras")]
    pub keywords: Vec<String>,
    /// Weak words: they decide only when nothing else did (step 3).
    #[serde(rename = "palabras_generales")]
    pub general_keywords: Vec<String>,
    #[serde(rename = "requisitos")]
    pub requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "nivel")]
    pub level: Level,
    #[serde(rename = "coordinador")]
    pub coordinator: String,
    /// For an N3 group: `funcional` (the filter `#escalar` from N2 reaches: `grupo_n3`) or
    /// `tecnico` (reached by `#escalar n3-tecnico` from the functional group). Absent = a single
    /// N3 group, as before: there is no technical hop.
    #[serde(rename = "tipo", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupKind>,
}

crate::names::named_enum! {
    /// The role of an N3 group in activity 7: the functional filter first, then the technical.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum GroupKind {
        Funcional = "funcional",
        Tecnico = "tecnico",
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Group that receives security-event reports (categories a–h).
    #[serde(rename = "grupo_seguridad")]
    pub security_group: String,
    #[serde(rename = "grupo_n3")]
    pub n3_group: String,
    /// Group whose coordinator hears at N1 about solutions (empty = nobody at N1).
    #[serde(rename = "grupo_n1", default)]
    pub n1_group: String,
    /// Address of Administración Técnica (CSAT): receives the escalation packages.
    #[serde(rename = "administracion_tecnica")]
    pub csat_address: String,
    /// How CSAT's own ticket numbers start in their subjects ("CSAT-12345"); empty = not read.
    #[serde(rename = "prefijo_ticket_administracion_tecnica", default)]
    pub csat_ticket_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    #[serde(rename = "correo")]
    pub address: String,
    #[serde(rename = "nombre")]
    pub name: String,
    #[serde(rename = "nivel")]
    pub level: Level,
    #[serde(rename = "grupos")]
    pub groups: Vec<String>,
    /// `false` while the agent is absent: no new cases.
    #[serde(rename = "activo")]
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(rename = "mensaje_max_bytes")]
    pub message_max_bytes: u64,
    #[serde(rename = "zip_max_entradas")]
    pub zip_max_entries: u64,
    #[serde(rename = "zip_max_bytes_descomprimidos")]
    pub zip_max_uncompressed_bytes: u64,
    #[serde(rename = "zip_max_razon")]
    pub zip_max_ratio: u64,
    #[serde(rename = "zip_max_anidamiento")]
    pub zip_max_depth: u64,
    #[serde(rename = "xml_max_bytes")]
    pub xml_max_bytes: u64,
    /// Seconds one message's analysis (MIME, ZIP, XML) may take before it is quarantined.
    #[serde(rename = "analisis_max_segundos")]
    pub analysis_max_seconds: f64,
}

impl Limits {
    pub fn attachments(&self) -> AttachmentLimits {
        AttachmentLimits {
            zip_max_entries: clamp_usize(self.zip_max_entries),
            zip_max_uncompressed_bytes: self.zip_max_uncompressed_bytes,
            zip_max_ratio: self.zip_max_ratio,
            zip_max_depth: clamp_usize(self.zip_max_depth),
        }
    }

    pub fn xml(&self) -> XmlLimits {
        XmlLimits { max_bytes: clamp_usize(self.xml_max_bytes), ..XmlLimits::default() }
    }

    pub fn analysis_budget(&self) -> std::time::Duration {
        std::time::Duration::try_from_secs_f64(self.analysis_max_seconds)
            .unwrap_or(std::time::Duration::from_secs(60))
    }
}

fn clamp_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A configuration that cannot be used. `Display` is Spanish and names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no se pudo leer la configuración de {origin}: {detail}")]
    Syntax { origin: String, detail: String },
    #[error("configuración inválida en la clave `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), problem: problem.into() }
}

impl Config {
    /// The built-in configuration (the example file), with environment overrides.
    pub fn builtin() -> Result<Config, ConfigError> {
        Config::load(None)
    }

    /// Example defaults, then `path` if given, then `MESA_FE__…` environment variables; validated.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(EXAMPLE_TOML, config::FileFormat::Toml));
        let origin = match path {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError::Syntax {
                        origin: path.display().to_string(),
                        detail: "el archivo no existe o no es un archivo regular; revise la ruta \
                                 de --config"
                            .into(),
                    });
                }
                builder = builder.add_source(
                    config::File::from(path).format(config::FileFormat::Toml).required(true),
                );
                path.display().to_string()
            }
            None => "config/mesa-fe.example.toml (incluida en el programa)".to_string(),
        };
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let syntax = |e: config::ConfigError| ConfigError::Syntax {
            origin: origin.clone(),
            detail: spanish_config_error(&e),
        };
        let config: Config = builder.build().map_err(syntax)?.try_deserialize().map_err(syntax)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: references between sections, duplicates, sane limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_general()?;
        self.validate_buzones()?;
        self.validate_groups_and_agents()?;
        self.validate_temas()?;
        self.validate_calendar()?;
        self.validate_providers()?;
        self.validate_limits()?;
        self.validate_authentication()
    }

    /// authserv-ids are single tokens (RFC 8601 §2.5): no spaces, no `;`.
    fn validate_authentication(&self) -> Result<(), ConfigError> {
        for (i, id) in self.autenticacion.servers.iter().enumerate() {
            if id.is_empty() || id.contains(|c: char| c.is_whitespace() || c == ';') {
                return Err(invalid(
                    format!("autenticacion.servidores[{i}]"),
                    "debe ser el authserv-id del servidor tal como lo escribe en \
                     Authentication-Results (por ejemplo \"mx.dian.gov.co\"), sin espacios ni ';'",
                ));
            }
        }
        Ok(())
    }

    fn validate_general(&self) -> Result<(), ConfigError> {
        let prefix = &self.general.case_prefix;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(invalid(
                "general.prefijo_caso",
                "debe ser una o más letras mayúsculas sin tildes, por ejemplo \"FE\"",
            ));
        }
        let url = &self.general.database_url;
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !url.is_empty() && !url.starts_with("sqlite:") && !postgres {
            return Err(invalid(
                "general.base_datos",
                format!(
                    "\"{}\" no es una base de datos que mesa-fe conozca: deje la clave vacía \
                     (SQLite en directorio_estado), o use sqlite://RUTA o \
                     postgres://USUARIO@SERVIDOR:PUERTO/BASE",
                    crate::store::redact_url(url)
                ),
            ));
        }
        if let Some(secret) = &self.general.database_password {
            if !postgres {
                return Err(invalid(
                    "general.base_datos_clave",
                    "solo se usa con general.base_datos = \"postgres://…\": SQLite no tiene clave",
                ));
            }
            validate_secret("general.base_datos_clave", secret)?;
        }
        if let Some(hours) = self.general.utc_offset_hours {
            if crate::desk::zone::Zone::fixed_hours(hours).is_none() {
                return Err(invalid("general.zona_horaria_horas", "debe estar entre -12 y 14"));
            }
        } else if crate::desk::zone::Zone::named(&self.general.zone).is_none() {
            return Err(invalid(
                "general.zona_horaria",
                format!(
                    "\"{}\" no es una zona horaria conocida: use un nombre como \"America/Bogota\"",
                    self.general.zone
                ),
            ));
        }
        Ok(())
    }

    fn validate_buzones(&self) -> Result<(), ConfigError> {
        if self.buzones.is_empty() {
            return Err(invalid("buzones", "configure al menos un buzón ([[buzones]])"));
        }
        let mut names = HashSet::new();
        for (i, buzon) in self.buzones.iter().enumerate() {
            if buzon.name.trim().is_empty() || buzon.name.contains(char::is_whitespace) {
                return Err(invalid(
                    format!("buzones[{i}].nombre"),
                    "no puede ser vacío ni tener espacios",
                ));
            }
            if !names.insert(buzon.name.as_str()) {
                return Err(invalid(
                    format!("buzones[{i}].nombre"),
                    format!("el buzón \"{}\" está repetido", buzon.name),
                ));
            }
            check_address(&format!("buzones[{i}].direccion"), &buzon.address)?;
            if let Some(imap) = &buzon.imap {
                validate_imap(&format!("buzones[{i}].imap"), imap)?;
            }
            if let Some(smtp) = &buzon.smtp {
                validate_smtp(&format!("buzones[{i}].smtp"), smtp)?;
            }
        }
        Ok(())
    }

    fn validate_groups_and_agents(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (i, group) in self.grupos.iter().enumerate() {
            if !names.insert(group.name.as_str()) {
                return Err(invalid(
                    format!("grupos[{i}].nombre"),
                    format!("el grupo \"{}\" está repetido", group.name),
                ));
            }
            check_address(&format!("grupos[{i}].coordinador"), &group.coordinator)?;
        }
        for (key, group) in [
            ("enrutamiento.grupo_seguridad", &self.enrutamiento.security_group),
            ("enrutamiento.grupo_n3", &self.enrutamiento.n3_group),
        ] {
            self.check_group_exists(key, group)?;
        }
        if !self.enrutamiento.n1_group.is_empty() {
            self.check_group_exists("enrutamiento.grupo_n1", &self.enrutamiento.n1_group)?;
        }
        self.validate_n3_kinds()?;
        check_address("enrutamiento.administracion_tecnica", &self.enrutamiento.csat_address)?;
        let days = self.control_posterior.business_days;
        if !(0.0..=60.0).contains(&days) {
            return Err(invalid("control_posterior.dias_habiles", "debe estar entre 0 y 60"));
        }
        if self.control_posterior.sweep_seconds == 0 {
            return Err(invalid("control_posterior.revision_segundos", "debe ser mayor que cero"));
        }
        self.validate_waiting()?;
        if self.masiva.cases_to_suggest < 2 || self.masiva.window_minutes == 0 {
            return Err(invalid(
                "masiva.casos_para_sugerir",
                "una sugerencia necesita al menos 2 casos y una ventana de al menos 1 minuto",
            ));
        }
        let mut addresses = HashSet::new();
        for (i, agent) in self.agentes.iter().enumerate() {
            check_address(&format!("agentes[{i}].correo"), &agent.address)?;
            if !addresses.insert(agent.address.to_lowercase()) {
                return Err(invalid(format!("agentes[{i}].correo"), "el agente está repetido"));
            }
            for (j, group) in agent.groups.iter().enumerate() {
                self.check_group_exists(&format!("agentes[{i}].grupos[{j}]"), group)?;
            }
        }
        Ok(())
    }

    /// The reminder comes before the closure, both within a quarter of a year.
    fn validate_waiting(&self) -> Result<(), ConfigError> {
        let waiting = &self.espera_solicitante;
        if !(1..=60).contains(&waiting.reminder_days) {
            return Err(invalid(
                "espera_solicitante.recordatorio_dias_habiles",
                "debe estar entre 1 y 60",
            ));
        }
        if !(1..=60).contains(&waiting.closure_days)
            || waiting.closure_days <= waiting.reminder_days
        {
            return Err(invalid(
                "espera_solicitante.cierre_sin_respuesta_dias_habiles",
                "debe estar entre 1 y 60 y ser mayor que recordatorio_dias_habiles",
            ));
        }
        if waiting.sweep_seconds == 0 {
            return Err(invalid("espera_solicitante.revision_segundos", "debe ser mayor que cero"));
        }
        Ok(())
    }

    fn validate_calendar(&self) -> Result<(), ConfigError> {
        use crate::desk::calendar::{parse_clock, parse_weekday};
        let hours = &self.horario;
        if hours.weekdays.is_empty() {
            return Err(invalid("horario.dias", "indique al menos un día hábil"));
        }
        for (i, day) in hours.weekdays.iter().enumerate() {
            if parse_weekday(day).is_none() {
                return Err(invalid(
                    format!("horario.dias[{i}]"),
                    format!(
                        "\"{day}\" no es un día: use lunes, martes, miercoles, jueves, viernes, sabado o domingo"
                    ),
                ));
            }
        }
        let clock = |key: &str, text: &str| {
            parse_clock(text).ok_or_else(|| {
                invalid(key, format!("\"{text}\" no es una hora HH:MM entre 00:00 y 24:00"))
            })
        };
        let opens = clock("horario.hora_inicio", &hours.opens)?;
        let closes = clock("horario.hora_fin", &hours.closes)?;
        if opens >= closes {
            return Err(invalid("horario.hora_fin", "debe ser posterior a horario.hora_inicio"));
        }
        for (key, days) in [
            ("festivos", &hours.holidays),
            ("festivos_adicionales", &hours.additional_holidays),
            ("no_festivos", &hours.not_holidays),
        ] {
            for (i, day) in days.iter().enumerate() {
                if day.parse::<chrono::NaiveDate>().is_err() {
                    return Err(invalid(
                        format!("horario.{key}[{i}]"),
                        format!("\"{day}\" no es una fecha AAAA-MM-DD"),
                    ));
                }
            }
        }
        let address = &self.http.address;
        if !address.is_empty() && address.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "http.direccion",
                format!(
                    "\"{address}\" no es host:puerto, por ejemplo 127.0.0.1:9464 (vacío = sin HTTP)"
                ),
            ));
        }
        if self.sla.sweep_seconds == 0 {
            return Err(invalid("sla.revision_segundos", "debe ser mayor que cero"));
        }
        for (key, target) in [
            ("sla.n2", &self.sla.n2),
            ("sla.n3", &self.sla.n3),
            ("sla.administracion_tecnica", &self.sla.administracion_tecnica),
        ] {
            if !(target.first_response_hours > 0.0 && target.resolution_hours > 0.0) {
                return Err(invalid(key, "los objetivos deben ser mayores que cero horas"));
            }
        }
        Ok(())
    }

    /// `tipo` only on N3 groups; `grupo_n3` is the functional filter; at most one technical group.
    fn validate_n3_kinds(&self) -> Result<(), ConfigError> {
        let mut technical = None;
        for (i, group) in self.grupos.iter().enumerate() {
            match group.kind {
                Some(_) if group.level != Level::N3 => {
                    return Err(invalid(
                        format!("grupos[{i}].tipo"),
                        "solo los grupos de nivel n3 tienen tipo (funcional o tecnico)",
                    ));
                }
                Some(GroupKind::Tecnico) if group.name == self.enrutamiento.n3_group => {
                    return Err(invalid(
                        "enrutamiento.grupo_n3",
                        format!(
                            "\"{}\" es el grupo técnico: grupo_n3 es el filtro funcional de nivel 3, \
                             al que escala el nivel 2",
                            group.name
                        ),
                    ));
                }
                Some(GroupKind::Tecnico) => {
                    if let Some(first) = technical.replace(&group.name) {
                        return Err(invalid(
                            format!("grupos[{i}].tipo"),
                            format!(
                                "ya hay un grupo técnico de nivel 3 (\"{first}\"); solo puede haber uno"
                            ),
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_group_exists(&self, key: &str, group: &str) -> Result<(), ConfigError> {
        if self.group(group).is_none() {
            return Err(invalid(key, format!("el grupo \"{group}\" no existe en [[grupos]]")));
        }
        Ok(())
    }

    fn validate_temas(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, tema) in self.temas.iter().enumerate() {
            if !seen.insert(tema.tema) {
                return Err(invalid(
                    format!("temas[{i}].nombre"),
                    format!("el tema \"{}\" está repetido", tema.tema.as_str()),
                ));
            }
            self.check_group_exists(&format!("temas[{i}].grupo_n2"), &tema.n2_group)?;
            for (j, word) in tema.keywords.iter().chain(&tema.general_keywords).enumerate() {
                if word.trim().is_empty() {
                    return Err(invalid(
                        format!("temas[{i}].palabras[{j}]"),
                        "hay una palabra vacía",
                    ));
                }
            }
        }
        if let Some(missing) = Tema::ALL.iter().find(|t| !seen.contains(t)) {
            return Err(invalid(
                "temas",
                format!(
                    "falta el tema \"{}\": los siete temas deben estar configurados",
                    missing.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Each `[[proveedores]]`: a NIT in any written form, a name, at least one domain or
    /// address (well formed), and no NIT twice.
    fn validate_providers(&self) -> Result<(), ConfigError> {
        let mut nits = std::collections::HashMap::new();
        for (i, written) in self.proveedores.iter().enumerate() {
            let provider = written
                .normalized()
                .map_err(|p| invalid(format!("proveedores[{i}].{}", p.field), p.message))?;
            if let Some(first) = nits.insert(provider.nit.clone(), i) {
                return Err(invalid(
                    format!("proveedores[{i}].nit"),
                    format!(
                        "el NIT {} está repetido (también en proveedores[{first}])",
                        provider.nit
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limites;
        for (key, value) in [
            ("limites.mensaje_max_bytes", l.message_max_bytes),
            ("limites.zip_max_entradas", l.zip_max_entries),
            ("limites.zip_max_bytes_descomprimidos", l.zip_max_uncompressed_bytes),
            ("limites.zip_max_razon", l.zip_max_ratio),
            ("limites.zip_max_anidamiento", l.zip_max_depth),
            ("limites.xml_max_bytes", l.xml_max_bytes),
        ] {
            if value == 0 {
                return Err(invalid(key, "debe ser mayor que cero"));
            }
        }
        if !(l.analysis_max_seconds > 0.0 && l.analysis_max_seconds <= 3600.0) {
            return Err(invalid(
                "limites.analisis_max_segundos",
                "debe ser mayor que cero y de a lo sumo 3600 segundos",
            ));
        }
        Ok(())
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.grupos.iter().find(|g| g.name == name)
    }

    /// The N3 technical group (`tipo = "tecnico"`), if the desk has one: `#escalar n3-tecnico`
    /// from the functional filter (`grupo_n3`) goes there.
    pub fn n3_technical_group(&self) -> Option<&Group> {
        self.grupos.iter().find(|g| g.level == Level::N3 && g.kind == Some(GroupKind::Tecnico))
    }

    pub fn tema(&self, tema: Tema) -> Option<&TemaConfig> {
        self.temas.iter().find(|t| t.tema == tema)
    }

    pub fn buzon(&self, name: &str) -> Option<&Buzon> {
        self.buzones.iter().find(|b| b.name == name)
    }

    /// The desk's working calendar (validated by [`Config::validate`]).
    pub fn calendar(&self) -> crate::desk::calendar::Calendar {
        use crate::desk::calendar::{parse_clock, parse_weekday};
        let hours = &self.horario;
        crate::desk::calendar::Calendar {
            weekdays: hours.weekdays.iter().filter_map(|d| parse_weekday(d)).collect(),
            opens: parse_clock(&hours.opens).unwrap_or(0),
            closes: parse_clock(&hours.closes).unwrap_or(24 * 60),
            holidays: crate::desk::calendar::Holidays {
                national: hours.national_holidays,
                added: dates(hours.holidays.iter().chain(&hours.additional_holidays)),
                removed: dates(&hours.not_holidays),
            },
        }
    }

    /// The desk's time zone: the old fixed offset when a configuration still gives one, else
    /// `general.zona_horaria` (validated by [`Config::validate`]; America/Bogota otherwise).
    pub fn zone(&self) -> crate::desk::zone::Zone {
        use crate::desk::zone::Zone;
        match self.general.utc_offset_hours {
            Some(hours) => Zone::fixed_hours(hours),
            None => Zone::named(&self.general.zone),
        }
        .unwrap_or_else(Zone::bogota)
    }

    /// The SLA target of a level (N1 has none: it answers at once).
    pub fn sla_target(&self, level: Level) -> Option<&SlaTarget> {
        match level {
            Level::N1 => None,
            Level::N2 => Some(&self.sla.n2),
            Level::N3 => Some(&self.sla.n3),
            Level::AdministracionTecnica => Some(&self.sla.administracion_tecnica),
        }
    }

    /// The agent with this address (any case), if configured.
    pub fn agent(&self, address: &str) -> Option<&Agent> {
        self.agentes.iter().find(|a| a.address.eq_ignore_ascii_case(address))
    }

    /// Members of a group (active or not) and its coordinator: who may read a security case.
    pub fn in_group(&self, group: &str, address: &str) -> bool {
        self.group(group).is_some_and(|g| g.coordinator.eq_ignore_ascii_case(address))
            || self.agent(address).is_some_and(|a| a.groups.iter().any(|g| g == group))
    }

    /// Active agents of a group, in configuration order.
    pub fn active_agents(&self, group: &str) -> impl Iterator<Item = &Agent> {
        self.agentes.iter().filter(move |a| a.active && a.groups.iter().any(|g| g == group))
    }

    /// The database URL, defaulting to SQLite under the state directory.
    pub fn database_url(&self) -> String {
        if !self.general.database_url.is_empty() {
            return self.general.database_url.clone();
        }
        format!("sqlite://{}", self.state_dir().join("mesa-fe.db").display())
    }

    /// `directorio_estado`, or systemd's `$STATE_DIRECTORY` when the key kept its default.
    pub fn state_dir(&self) -> PathBuf {
        let default = Path::new("/var/lib/mesa-fe");
        if self.general.state_dir == default
            && let Some(dir) = std::env::var_os("STATE_DIRECTORY")
        {
            return PathBuf::from(dir);
        }
        self.general.state_dir.clone()
    }
}

fn validate_imap(key: &str, imap: &ImapSettings) -> Result<(), ConfigError> {
    validate_server(key, "IMAP", &imap.host, imap.tls)?;
    validate_login(key, imap.auth, imap.password.as_ref(), imap.oauth2.as_ref())?;
    for (name, value) in
        [("lote", u64::from(imap.batch)), ("intervalo_sondeo_segundos", imap.poll_seconds)]
    {
        if value == 0 {
            return Err(invalid(format!("{key}.{name}"), "debe ser mayor que cero"));
        }
    }
    if !(1..=28).contains(&imap.idle_renew_minutes) {
        return Err(invalid(
            format!("{key}.idle_renovar_minutos"),
            "debe estar entre 1 y 28 (RFC 2177)",
        ));
    }
    Ok(())
}

fn validate_smtp(key: &str, smtp: &SmtpSettings) -> Result<(), ConfigError> {
    validate_server(key, "SMTP", &smtp.host, smtp.tls)?;
    // Without a user the relay trusts the connection (loopback): nothing to log in with.
    if smtp.user.is_some() {
        validate_login(key, smtp.auth, smtp.password.as_ref(), smtp.oauth2.as_ref())?;
    }
    if !(1..=SMTP_CONNECTIONS_MAX).contains(&smtp.connections) {
        return Err(invalid(
            format!("{key}.conexiones_smtp"),
            format!("debe estar entre 1 y {SMTP_CONNECTIONS_MAX}"),
        ));
    }
    Ok(())
}

/// A server name, and plaintext only towards this machine.
fn validate_server(key: &str, protocol: &str, host: &str, tls: TlsMode) -> Result<(), ConfigError> {
    if host.trim().is_empty() {
        return Err(invalid(
            format!("{key}.servidor"),
            format!("falta el nombre o la dirección del servidor {protocol}"),
        ));
    }
    if tls == TlsMode::Ninguno && !is_loopback(host) {
        return Err(invalid(
            format!("{key}.tls"),
            format!(
                "\"ninguno\" (sin cifrado) solo se permite con un servidor local (127.0.0.1 o \
                 localhost), no con \"{host}\": use \"implicito\" o \"starttls\""
            ),
        ));
    }
    Ok(())
}

/// The credentials the chosen method needs: a password source, or an OAuth2 section with an
/// https token endpoint (plain http only to this machine) and a client-secret source.
fn validate_login(
    key: &str,
    auth: AuthMethod,
    password: Option<&SecretRef>,
    oauth2: Option<&OAuth2Settings>,
) -> Result<(), ConfigError> {
    match (auth, password, oauth2) {
        (AuthMethod::Contrasena, Some(secret), _) => {
            validate_secret(&format!("{key}.contrasena"), secret)
        }
        (AuthMethod::Contrasena, None, _) => Err(invalid(
            format!("{key}.contrasena"),
            "con autenticacion = \"contrasena\" indique de dónde leerla: archivo, variable o credencial",
        )),
        (AuthMethod::Xoauth2, _, Some(oauth)) => {
            if !oauth.token_url.starts_with("https://")
                && !oauth.token_url.starts_with("http://127.0.0.1")
            {
                return Err(invalid(
                    format!("{key}.oauth2.url_token"),
                    "debe ser una URL https://",
                ));
            }
            validate_secret(&format!("{key}.oauth2.secreto"), &oauth.client_secret)
        }
        (AuthMethod::Xoauth2, _, None) => Err(invalid(
            format!("{key}.oauth2"),
            "con autenticacion = \"xoauth2\" falta la sección oauth2",
        )),
    }
}

fn validate_secret(key: &str, secret: &SecretRef) -> Result<(), ConfigError> {
    let given = [secret.file.is_some(), secret.env.is_some(), secret.credential.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(invalid(
            key,
            "indique exactamente una fuente: archivo, variable o credencial (de systemd)",
        ));
    }
    Ok(())
}

/// Loopback names only: plaintext never leaves the machine.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn check_address(key: &str, address: &str) -> Result<(), ConfigError> {
    let valid = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace)
    });
    if valid {
        Ok(())
    } else {
        Err(invalid(key, format!("\"{address}\" no es una dirección de correo válida")))
    }
}

/// The `config` crate writes English; operators read Spanish. Keep its key path, translate the
/// frame.
fn spanish_config_error(error: &config::ConfigError) -> String {
    let text = error
        .to_string()
        .replace("unknown field", "clave desconocida")
        .replace("expected one of", "se esperaba una de")
        .replace("unknown variant", "valor desconocido")
        .replace("missing field", "falta la clave")
        .replace("invalid type", "tipo inválido")
        .replace("expected", "se esperaba")
        .replace("for key", "en la clave")
        .replace("an integer", "un número entero")
        .replace("a boolean", "true o false")
        .replace("a string", "un texto entre comillas")
        .replace("a sequence", "una lista [ … ]")
        .replace("integer `", "número `")
        .replace("floating point `", "número `")
        .replace("string \"", "texto \"")
        .replace(" in the environment", " (variable de entorno MESA_FE__…)")
        .replace("` in ", "` en ");
    let text = dotted_key(&text);
    format!("{text} (revise el archivo contra config/mesa-fe.example.toml)")
}

/// Paths are text: the `config` crate would otherwise turn `directorio_estado = 5` into the
/// relative path "5" without a word.
fn path_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    deserializer.deserialize_any(PathText)
}

fn optional_path_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    path_text(deserializer).map(Some)
}

struct PathText;

impl serde::de::Visitor<'_> for PathText {
    type Value = PathBuf;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("una ruta entre comillas, por ejemplo \"/var/lib/mesa-fe\"")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<PathBuf, E> {
        Ok(PathBuf::from(value))
    }
}

/// `config` joins an array index and the next key without a dot (`agentes[0]nivel`).
fn dotted_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' && chars.peek().is_some_and(|n| n.is_alphanumeric() || *n == '_') {
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new().suffix(".toml").tempfile().expect("temp file");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("write");
        file
    }

    fn n3_group(name: &str, kind: Option<GroupKind>) -> Group {
        Group {
            name: name.into(),
            level: Level::N3,
            coordinator: format!("coord.{name}@dian.gov.co"),
            kind,
        }
    }

    #[test]
    fn one_n3_group_has_no_technical_hop_and_two_are_checked() {
        let mut config = Config::builtin().expect("built-in config");
        assert_eq!(config.n3_technical_group(), None, "the example keeps one N3 group");
        config.grupos.push(n3_group("n3_tecnico", Some(GroupKind::Tecnico)));
        config.validate().expect("a technical group beside grupo_n3");
        assert_eq!(config.n3_technical_group().map(|g| g.name.as_str()), Some("n3_tecnico"));

        let mut second = config.clone();
        second.grupos.push(n3_group("otro_tecnico", Some(GroupKind::Tecnico)));
        let error = second.validate().expect_err("two technical groups").to_string();
        assert!(error.contains("solo puede haber uno"), "{error}");

        let mut filter = config.clone();
        filter.enrutamiento.n3_group = "n3_tecnico".into();
        let error = filter.validate().expect_err("grupo_n3 is the functional filter").to_string();
        assert!(error.contains("filtro funcional"), "{error}");

        let mut n2 = config.clone();
        n2.grupos[0].kind = Some(GroupKind::Funcional);
        let error = n2.validate().expect_err("tipo on an N2 group").to_string();
        assert!(error.contains("solo los grupos de nivel n3"), "{error}");
    }

    #[test]
    fn builtin_is_valid_and_complete() {
        let config = Config::builtin().expect("built-in config");
        assert_eq!(config.buzones.len(), 2);
        assert_eq!(config.temas.len(), 7);
        assert_eq!(config.limites.zip_max_entries, 200);
        assert!(config.database_url().starts_with("sqlite://"));
    }

    /// Without any holiday configured, Colombia's are computed (years the old list never had);
    /// the old `festivos` key still adds days; `no_festivos` removes them.
    #[test]
    fn holidays_are_computed_and_the_old_key_still_adds() {
        let date = |text: &str| text.parse::<chrono::NaiveDate>().expect("date");
        let builtin = Config::builtin().expect("built-in config").calendar();
        assert!(!builtin.is_working_day(date("2031-01-06")), "Reyes 2031 (Monday)");
        assert!(!builtin.is_working_day(date("2029-11-12")), "Cartagena 2029, moved");
        let file = write(
            "[horario]\nfestivos = [\"2026-12-24\"]\nfestivos_adicionales = [\"2026-12-31\"]\n\
             no_festivos = [\"2026-12-08\"]\n",
        );
        let calendar = Config::load(Some(file.path())).expect("config").calendar();
        assert!(!calendar.is_working_day(date("2026-12-24")), "old key");
        assert!(!calendar.is_working_day(date("2026-12-31")), "new key");
        assert!(calendar.is_working_day(date("2026-12-08")), "exception");
        assert!(!calendar.is_working_day(date("2026-12-25")), "computed");
        let bad = write("[horario]\nno_festivos = [\"8 de diciembre\"]\n");
        let error = Config::load(Some(bad.path())).expect_err("not a date").to_string();
        assert!(error.contains("horario.no_festivos[0]"), "{error}");
    }

    /// The zone by name, America/Bogota by default; an old fixed offset still wins.
    #[test]
    fn the_zone_by_name_or_by_the_old_offset() {
        use crate::desk::zone::Zone;
        assert_eq!(Config::builtin().expect("built-in").zone(), Zone::bogota());
        let lima = write("[general]\nzona_horaria = \"America/Lima\"\n");
        let config = Config::load(Some(lima.path())).expect("config");
        assert_eq!(config.zone(), Zone::named("America/Lima").expect("zone"));
        let old = write("[general]\nzona_horaria_horas = -5\n");
        let config = Config::load(Some(old.path())).expect("config");
        assert_eq!(config.zone(), Zone::fixed_hours(-5).expect("offset"));
        let bad = write("[general]\nzona_horaria = \"Bogota\"\n");
        let error = Config::load(Some(bad.path())).expect_err("unknown zone").to_string();
        assert!(
            error.contains("general.zona_horaria") && error.contains("America/Bogota"),
            "{error}"
        );
    }

    #[test]
    fn user_file_overrides_keys_and_keeps_other_defaults() {
        let file = write("[limites]\nzip_max_entradas = 7\n");
        let config = Config::load(Some(file.path())).expect("config");
        assert_eq!(config.limites.zip_max_entries, 7);
        assert_eq!(config.limites.zip_max_ratio, 100);
        assert_eq!(config.buzones.len(), 2);
    }

    #[test]
    fn level_settings_are_checked_by_key() {
        let bad_csat = write("[enrutamiento]\nadministracion_tecnica = \"csat\"\n");
        let error = Config::load(Some(bad_csat.path())).expect_err("not an address").to_string();
        assert!(error.contains("enrutamiento.administracion_tecnica"), "{error}");
        let bad_n1 = write("[enrutamiento]\ngrupo_n1 = \"mesa\"\n");
        let error = Config::load(Some(bad_n1.path())).expect_err("no such group").to_string();
        assert!(error.contains("enrutamiento.grupo_n1"), "{error}");
        let bad_window = write("[control_posterior]\ndias_habiles = -1\n");
        let error = Config::load(Some(bad_window.path())).expect_err("negative").to_string();
        assert!(error.contains("control_posterior.dias_habiles"), "{error}");
    }

    #[test]
    fn waiting_deadlines_default_and_are_checked_by_key() {
        let config = Config::builtin().expect("config");
        assert_eq!(config.espera_solicitante.deadlines().reminder_days, 3);
        assert_eq!(config.espera_solicitante.deadlines().closure_days, 10);
        let reversed = write(
            "[espera_solicitante]\nrecordatorio_dias_habiles = 5\ncierre_sin_respuesta_dias_habiles = 4\n",
        );
        let error = Config::load(Some(reversed.path())).expect_err("closure first").to_string();
        assert!(error.contains("espera_solicitante.cierre_sin_respuesta_dias_habiles"), "{error}");
        let zero = write("[espera_solicitante]\nrecordatorio_dias_habiles = 0\n");
        let error = Config::load(Some(zero.path())).expect_err("zero").to_string();
        assert!(error.contains("espera_solicitante.recordatorio_dias_habiles"), "{error}");
    }

    #[test]
    fn unknown_key_is_named_in_spanish() {
        let file = write("[limites]\nzip_max_entrada = 7\n");
        let error = Config::load(Some(file.path())).expect_err("typo must fail").to_string();
        assert!(error.contains("zip_max_entrada"), "{error}");
        assert!(error.contains("clave desconocida"), "{error}");
    }

    #[test]
    fn missing_group_is_named_with_its_key() {
        let file = write(
            "[[agentes]]\ncorreo = \"x@dian.gov.co\"\nnombre = \"X\"\nnivel = \"n2\"\n\
             grupos = [\"no_existe\"]\nactivo = true\n",
        );
        let error = Config::load(Some(file.path())).expect_err("bad group").to_string();
        assert!(error.contains("agentes[0].grupos[0]"), "{error}");
        assert!(error.contains("no_existe"), "{error}");
    }

    #[test]
    fn bad_tema_name_is_refused() {
        let file = write(
            "[[temas]]\nnombre = \"facturas\"\ngrupo_n2 = \"n2_factura\"\npalabras = []\n\
             palabras_generales = []\nrequisitos = []\n",
        );
        let error = Config::load(Some(file.path())).expect_err("bad tema").to_string();
        assert!(error.contains("facturas"), "{error}");
    }

    #[test]
    fn zero_limit_is_refused() {
        let file = write("[limites]\nzip_max_razon = 0\n");
        let error = Config::load(Some(file.path())).expect_err("zero").to_string();
        assert!(error.contains("limites.zip_max_razon"), "{error}");
    }

    #[test]
    fn smtp_and_imap_logins_follow_the_same_rules() {
        let file = write(
            "[[buzones]]\nnombre = \"b\"\ndireccion = \"b@dian.gov.co\"\ncanal = \"correo\"\n\
             [buzones.smtp]\nservidor = \"smtp.example.co\"\npuerto = 587\ntls = \"starttls\"\n\
             usuario = \"b@dian.gov.co\"\nautenticacion = \"xoauth2\"\n\
             [buzones.smtp.oauth2]\nurl_token = \"http://login.example.co/token\"\nclient_id = \"x\"\n\
             secreto = { variable = \"S\" }\n",
        );
        let error =
            Config::load(Some(file.path())).expect_err("plain http token endpoint").to_string();
        assert!(error.contains("buzones[0].smtp.oauth2.url_token"), "{error}");
        let plain = write(
            "[[buzones]]\nnombre = \"b\"\ndireccion = \"b@dian.gov.co\"\ncanal = \"correo\"\n\
             [buzones.smtp]\nservidor = \"smtp.example.co\"\npuerto = 25\ntls = \"ninguno\"\n",
        );
        let error = Config::load(Some(plain.path())).expect_err("plaintext off-host").to_string();
        assert!(error.contains("buzones[0].smtp.tls"), "{error}");
    }

    #[test]
    fn smtp_connections_default_to_four_and_stay_between_one_and_thirty_two() {
        let smtp = |extra: &str| {
            write(&format!(
                "[[buzones]]\nnombre = \"b\"\ndireccion = \"b@dian.gov.co\"\ncanal = \"correo\"\n\
                 [buzones.smtp]\nservidor = \"127.0.0.1\"\npuerto = 25\ntls = \"ninguno\"\n{extra}"
            ))
        };
        let config = Config::load(Some(smtp("").path())).expect("config");
        assert_eq!(config.buzones[0].smtp.as_ref().map(|s| s.connections), Some(4));
        let config = Config::load(Some(smtp("conexiones_smtp = 32\n").path())).expect("config");
        assert_eq!(config.buzones[0].smtp.as_ref().map(|s| s.connections), Some(32));
        for bad in [0, 33] {
            let file = smtp(&format!("conexiones_smtp = {bad}\n"));
            let error = Config::load(Some(file.path())).expect_err("out of range").to_string();
            assert!(error.contains("buzones[0].smtp.conexiones_smtp"), "{error}");
            assert!(error.contains("entre 1 y 32"), "{error}");
        }
    }

    #[test]
    fn providers_are_checked_by_key() {
        let provider = |nit: &str, domains: &str| {
            format!("[[proveedores]]\nnit = \"{nit}\"\nnombre = \"P\"\ndominios = [{domains}]\n")
        };
        let good =
            write(&(provider("900.123.456-7", "\"A.co\"") + &provider("800555111", "\"b.co\"")));
        let config = Config::load(Some(good.path())).expect("config");
        assert_eq!(config.proveedores.len(), 2);
        assert!(config.proveedores[0].active, "activo defaults to true");
        for (text, key) in [
            (provider("90012X", "\"a.co\""), "proveedores[0].nit"),
            (provider("900123456", ""), "proveedores[0].dominios"),
            (
                provider("900123456", "\"a.co\"") + &provider("900123456-8", "\"b.co\""),
                "proveedores[1].nit",
            ),
        ] {
            let file = write(&text);
            let error = Config::load(Some(file.path())).expect_err(key).to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn unknown_enum_value_names_key_value_and_the_valid_ones() {
        let file = write(
            "[[buzones]]\nnombre = \"b\"\ndireccion = \"b@dian.gov.co\"\ncanal = \"correo\"\n\
             [buzones.smtp]\nservidor = \"smtp.example.co\"\npuerto = 587\ntls = \"tls13\"\n",
        );
        let error = Config::load(Some(file.path())).expect_err("unknown tls").to_string();
        assert!(error.contains("buzones[0].smtp.tls"), "{error}");
        assert!(
            error.contains("\"tls13\"; valores válidos: implicito, starttls, ninguno"),
            "{error}"
        );
        assert!(!error.contains("enum TlsMode"), "{error}");
    }

    #[test]
    fn a_number_is_not_a_ca_path() {
        let file = write(
            "[[buzones]]\nnombre = \"b\"\ndireccion = \"b@dian.gov.co\"\ncanal = \"correo\"\n\
             [buzones.smtp]\nservidor = \"smtp.example.co\"\npuerto = 587\ntls = \"starttls\"\n\
             ca = 5\n",
        );
        let error = Config::load(Some(file.path())).expect_err("number as path").to_string();
        assert!(error.contains("buzones[0].smtp.ca"), "{error}");
        assert!(error.contains("se esperaba una ruta entre comillas"), "{error}");
    }

    #[test]
    fn missing_file_says_so() {
        let error =
            Config::load(Some(Path::new("/no/existe.toml"))).expect_err("missing").to_string();
        assert!(error.contains("no existe"), "{error}");
    }
}
