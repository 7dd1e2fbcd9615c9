//! Outgoing mail: the Spanish templates of `config/templates/` rendered with minijinja, and the
//! RFC 5322 message built with lettre, with every threading and anti-loop header.
//!
//! - [`Templates`]: the kinds of mail ([`KINDS`]: answers to the requester and messages for
//!   agents and Administración Técnica), each a text and an HTML template, built into the
//!   program and optionally replaced by an operator's copies ([`Templates::load`]).
//! - [`build`]: From, To, Subject, Message-ID, In-Reply-To, References, Thread-Topic,
//!   Thread-Index, `Auto-Submitted: auto-replied` (not on a person's words: a solution or a
//!   question an agent wrote), `X-Auto-Response-Suppress: All`, and a multipart/alternative body.
//! - [`thread_index`] and [`thread_topic`]: Outlook's conversation headers.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::text::subject;

/// One automatic mail, ready to be formatted.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    /// Display name and address of the buzón it leaves from.
    pub from_name: String,
    pub from_address: String,
    pub to: Vec<String>,
    pub subject: String,
    /// With angle brackets.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// With angle brackets, oldest first.
    pub references: Vec<String>,
    /// Outlook's conversation topic: the subject without the tag and reply prefixes.
    pub thread_topic: String,
    /// Outlook's Thread-Index (base64), already computed for this message.
    pub thread_index: String,
    pub text: String,
    pub html: Option<String>,
    /// Files sent along (the requester's evidence and XML, for agents).
    pub attachments: Vec<OutgoingFile>,
    /// A person's words (an agent's solution or question): sent without `Auto-Submitted`, so
    /// mail clients and the requester's filters treat it as the person's letter it is. Loop
    /// protection does not need the header: what comes back quotes our signed Message-ID, and
    /// machine answers to it are recognised by their own headers.
    pub written_by_person: bool,
}

/// One attached file.
#[derive(Debug, Clone, Default)]
pub struct OutgoingFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Why an outgoing mail could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum OutgoingError {
    #[error("la plantilla {name} no existe")]
    MissingTemplate { name: String },
    #[error("la plantilla {name} tiene un error: {detail}")]
    Template { name: String, detail: String },
    #[error("no se pudo leer {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("no se pudo armar el correo: {0}")]
    Build(String),
}

/// The kinds of automatic mail; each has `KIND.txt.j2` and `KIND.html.j2`.
pub const KINDS: &[&str] = &[
    "acuse_recibo",
    "solicitud_informacion",
    "respuesta_error_conocido",
    "notificacion_agente",
    "solucion",
    "pregunta_solicitante",
    "aviso_solucion",
    "paquete_administracion_tecnica",
    "respuesta_comando",
    "validacion_masiva",
    "sugerencia_masiva",
    "aviso_sla",
    "propuesta_error_conocido",
    "redireccion_canal",
    "aviso_tope_casos",
    "resumen_notificaciones",
    "aviso_caso_relacionado",
    "aviso_fusion",
    "aviso_rebote",
    "recordatorio_informacion",
    "cierre_sin_respuesta",
    "aviso_cierre_sin_respuesta",
];

/// The shipped templates, by file name.
const BUILTIN: &[(&str, &str)] = &[
    ("acuse_recibo.txt.j2", include_str!("../../config/templates/acuse_recibo.txt.j2")),
    ("acuse_recibo.html.j2", include_str!("../../config/templates/acuse_recibo.html.j2")),
    (
        "solicitud_informacion.txt.j2",
        include_str!("../../config/templates/solicitud_informacion.txt.j2"),
    ),
    (
        "solicitud_informacion.html.j2",
        include_str!("../../config/templates/solicitud_informacion.html.j2"),
    ),
    (
        "respuesta_error_conocido.txt.j2",
        include_str!("../../config/templates/respuesta_error_conocido.txt.j2"),
    ),
    (
        "respuesta_error_conocido.html.j2",
        include_str!("../../config/templates/respuesta_error_conocido.html.j2"),
    ),
    (
        "notificacion_agente.txt.j2",
        include_str!("../../config/templates/notificacion_agente.txt.j2"),
    ),
    (
        "notificacion_agente.html.j2",
        include_str!("../../config/templates/notificacion_agente.html.j2"),
    ),
    ("solucion.txt.j2", include_str!("../../config/templates/solucion.txt.j2")),
    ("solucion.html.j2", include_str!("../../config/templates/solucion.html.j2")),
    (
        "pregunta_solicitante.txt.j2",
        include_str!("../../config/templates/pregunta_solicitante.txt.j2"),
    ),
    (
        "pregunta_solicitante.html.j2",
        include_str!("../../config/templates/pregunta_solicitante.html.j2"),
    ),
    ("aviso_solucion.txt.j2", include_str!("../../config/templates/aviso_solucion.txt.j2")),
    ("aviso_solucion.html.j2", include_str!("../../config/templates/aviso_solucion.html.j2")),
    (
        "paquete_administracion_tecnica.txt.j2",
        include_str!("../../config/templates/paquete_administracion_tecnica.txt.j2"),
    ),
    (
        "paquete_administracion_tecnica.html.j2",
        include_str!("../../config/templates/paquete_administracion_tecnica.html.j2"),
    ),
    ("respuesta_comando.txt.j2", include_str!("../../config/templates/respuesta_comando.txt.j2")),
    ("respuesta_comando.html.j2", include_str!("../../config/templates/respuesta_comando.html.j2")),
    ("validacion_masiva.txt.j2", include_str!("../../config/templates/validacion_masiva.txt.j2")),
    ("validacion_masiva.html.j2", include_str!("../../config/templates/validacion_masiva.html.j2")),
    ("sugerencia_masiva.txt.j2", include_str!("../../config/templates/sugerencia_masiva.txt.j2")),
    ("sugerencia_masiva.html.j2", include_str!("../../config/templates/sugerencia_masiva.html.j2")),
    ("aviso_sla.txt.j2", include_str!("../../config/templates/aviso_sla.txt.j2")),
    ("aviso_sla.html.j2", include_str!("../../config/templates/aviso_sla.html.j2")),
    (
        "propuesta_error_conocido.txt.j2",
        include_str!("../../config/templates/propuesta_error_conocido.txt.j2"),
    ),
    (
        "propuesta_error_conocido.html.j2",
        include_str!("../../config/templates/propuesta_error_conocido.html.j2"),
    ),
    ("redireccion_canal.txt.j2", include_str!("../../config/templates/redireccion_canal.txt.j2")),
    ("redireccion_canal.html.j2", include_str!("../../config/templates/redireccion_canal.html.j2")),
    ("aviso_tope_casos.txt.j2", include_str!("../../config/templates/aviso_tope_casos.txt.j2")),
    ("aviso_tope_casos.html.j2", include_str!("../../config/templates/aviso_tope_casos.html.j2")),
    (
        "resumen_notificaciones.txt.j2",
        include_str!("../../config/templates/resumen_notificaciones.txt.j2"),
    ),
    (
        "resumen_notificaciones.html.j2",
        include_str!("../../config/templates/resumen_notificaciones.html.j2"),
    ),
    (
        "aviso_caso_relacionado.txt.j2",
        include_str!("../../config/templates/aviso_caso_relacionado.txt.j2"),
    ),
    (
        "aviso_caso_relacionado.html.j2",
        include_str!("../../config/templates/aviso_caso_relacionado.html.j2"),
    ),
    ("aviso_fusion.txt.j2", include_str!("../../config/templates/aviso_fusion.txt.j2")),
    ("aviso_fusion.html.j2", include_str!("../../config/templates/aviso_fusion.html.j2")),
    ("aviso_rebote.txt.j2", include_str!("../../config/templates/aviso_rebote.txt.j2")),
    ("aviso_rebote.html.j2", include_str!("../../config/templates/aviso_rebote.html.j2")),
    (
        "recordatorio_informacion.txt.j2",
        include_str!("../../config/templates/recordatorio_informacion.txt.j2"),
    ),
    (
        "recordatorio_informacion.html.j2",
        include_str!("../../config/templates/recordatorio_informacion.html.j2"),
    ),
    (
        "cierre_sin_respuesta.txt.j2",
        include_str!("../../config/templates/cierre_sin_respuesta.txt.j2"),
    ),
    (
        "cierre_sin_respuesta.html.j2",
        include_str!("../../config/templates/cierre_sin_respuesta.html.j2"),
    ),
    (
        "aviso_cierre_sin_respuesta.txt.j2",
        include_str!("../../config/templates/aviso_cierre_sin_respuesta.txt.j2"),
    ),
    (
        "aviso_cierre_sin_respuesta.html.j2",
        include_str!("../../config/templates/aviso_cierre_sin_respuesta.html.j2"),
    ),
];

/// The e-mail templates, loaded once (built-in, or from the configured folder).
#[derive(Debug, Clone)]
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from, for error messages: the operator's file or "incorporada".
    origins: BTreeMap<&'static str, String>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::builtin()
    }
}

impl Templates {
    /// The templates shipped in config/templates/.
    pub fn builtin() -> Templates {
        let mut env = environment();
        let mut origins = BTreeMap::new();
        for &(name, source) in BUILTIN {
            // Every built-in template is compiled by the tests; a failure here is a build defect.
            if let Err(e) = env.add_template(name, source) {
                panic!("built-in template {name} does not compile: {e:#}");
            }
            origins.insert(name, format!("incorporada {name}"));
        }
        Templates { env, origins }
    }

    /// The operator's templates in `dir`; a file that is not there falls back to the built-in
    /// one. A template with a syntax error is refused, naming the file and the line.
    pub fn load(dir: &Path) -> Result<Templates, OutgoingError> {
        if !dir.is_dir() {
            return Err(OutgoingError::Read {
                path: dir.display().to_string(),
                detail: "no es una carpeta (revise [general] plantillas, o déjela vacía para \
                         usar las plantillas incorporadas)"
                    .into(),
            });
        }
        warn_unknown_files(dir);
        let mut env = environment();
        let mut origins = BTreeMap::new();
        for &(name, builtin) in BUILTIN {
            let path = dir.join(name);
            let (source, origin) = match std::fs::read_to_string(&path) {
                Ok(text) => (text, path.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (builtin.to_string(), format!("incorporada {name}"))
                }
                Err(e) => {
                    return Err(OutgoingError::Read {
                        path: path.display().to_string(),
                        detail: format!("{e} (guárdela en UTF-8 y con permiso de lectura)"),
                    });
                }
            };
            env.add_template_owned(name, source).map_err(|e| OutgoingError::Template {
                name: origin.clone(),
                detail: format!(
                    "{} (corrija el archivo o bórrelo para usar la plantilla incorporada)",
                    describe(&e)
                ),
            })?;
            origins.insert(name, origin);
        }
        Ok(Templates { env, origins })
    }

    /// Text and HTML bodies of `kind` (e.g. `acuse_recibo`) for this context.
    pub fn render(&self, kind: &str, context: &Value) -> Result<(String, String), OutgoingError> {
        let text = self.render_one(&format!("{kind}.txt.j2"), context)?;
        let html = self.render_one(&format!("{kind}.html.j2"), context)?;
        Ok((tidy_text(&text), tidy_html(&html)))
    }

    fn render_one(&self, name: &str, context: &Value) -> Result<String, OutgoingError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|_| OutgoingError::MissingTemplate { name: name.to_string() })?;
        template.render(template_value(context)).map_err(|e| OutgoingError::Template {
            name: self.origins.get(name).cloned().unwrap_or_else(|| name.to_string()),
            detail: describe(&e),
        })
    }
}

/// The stored JSON context as a template value (minijinja's serde support is not enabled).
fn template_value(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                minijinja::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                minijinja::Value::from(u)
            } else {
                minijinja::Value::from(n.as_f64().unwrap_or_default())
            }
        }
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => items.iter().map(template_value).collect(),
        Value::Object(map) => {
            minijinja::Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), template_value(v))))
        }
    }
}

/// One environment for every template: HTML escaping for `.html.j2` only, undefined values
/// printed as nothing (also `a.b` of an undefined `a`), block tags that own their line leave no
/// blank line, and the Spanish filters.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") || name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let syntax =
        minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
    if let Ok(syntax) = syntax {
        env.set_syntax(syntax);
    }
    env.add_filter("tipo_documento", document_kind_label);
    env.add_filter("nombre_codigo", unique_code_name);
    env.add_filter("estado_dian", dian_status);
    env.add_filter("ambiente", environment_label);
    env.add_filter("nivel", level_label);
    env.add_filter("estado_caso", status_label);
    env.add_filter("categoria_seguridad", security_category_label);
    env.add_filter("fecha", date_label);
    env.add_filter("accion", action_label);
    env.add_filter("parrafos", paragraphs_html);
    env.add_filter("numero", number_label);
    env
}

/// `línea 3: syntax error: unexpected end of input`.
fn describe(error: &minijinja::Error) -> String {
    let line = error.line().map(|l| format!("línea {l}: ")).unwrap_or_default();
    match error.detail() {
        Some(detail) => format!("{line}{}: {detail}", error.kind()),
        None => format!("{line}{}", error.kind()),
    }
}

/// A `*.j2` in the folder that is none of ours is most likely a misspelt name: say so.
fn warn_unknown_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".j2") && !BUILTIN.iter().any(|(known, _)| *known == name) {
            tracing::warn!(
                plantilla = %name,
                "plantilla desconocida en la carpeta de plantillas; se ignora (revise el nombre)"
            );
        }
    }
}

/// Trailing spaces removed, runs of blank lines reduced to one, one final newline.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
    }
    out
}

fn tidy_html(html: &str) -> String {
    let mut out = html.trim().to_string();
    out.push('\n');
    out
}

fn as_text(value: &minijinja::Value) -> Option<String> {
    if value.is_undefined() || value.is_none() {
        return None;
    }
    let text = value.to_string();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `invoice` → `Factura electrónica de venta`.
fn document_kind_label(kind: minijinja::Value) -> String {
    let Some(kind) = as_text(&kind) else { return "Documento".into() };
    match kind.as_str() {
        "invoice" => "Factura electrónica de venta",
        "credit_note" => "Nota crédito",
        "debit_note" => "Nota débito",
        "documento_soporte" => "Documento soporte",
        "nota_ajuste_documento_soporte" => "Nota de ajuste del documento soporte",
        "attached_document" => "Contenedor electrónico (AttachedDocument)",
        "application_response" => "Respuesta de la DIAN (ApplicationResponse)",
        "nomina_individual" => "Nómina individual electrónica",
        "nomina_individual_ajuste" => "Nota de ajuste de nómina individual",
        "unknown_xml" => "Archivo XML no reconocido",
        other => return other.to_string(),
    }
    .into()
}

/// The name of the document's unique code: CUFE for invoices, CUDS for documento soporte,
/// CUNE for nómina, CUDE for notes and events.
fn unique_code_name(kind: minijinja::Value) -> String {
    match as_text(&kind).as_deref() {
        Some("invoice" | "attached_document") => "CUFE",
        Some("credit_note" | "debit_note" | "application_response") => "CUDE",
        Some("documento_soporte" | "nota_ajuste_documento_soporte") => "CUDS",
        Some("nomina_individual" | "nomina_individual_ajuste") => "CUNE",
        _ => "CUFE/CUDE",
    }
    .into()
}

/// The DIAN `ResponseCode`: 02 validated, 04 rejected.
fn dian_status(code: minijinja::Value) -> String {
    match as_text(&code).as_deref() {
        Some("02") => "validado".into(),
        Some("04") => "rechazado".into(),
        Some(other) => format!("respuesta con código {other}"),
        None => "sin respuesta de la DIAN entre los adjuntos".into(),
    }
}

fn environment_label(environment: minijinja::Value) -> String {
    match as_text(&environment).as_deref() {
        Some("produccion") => "producción".into(),
        Some("pruebas") => "pruebas (habilitación)".into(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn level_label(level: minijinja::Value) -> String {
    match as_text(&level).as_deref() {
        Some("n1") => "nivel 1".into(),
        Some("n2") => "nivel 2".into(),
        Some("n3") => "nivel 3".into(),
        Some("administracion_tecnica") => "Administración Técnica".into(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn status_label(status: minijinja::Value) -> String {
    let text = as_text(&status).unwrap_or_default();
    crate::desk::case::Status::parse(&text).map_or(text, |s| s.label().to_lowercase())
}

/// The procedure's security-event categories a–h.
fn security_category_label(category: minijinja::Value) -> String {
    let category = as_text(&category).map(|c| c.to_lowercase());
    match category.as_deref() {
        Some("a") => "control ineficaz",
        Some("b") => "violación de la integridad, confidencialidad o disponibilidad",
        Some("c") => "error humano",
        Some("d") => "incumplimiento de políticas",
        Some("e") => "violación de la seguridad física",
        Some("f") => "cambio no controlado",
        Some("g") => "mal funcionamiento del software o del hardware",
        Some("h") => "violación de acceso",
        Some(_) => "categoría no reconocida",
        None => "",
    }
    .into()
}

/// `2026-03-02T15:04:05Z` → `2026-03-02 10:04`: a stored timestamp (RFC 3339, or
/// `AAAA-MM-DD HH:MM:SS` in UTC) in the desk's time zone: `zona_horaria` of the context (a tz
/// name), else its `zona_horaria_horas` (an old fixed offset), else America/Bogota. Any other
/// text is shown as it came.
fn date_label(state: &minijinja::State<'_, '_>, value: minijinja::Value) -> String {
    use crate::desk::zone::Zone;
    let Some(text) = as_text(&value) else { return "(sin fecha)".into() };
    let named = state.lookup("zona_horaria").and_then(|v| v.as_str().and_then(Zone::named));
    let fixed = || {
        let hours = state.lookup("zona_horaria_horas")?;
        Zone::fixed_hours(i32::try_from(hours).ok()?)
    };
    let zone = named.or_else(fixed).unwrap_or_else(Zone::bogota);
    let utc = DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).or_else(|_| {
        ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .find_map(|format| chrono::NaiveDateTime::parse_from_str(&text, format).ok())
            .map(|naive| naive.and_utc())
            .ok_or(())
    });
    match utc {
        Ok(at) => zone.show(at),
        Err(()) => text,
    }
}

/// A person's text as HTML paragraphs: one `<p>` per blank-line-separated paragraph, its line
/// breaks as `<br>`, everything HTML-escaped. Outlook flattens a `white-space:pre-wrap` block
/// into one paragraph; real paragraphs survive every client.
fn paragraphs_html(text: minijinja::Value) -> minijinja::Value {
    let Some(text) = as_text(&text) else {
        return minijinja::Value::from_safe_string(String::new());
    };
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut html = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if !line.trim().is_empty() {
            paragraph.push(line.trim_end());
            continue;
        }
        if paragraph.is_empty() {
            continue;
        }
        let lines: Vec<String> = paragraph.drain(..).map(escape_html).collect();
        html.push_str(&format!("<p style=\"margin:0 0 10px 0;\">{}</p>\n", lines.join("<br>\n")));
    }
    minijinja::Value::from_safe_string(html)
}

/// The same escaping as every other value of an HTML template.
fn escape_html(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}

/// A quantity as people read it: `3` (never "3.0"), `1,5`. Text that is no number, as it came.
fn number_label(value: minijinja::Value) -> String {
    if let Ok(whole) = i64::try_from(value.clone()) {
        return whole.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(real) => crate::text::spanish_number(real),
        Err(_) => as_text(&value).unwrap_or_default(),
    }
}

/// What an action on a case is called: `escalar` → `escalamiento` (the `command` of a note).
fn action_label(command: minijinja::Value) -> String {
    let Some(command) = as_text(&command) else { return "acción".into() };
    match command.trim_start_matches('#') {
        "nota" => "nota",
        "solucion" => "solución",
        "escalar" => "escalamiento",
        "info" => "pregunta al solicitante",
        "asignar" => "asignación",
        "padre" => "vínculo con un caso padre",
        "cerrar" => "cierre",
        "reabrir" => "reapertura",
        "validacion" => "validación",
        "desconocido" => "comando no reconocido",
        other => return other.to_string(),
    }
    .into()
}

/// RFC 5322 bytes with Message-ID, In-Reply-To, References, Thread-Topic, Thread-Index,
/// Auto-Submitted: auto-replied (unless [`Outgoing::written_by_person`]) and
/// X-Auto-Response-Suppress: All, text + HTML alternative.
pub fn build(outgoing: &Outgoing) -> Result<Vec<u8>, OutgoingError> {
    let message_id = bracketed(&outgoing.message_id)
        .ok_or_else(|| OutgoingError::Build("falta el Message-ID".into()))?;
    let from_address = outgoing.from_address.trim().parse().map_err(|e| {
        OutgoingError::Build(format!("dirección de remitente {:?}: {e}", outgoing.from_address))
    })?;
    let from_name = Some(outgoing.from_name.trim().to_string()).filter(|n| !n.is_empty());
    let mut builder = Message::builder()
        .from(Mailbox::new(from_name, from_address))
        .subject(outgoing.subject.clone())
        .message_id(Some(message_id))
        .date_now();
    if outgoing.to.is_empty() {
        return Err(OutgoingError::Build("no hay destinatarios".into()));
    }
    for to in &outgoing.to {
        let mailbox: Mailbox = to
            .trim()
            .parse()
            .map_err(|e| OutgoingError::Build(format!("destinatario {to:?}: {e}")))?;
        builder = builder.to(mailbox);
    }
    if let Some(parent) = outgoing.in_reply_to.as_deref().and_then(bracketed) {
        builder = builder.in_reply_to(parent);
    }
    let references: Vec<String> = outgoing.references.iter().filter_map(|r| bracketed(r)).collect();
    if !references.is_empty() {
        // lettre replaces the header on each call: the whole chain goes in at once.
        builder = builder.references(references.join(" "));
    }
    if !outgoing.written_by_person {
        builder = builder.raw_header(raw_header("Auto-Submitted", "auto-replied"));
    }
    builder = builder.raw_header(raw_header("X-Auto-Response-Suppress", "All"));
    if !outgoing.thread_topic.trim().is_empty() {
        builder = builder.raw_header(raw_header("Thread-Topic", outgoing.thread_topic.trim()));
    }
    if !outgoing.thread_index.trim().is_empty() {
        builder = builder.raw_header(raw_header("Thread-Index", outgoing.thread_index.trim()));
    }
    let message = if outgoing.attachments.is_empty() {
        match &outgoing.html {
            Some(html) => builder
                .multipart(MultiPart::alternative_plain_html(outgoing.text.clone(), html.clone())),
            None => builder.singlepart(SinglePart::plain(outgoing.text.clone())),
        }
    } else {
        builder.multipart(with_attachments(outgoing)?)
    }
    .map_err(|e| OutgoingError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// multipart/mixed: the body (alternative text + HTML, or text), then each attached file.
fn with_attachments(outgoing: &Outgoing) -> Result<MultiPart, OutgoingError> {
    let mut mixed = match &outgoing.html {
        Some(html) => MultiPart::mixed()
            .multipart(MultiPart::alternative_plain_html(outgoing.text.clone(), html.clone())),
        None => MultiPart::mixed().singlepart(SinglePart::plain(outgoing.text.clone())),
    };
    for file in &outgoing.attachments {
        let content_type = lettre::message::header::ContentType::parse(&file.content_type)
            .or_else(|_| lettre::message::header::ContentType::parse("application/octet-stream"))
            .map_err(|e| OutgoingError::Build(e.to_string()))?;
        let name = file.name.rsplit('/').next().unwrap_or(&file.name).to_string();
        mixed = mixed.singlepart(
            lettre::message::Attachment::new(name).body(file.bytes.clone(), content_type),
        );
    }
    Ok(mixed)
}

fn raw_header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// `<id>` for `id` or `<id>`; `None` for an empty one.
fn bracketed(id: &str) -> Option<String> {
    let bare = id.trim().trim_start_matches('<').trim_end_matches('>').trim();
    (!bare.is_empty()).then(|| format!("<{bare}>"))
}

/// 100-ns ticks between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;
/// Header block: 1 reserved byte, 5 bytes of FILETIME, 16 bytes of GUID.
const THREAD_INDEX_HEADER_LEN: usize = 22;
const THREAD_INDEX_CHILD_LEN: usize = 5;
/// Longest index taken from a parent (Outlook keeps well under this).
const THREAD_INDEX_MAX_LEN: usize = THREAD_INDEX_HEADER_LEN + 100 * THREAD_INDEX_CHILD_LEN;

/// Outlook's `Thread-Index` ([MS-OXOMSG] 2.2.1.3, PidTagConversationIndex), base64.
///
/// Without a usable `parent`, a header block of 22 bytes: 0x01, the 40 most significant bits
/// of `now` as a FILETIME (big-endian), and a conversation GUID derived from
/// `conversation_seed` (the first 16 bytes of its SHA-256), so every message of one case lands
/// in one Outlook conversation. With a parent, the parent's bytes plus a 5-byte child block: the
/// time since the parent's header (delta code and 31 bits of it) and a byte derived from the
/// seed and the depth. Deterministic for the same inputs.
///
/// `parent` is the requester's own `Thread-Index` when they sent one (Outlook), so the answer
/// lands in their conversation rather than starting one of ours.
pub fn thread_index(parent: Option<&str>, now: DateTime<Utc>, conversation_seed: &[u8]) -> String {
    thread_index_of(parent, now, conversation_seed, conversation_seed)
}

/// [`thread_index`], with the last byte of a child block taken from `message_seed` (e.g. the
/// Message-ID) as well: two answers to the same message at the same instant (an acknowledgement
/// and a request for information) get different indexes, which Outlook needs to tell them apart.
pub fn thread_index_of(
    parent: Option<&str>,
    now: DateTime<Utc>,
    conversation_seed: &[u8],
    message_seed: &[u8],
) -> String {
    let ticks = filetime(now);
    let parent = parent.and_then(decode_thread_index);
    let bytes = match parent {
        Some(mut bytes) => {
            let child = child_block(&bytes, ticks, message_seed);
            bytes.extend_from_slice(&child);
            bytes
        }
        None => header_block(ticks, conversation_seed),
    };
    BASE64.encode(bytes)
}

/// 100-ns ticks since 1601-01-01 UTC; 0 before that.
fn filetime(now: DateTime<Utc>) -> u64 {
    let secs = i128::from(now.timestamp()) + i128::from(FILETIME_UNIX_OFFSET_SECS);
    let ticks = secs * 10_000_000 + i128::from(now.timestamp_subsec_nanos() / 100);
    u64::try_from(ticks.max(0)).unwrap_or(u64::MAX)
}

fn header_block(ticks: u64, seed: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(THREAD_INDEX_HEADER_LEN);
    bytes.push(0x01);
    bytes.extend_from_slice(&ticks.to_be_bytes()[..5]);
    bytes.extend_from_slice(&Sha256::digest(seed)[..16]);
    bytes
}

/// A parent index we can extend: base64 of a 22-byte header plus whole 5-byte child blocks,
/// starting with the reserved 0x01.
fn decode_thread_index(parent: &str) -> Option<Vec<u8>> {
    let compact: String = parent.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = BASE64.decode(compact).ok()?;
    let well_formed = bytes.len() >= THREAD_INDEX_HEADER_LEN
        && bytes.len() <= THREAD_INDEX_MAX_LEN
        && (bytes.len() - THREAD_INDEX_HEADER_LEN).is_multiple_of(THREAD_INDEX_CHILD_LEN)
        && bytes[0] == 0x01;
    well_formed.then_some(bytes)
}

/// Delta code 0: bits 18..49 of the time since the header; delta code 1 (the difference does
/// not fit, about 1.7 years or more): bits 23..54. The last byte tells siblings apart.
fn child_block(parent: &[u8], ticks: u64, seed: &[u8]) -> [u8; 5] {
    let mut header_time = [0u8; 8];
    header_time[..5].copy_from_slice(&parent[1..6]);
    let diff = ticks.saturating_sub(u64::from_be_bytes(header_time));
    let field = if diff >> 49 == 0 {
        u32::try_from((diff >> 18) & 0x7FFF_FFFF).unwrap_or(0)
    } else {
        0x8000_0000 | u32::try_from((diff >> 23) & 0x7FFF_FFFF).unwrap_or(0x7FFF_FFFF)
    };
    let depth = (parent.len() - THREAD_INDEX_HEADER_LEN) / THREAD_INDEX_CHILD_LEN;
    let mut hasher = Sha256::new();
    hasher.update(seed);
    hasher.update(depth.to_be_bytes());
    let tail = hasher.finalize()[0];
    let [a, b, c, d] = field.to_be_bytes();
    [a, b, c, d, tail]
}

/// Outlook's `Thread-Topic`: the subject without reply prefixes (RE:, RV:, FW:, Fwd:, TR:,
/// AW:, "Respuesta automática:" …) and without our `[FE-…]` tags, wherever they are.
pub fn thread_topic(subject: &str) -> String {
    let untagged = subject::strip_case_tags(subject);
    subject::strip_reply_prefixes(&untagged).split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders;
    use serde_json::json;

    fn acuse_context() -> Value {
        json!({
            "case": "FE-2026-000123",
            "tema": "factura_electronica",
            "tema_label": "Factura electrónica de venta",
            "status": "en_atencion",
            "level": "n2",
            "requester_name": "Facturación Ñandú S.A.S.",
            "documents": [
                {"kind": "invoice", "number": "SETP990000123",
                 "uuid": "8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179179e9b33381030bcd4c3c3f156c506ed5908f9276f5bd9b4",
                 "response_code": "04", "environment": "pruebas"},
                {"kind": "credit_note", "number": "NC-77", "uuid": "c0ffee", "response_code": "02",
                 "environment": "produccion"}
            ],
            "rejections": [
                {"code": "FAD06", "description": "Valor del CUFE no está calculado correctamente."},
                {"code": "RUT01", "description": "La validación del estado del RUT próximamente estará disponible.", "notification": true}
            ],
            "known_errors": [],
            "missing": [],
            "attachment_problems": [
                {"source": "factura.zip/anexo.pdf", "problem": "el archivo está dañado"}
            ],
            "group": "n2_factura",
            "agent": "ana@mesa.example.co",
            "known_error_answers": [],
            "buzon_address": "aliados@mesa.example.co",
            "desk_name": "Mesa de Ayuda FE",
        })
    }

    fn agent_context() -> Value {
        let mut context = acuse_context();
        context["requester"] = json!("soporte@nandu.example.co");
        context["own_words"] = json!(
            "Buen día, la factura fue rechazada <script>alert('x')</script> & no sabemos por qué."
        );
        context["security_category"] = json!("h");
        context["missing"] = json!([{"item": "evidencia", "description": "un pantallazo o PDF que muestre el error"}]);
        context
    }

    #[test]
    fn acuse_recibo_lists_documents_status_and_bad_attachments() {
        let (text, html) = Templates::builtin().render("acuse_recibo", &acuse_context()).unwrap();
        for part in [&text, &html] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("Factura electrónica de venta"), "{part}");
            assert!(part.contains("SETP990000123"), "{part}");
            assert!(part.contains("8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179"), "{part}");
            assert!(part.contains("rechazado"), "{part}");
            assert!(part.contains("validado"), "{part}");
            assert!(part.contains("CUDE"), "{part}");
            assert!(part.contains("anexo.pdf: el archivo está dañado"), "{part}");
            assert!(part.contains("envíelos de nuevo"), "{part}");
            assert!(part.contains("nivel 2"), "{part}");
            assert!(part.contains("[FE-2026-000123]"), "{part}");
            assert!(part.contains("FAD06"), "{part}");
        }
        assert!(
            text.starts_with("Estimado(a) Facturación Ñandú S.A.S.:\n\nCordial saludo."),
            "{text}"
        );
        assert!(text.contains("factura.zip/anexo.pdf"), "{text}");
        assert!(!text.contains("\n\n\n"), "{text}");
        assert!(html.contains("<table"), "{html}");
    }

    #[test]
    fn acuse_recibo_of_a_security_event_says_only_the_case_number() {
        let mut context = acuse_context();
        context["security_category"] = json!("b");
        let (text, html) = Templates::builtin().render("acuse_recibo", &context).unwrap();
        for part in [&text, &html] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(!part.contains("SETP990000123"), "{part}");
            assert!(!part.contains("FAD06"), "{part}");
        }
    }

    #[test]
    fn solicitud_informacion_lists_each_missing_item() {
        let mut context = acuse_context();
        context["missing"] = json!([
            {"item": "nit", "description": "el NIT del facturador o de la empresa (por ejemplo, NIT 900.123.456-7)"},
            {"item": "xml", "description": "el archivo XML del documento (AttachedDocument o la respuesta de la DIAN)"}
        ]);
        let (text, html) = Templates::builtin().render("solicitud_informacion", &context).unwrap();
        assert!(text.contains("FE-2026-000123"));
        assert!(text.contains(
            "- el NIT del facturador o de la empresa (por ejemplo, NIT 900.123.456-7)\n"
        ));
        assert!(text.contains(
            "- el archivo XML del documento (AttachedDocument o la respuesta de la DIAN)\n"
        ));
        assert!(text.contains("factura.zip/anexo.pdf: el archivo está dañado"));
        assert!(text.contains("Responda a este mismo mensaje"));
        assert!(html.contains(
            "<li>el NIT del facturador o de la empresa (por ejemplo, NIT 900.123.456-7)</li>"
        ));
        assert!(html.contains("FE-2026-000123"));
    }

    #[test]
    fn respuesta_error_conocido_carries_each_answer() {
        let mut context = acuse_context();
        context["known_errors"] = json!(["FAD06"]);
        context["known_error_answers"] = json!([{
            "code": "FAD06",
            "official_message": "Valor del CUFE no está calculado correctamente.",
            "meaning": "El hash que la DIAN recalcula no coincide con cbc:UUID.",
            "answer": "Verifique la clave técnica del rango de numeración.\nVuelva a generar el CUFE y reenvíe.",
        }]);
        let (text, html) =
            Templates::builtin().render("respuesta_error_conocido", &context).unwrap();
        for part in [&text, &html] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("FAD06"), "{part}");
            assert!(part.contains("Valor del CUFE no está calculado correctamente."), "{part}");
            assert!(part.contains("El hash que la DIAN recalcula"), "{part}");
            assert!(part.contains("Verifique la clave técnica del rango de numeración."), "{part}");
            assert!(part.contains("especialista"), "{part}");
        }
        assert!(text.contains("Si esto no lo resuelve, responda a este correo"));
    }

    #[test]
    fn notificacion_agente_shows_summary_words_and_commands_with_html_escaped() {
        let (text, html) =
            Templates::builtin().render("notificacion_agente", &agent_context()).unwrap();
        for part in [&text, &html] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("EVENTO DE SEGURIDAD"), "{part}");
            assert!(part.contains("violación de acceso"), "{part}");
            assert!(part.contains("n2_factura"), "{part}");
            assert!(part.contains("nivel 2"), "{part}");
            assert!(part.contains("soporte@nandu.example.co"), "{part}");
            assert!(part.contains("SETP990000123"), "{part}");
            assert!(part.contains("FAD06"), "{part}");
            assert!(part.contains("un pantallazo o PDF que muestre el error"), "{part}");
            for command in [
                "#nota",
                "#solucion",
                "#escalar",
                "#info",
                "#asignar",
                "#padre",
                "#cerrar",
                "#reabrir",
            ] {
                assert!(part.contains(command), "{command} in {part}");
            }
        }
        assert!(text.contains("<script>alert('x')</script> & no sabemos"), "{text}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&amp; no sabemos"), "{html}");
        assert!(
            html.contains("Facturación Ñandú S.A.S. &lt;soporte@nandu.example.co&gt;"),
            "{html}"
        );
        // The security banner comes first.
        assert!(text.starts_with("*** EVENTO DE SEGURIDAD"), "{text}");
    }

    /// The text with every run of whitespace as one space: phrases that the templates wrap
    /// across lines are found whole.
    fn flat(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// A solution with more than one line, a character HTML must escape and another system's ticket.
    fn solucion_context() -> Value {
        let mut context = acuse_context();
        context["status"] = json!("solucionado");
        context["text"] = json!(
            "Regenere el CUFE con la clave técnica del rango SETP.\n\
             Luego reenvíe la factura SETP990000123 y verifique que el estado sea <02>."
        );
        context["external_ref"] = json!("CSAT-88412");
        context["follow_up_days"] = json!(5);
        context
    }

    #[test]
    fn solucion_carries_the_text_and_how_to_reopen() {
        let (text, html) = Templates::builtin().render("solucion", &solucion_context()).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("[FE-2026-000123]"), "{part}");
            assert!(
                part.contains("Regenere el CUFE con la clave técnica del rango SETP."),
                "{part}"
            );
            assert!(part.contains("dentro de los 5 días hábiles siguientes"), "{part}");
            assert!(part.contains("reabriremos su caso"), "{part}");
            assert!(part.contains("el caso se cerrará"), "{part}");
            assert!(part.contains("CSAT-88412"), "{part}");
            assert!(part.contains("Factura electrónica de venta SETP990000123"), "{part}");
            assert!(part.contains("responda a este mismo correo"), "{part}");
        }
        // Both lines of the solution, as written; escaped in HTML.
        assert!(
            text.contains(
                "Regenere el CUFE con la clave técnica del rango SETP.\n\
                 Luego reenvíe la factura SETP990000123 y verifique que el estado sea <02>.\n"
            ),
            "{text}"
        );
        assert!(html.contains("el estado sea &lt;02&gt;."), "{html}");
        assert!(text.starts_with("Estimado(a) Facturación Ñandú S.A.S.:\n\nCordial saludo."));
        assert!(!text.contains("\n\n\n"), "{text}");
        // The requester's own words are never echoed back.
        assert!(!text.contains("own_words"), "{text}");
    }

    #[test]
    fn a_persons_words_carry_no_automatic_note_and_keep_their_paragraphs_in_html() {
        let templates = Templates::builtin();
        let mut context = solucion_context();
        context["text"] = json!(
            "Buen día.\n\nRegenere el CUFE con la clave técnica.\nLuego reenvíe la factura <SETP>.\n\n\
             Quedo atento."
        );
        context["signed_by"] = json!("Ana Rojas");
        for kind in ["solucion", "pregunta_solicitante"] {
            let (text, html) = templates.render(kind, &context).unwrap();
            for part in [&text, &html] {
                assert!(!part.contains("automático"), "{kind}: {part}");
                assert!(part.contains("Ana Rojas"), "{kind}: {part}");
            }
            assert!(!html.contains("pre-wrap"), "{kind}: {html}");
            assert!(html.contains(">Buen día.</p>"), "{kind}: {html}");
            assert!(
                html.contains(
                    ">Regenere el CUFE con la clave técnica.<br>\n\
                     Luego reenvíe la factura &lt;SETP&gt;.</p>"
                ),
                "{kind}: {html}"
            );
            assert!(html.contains(">Quedo atento.</p>"), "{kind}: {html}");
            assert!(text.contains("Buen día.\n\nRegenere el CUFE"), "{kind}: {text}");
        }
        // What the desk writes on its own still says so.
        let (text, html) = templates.render("acuse_recibo", &acuse_context()).unwrap();
        assert!(text.contains("Este es un mensaje automático"), "{text}");
        assert!(html.contains("Este es un mensaje automático"), "{html}");
    }

    #[test]
    fn paragraphs_escape_everything_and_skip_empty_text() {
        let rendered = paragraphs_html(minijinja::Value::from("a & b\r\n\r\n\r\n<c>\n\"d\""));
        assert_eq!(
            rendered.to_string(),
            "<p style=\"margin:0 0 10px 0;\">a &amp; b</p>\n\
             <p style=\"margin:0 0 10px 0;\">&lt;c&gt;<br>\n&quot;d&quot;</p>\n"
        );
        assert_eq!(paragraphs_html(minijinja::Value::from("  \n ")).to_string(), "");
        assert_eq!(paragraphs_html(minijinja::Value::from(())).to_string(), "");
    }

    #[test]
    fn business_days_read_as_whole_days_or_with_a_decimal_comma() {
        let templates = Templates::builtin();
        let mut context = solucion_context();
        for (days, expected) in [
            (json!(3.0), "dentro de los 3 días hábiles"),
            (json!(1.5), "dentro de los 1,5 días hábiles"),
        ] {
            context["follow_up_days"] = days;
            let (text, html) = templates.render("solucion", &context).unwrap();
            for part in [&flat(&text), &flat(&html)] {
                assert!(part.contains(expected), "{part}");
                assert!(!part.contains("3.0 días") && !part.contains("1.5 días"), "{part}");
            }
        }
    }

    #[test]
    fn a_persons_letter_goes_without_auto_submitted_but_keeps_the_oof_suppression() {
        let outgoing = Outgoing { written_by_person: true, ..sample_outgoing() };
        let bytes = build(&outgoing).unwrap();
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert!(message.header_raw("Auto-Submitted").is_none());
        assert_eq!(message.header_raw("X-Auto-Response-Suppress").map(str::trim), Some("All"));
        assert!(message.message_id().is_some_and(|id| id.starts_with("FE-2026-000123.")));
    }

    #[test]
    fn solucion_says_one_business_day_or_no_term_at_all() {
        let templates = Templates::builtin();
        let mut context = solucion_context();
        context["follow_up_days"] = json!(1);
        let (text, html) = templates.render("solucion", &context).unwrap();
        assert!(text.contains("dentro del día hábil siguiente"), "{text}");
        assert!(html.contains("dentro del día hábil siguiente"), "{html}");
        context.as_object_mut().unwrap().remove("follow_up_days");
        let (text, html) = templates.render("solucion", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(!part.contains("hábil"), "{part}");
            assert!(part.contains("reabriremos su caso"), "{part}");
            assert!(part.contains("el caso se cerrará"), "{part}");
        }
    }

    #[test]
    fn solucion_of_a_security_event_shows_the_text_and_no_other_detail() {
        let mut context = solucion_context();
        context["security_category"] = json!("b");
        let (text, html) = Templates::builtin().render("solucion", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(
                part.contains("Regenere el CUFE con la clave técnica del rango SETP."),
                "{part}"
            );
            assert!(part.contains("5 días hábiles"), "{part}");
            assert!(!part.contains("Factura electrónica de venta"), "{part}");
            assert!(!part.contains("Documentos del caso"), "{part}");
            assert!(!part.contains("CSAT-88412"), "{part}");
            assert!(!part.contains("FAD06"), "{part}");
            assert!(!part.contains("categoría"), "{part}");
        }
    }

    #[test]
    fn waiting_mails_give_the_closure_date_and_the_holder_the_reason() {
        let templates = Templates::builtin();
        let mut context = acuse_context();
        context["status"] = json!("pendiente_informacion");
        context["text"] = json!("2026-12-18");
        let (text, html) = templates.render("recordatorio_informacion", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("[FE-2026-000123]"), "{part}");
            assert!(part.contains("el caso se cerrará el"), "{part}");
            assert!(part.contains("2026-12-18"), "{part}");
        }
        context["status"] = json!("cerrado");
        let (text, html) = templates.render("cierre_sin_respuesta", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("el caso queda cerrado"), "{part}");
        }
        context["text"] = json!("Cerrado sin respuesta del solicitante: 10 días hábiles.");
        let (text, html) = templates.render("aviso_cierre_sin_respuesta", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(
                part.contains("Cerrado sin respuesta del solicitante: 10 días hábiles."),
                "{part}"
            );
            assert!(part.contains("FE-2026-000123"), "{part}");
        }
    }

    #[test]
    fn pregunta_solicitante_asks_to_reply_keeping_the_case_tag() {
        let mut context = acuse_context();
        context["status"] = json!("pendiente_informacion");
        context["text"] = json!(
            "¿Con qué software generó la factura?\nAdjunte también el XML de la nota crédito NC-77."
        );
        let (text, html) = Templates::builtin().render("pregunta_solicitante", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("¿Con qué software generó la factura?"), "{part}");
            assert!(part.contains("Adjunte también el XML de la nota crédito NC-77."), "{part}");
            assert!(part.contains("Responda a este mismo correo"), "{part}");
            assert!(part.contains("[FE-2026-000123]"), "{part}");
            assert!(part.contains("No cambie el asunto"), "{part}");
        }
        assert!(
            text.contains(
                "¿Con qué software generó la factura?\n\
                 Adjunte también el XML de la nota crédito NC-77.\n"
            ),
            "{text}"
        );
        assert!(!text.contains("\n\n\n"), "{text}");
    }

    fn aviso_context() -> Value {
        let mut context = solucion_context();
        context["level"] = json!("n3");
        context["solved_level"] = json!("n3");
        context["actor"] = json!("luis.perez@mesa.example.co");
        context["actor_name"] = json!("Luis Pérez");
        context["path"] = json!([
            {"level": "n1", "group": "n1_contact_center", "agent": null},
            {"level": "n2", "group": "n2_factura", "agent": "ana@mesa.example.co"},
            {"level": "n3", "group": "n3_validacion", "agent": "luis.perez@mesa.example.co"}
        ]);
        context["redacted"] = json!(false);
        context
    }

    #[test]
    fn aviso_solucion_names_who_solved_it_the_path_and_the_solution() {
        let (text, html) = Templates::builtin().render("aviso_solucion", &aviso_context()).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("solucionado"), "{part}");
            assert!(part.contains("nivel 3"), "{part}");
            assert!(
                part.contains("Regenere el CUFE con la clave técnica del rango SETP."),
                "{part}"
            );
            assert!(part.contains("n1_contact_center"), "{part}");
            assert!(part.contains("n2_factura"), "{part}");
            assert!(part.contains("n3_validacion"), "{part}");
            assert!(part.contains("ana@mesa.example.co"), "{part}");
            assert!(part.contains("FAD06"), "{part}");
        }
        assert!(text.contains("- Solucionado por: Luis Pérez <luis.perez@mesa.example.co>"));
        assert!(text.contains("- nivel 1: n1_contact_center\n"), "{text}");
        assert!(text.contains("- nivel 2: n2_factura, ana@mesa.example.co\n"), "{text}");
        assert!(html.contains("Luis Pérez &lt;luis.perez@mesa.example.co&gt;"), "{html}");
        assert!(html.contains("&lt;02&gt;"), "{html}");
        // The path comes in the order the case went.
        let (n1, n3) =
            (text.find("n1_contact_center").unwrap(), text.find("n3_validacion").unwrap());
        assert!(n1 < n3, "{text}");
    }

    #[test]
    fn aviso_solucion_redacted_says_only_the_case_number() {
        let mut context = aviso_context();
        context["security_category"] = json!("h");
        context["redacted"] = json!(true);
        let (text, html) = Templates::builtin().render("aviso_solucion", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("EVENTO DE SEGURIDAD"), "{part}");
            assert!(part.contains("grupo de seguridad"), "{part}");
            assert!(part.contains("no incluye detalles"), "{part}");
            for secret in [
                "Regenere el CUFE",
                "n2_factura",
                "ana@mesa.example.co",
                "luis.perez",
                "SETP990000123",
                "FAD06",
                "Factura electrónica de venta",
                "violación de acceso",
                "Facturación Ñandú",
            ] {
                assert!(!part.contains(secret), "{secret} in {part}");
            }
        }
    }

    fn paquete_context() -> Value {
        let mut context = acuse_context();
        context["level"] = json!("administracion_tecnica");
        context["status"] = json!("escalado");
        context["subject"] = json!("Factura SETP990000123 rechazada por FAD06");
        context["description"] = json!(
            "Buenas tardes, desde ayer todas nuestras facturas salen rechazadas con FAD06 & no \
             cambiamos nada en el software."
        );
        context["requester"] = json!("soporte@nandu.example.co");
        context["diagnosis"] = json!([{
            "author": "ana@mesa.example.co",
            "text": "El CUFE del XML no coincide con el recalculado.\nLa clave técnica es la del rango vigente.",
            "created_at": "2026-03-02T15:04:05Z",
        }]);
        context["notes"] = json!([
            {"author": "ana@mesa.example.co", "level": "n2", "command": "nota",
             "text": "El CUFE del XML no coincide con el recalculado.", "created_at": "2026-03-02T15:04:05Z"},
            {"author": "ana@mesa.example.co", "level": "n2", "command": "escalar",
             "text": "Necesita revisión del validador.", "created_at": "2026-03-02T16:30:00Z"},
            {"author": "luis.perez@mesa.example.co", "level": "n3", "command": "escalar",
             "text": "El validador recalcula con otra versión del anexo técnico.", "created_at": "2026-03-03T14:00:00Z"}
        ]);
        context["text"] = json!("El validador recalcula con otra versión del anexo técnico.");
        context["actor"] = json!("luis.perez@mesa.example.co");
        context["redacted"] = json!(false);
        context
    }

    #[test]
    fn paquete_administracion_tecnica_carries_what_csat_needs_and_how_to_answer() {
        let (text, html) = Templates::builtin()
            .render("paquete_administracion_tecnica", &paquete_context())
            .unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("PR-IIT-0458"), "{part}");
            assert!(part.contains("Administración Técnica"), "{part}");
            assert!(part.contains("Factura SETP990000123 rechazada por FAD06"), "{part}");
            assert!(part.contains("desde ayer todas nuestras facturas salen rechazadas"), "{part}");
            assert!(part.contains("Facturación Ñandú S.A.S."), "{part}");
            assert!(part.contains("soporte@nandu.example.co"), "{part}");
            assert!(part.contains("Factura electrónica de venta"), "{part}");
            assert!(part.contains("8bb918b19ba22a694f1da11c643b5e9de39adf60311cf179"), "{part}");
            assert!(part.contains("FAD06"), "{part}");
            assert!(part.contains("La clave técnica es la del rango vigente."), "{part}");
            assert!(part.contains("Necesita revisión del validador."), "{part}");
            assert!(part.contains("El validador recalcula con otra versión"), "{part}");
            assert!(part.contains("luis.perez@mesa.example.co"), "{part}");
            assert!(part.contains("adjuntos a este correo"), "{part}");
            // Dates in the desk's time zone (Colombia, UTC−5).
            assert!(part.contains("2026-03-02 10:04"), "{part}");
            assert!(part.contains("2026-03-03 09:00"), "{part}");
            assert!(part.contains("escalamiento"), "{part}");
            for command in ["#solucion", "#nota", "#info"] {
                assert!(part.contains(command), "{command} in {part}");
            }
            assert!(part.contains("[FE-2026-000123]"), "{part}");
            assert!(part.contains("su propio ticket"), "{part}");
        }
        // The history in the order it happened; multi-line notes stay indented under their entry.
        let first = text.find("Necesita revisión del validador.").unwrap();
        let second = text.find("- 2026-03-03 09:00, nivel 3, luis.perez@mesa.example.co").unwrap();
        assert!(first < second, "{text}");
        assert!(
            text.contains(
                "  El CUFE del XML no coincide con el recalculado.\n  La clave técnica es la del rango vigente.\n"
            ),
            "{text}"
        );
        assert!(html.contains("&amp; no cambiamos nada"), "{html}");
        assert!(!text.contains("\n\n\n"), "{text}");
    }

    #[test]
    fn paquete_administracion_tecnica_redacted_says_only_the_case_number() {
        let mut context = paquete_context();
        context["security_category"] = json!("e");
        context["redacted"] = json!(true);
        let (text, html) =
            Templates::builtin().render("paquete_administracion_tecnica", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("EVENTO DE SEGURIDAD"), "{part}");
            assert!(part.contains("no incluye detalles"), "{part}");
            for secret in [
                "desde ayer",
                "Factura SETP990000123 rechazada",
                "SETP990000123",
                "FAD06",
                "El CUFE del XML",
                "Necesita revisión",
                "El validador recalcula",
                "soporte@nandu.example.co",
                "Facturación Ñandú",
                "adjuntos",
                "violación de la seguridad física",
            ] {
                assert!(!part.contains(secret), "{secret} in {part}");
            }
        }
    }

    #[test]
    fn respuesta_comando_explains_first_then_lists_the_valid_commands() {
        let mut context = acuse_context();
        context["text"] = json!("El comando «#escalr» no existe.");
        context["received"] = json!("#escalr <urgente>");
        context["commands"] = json!([
            {"command": "#nota", "description": "nota interna (en nivel 2 es el diagnóstico)"},
            {"command": "#escalar", "description": "pasa el caso al siguiente nivel; escriba el motivo"},
            {"command": "#cerrar", "description": "cierra el caso."}
        ]);
        let (text, html) = Templates::builtin().render("respuesta_comando", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("no se aplicó"), "{part}");
            assert!(part.contains("El comando «#escalr» no existe."), "{part}");
            assert!(part.contains("pasa el caso al siguiente nivel; escriba el motivo."), "{part}");
            assert!(part.contains("cierra el caso."), "{part}");
            assert!(!part.contains("cierra el caso.."), "{part}");
            assert!(!part.contains("#reabrir"), "only the commands given: {part}");
            let explanation = part.find("«#escalr» no existe").unwrap();
            let commands = part.find("Comandos válidos").unwrap();
            assert!(explanation < commands, "{part}");
        }
        assert!(text.contains("- #escalar: pasa el caso al siguiente nivel; escriba el motivo.\n"));
        assert!(text.contains("  #escalr <urgente>\n"), "{text}");
        assert!(html.contains("#escalr &lt;urgente&gt;"), "{html}");
        // Without a list, the usual commands.
        context.as_object_mut().unwrap().remove("commands");
        let (text, _) = Templates::builtin().render("respuesta_comando", &context).unwrap();
        for command in ["#nota", "#solucion", "#escalar", "#info", "#asignar", "#padre", "#cerrar"]
        {
            assert!(text.contains(command), "{command} in {text}");
        }
    }

    #[test]
    fn validacion_masiva_is_a_short_yes_or_no_question() {
        let mut context = acuse_context();
        context["case"] = json!("FE-2026-000131");
        context["parent_case"] = json!("FE-2026-000120");
        context["status"] = json!("solucionado");
        let (text, html) = Templates::builtin().render("validacion_masiva", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000131"), "{part}");
            assert!(part.contains("[FE-2026-000131]"), "{part}");
            assert!(part.contains("FE-2026-000120"), "{part}");
            assert!(part.contains("¿Se resolvió su caso?"), "{part}");
            assert!(part.contains("«sí» o «no»"), "{part}");
            assert!(part.contains("Responda a este mismo correo"), "{part}");
            assert!(!part.contains("SETP990000123"), "{part}");
        }
        assert!(text.lines().count() <= 20, "short: {text}");
    }

    #[test]
    fn sugerencia_masiva_lists_the_cases_and_how_to_link_them() {
        let mut context = acuse_context();
        context["case"] = json!("FE-2026-000131");
        context["code"] = json!("FAD06");
        context["description"] = json!("Valor del CUFE no está calculado correctamente.");
        context["window_minutes"] = json!(60);
        context["threshold"] = json!(3);
        context["cases"] = json!([
            {"number": "FE-2026-000120", "subject": "Factura rechazada FAD06", "created_at": "2026-03-02T14:10:00Z"},
            {"number": "FE-2026-000127", "subject": "Rechazo <urgente>", "created_at": "2026-03-02T14:35:00Z"},
            {"number": "FE-2026-000131", "subject": "", "created_at": "2026-03-02T15:01:00Z"}
        ]);
        let (text, html) = Templates::builtin().render("sugerencia_masiva", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("afectación masiva"), "{part}");
            assert!(part.contains("FAD06"), "{part}");
            assert!(part.contains("Valor del CUFE no está calculado correctamente."), "{part}");
            assert!(part.contains("60 minutos"), "{part}");
            assert!(part.contains("desde 3 casos"), "{part}");
            for number in ["FE-2026-000120", "FE-2026-000127", "FE-2026-000131"] {
                assert!(part.contains(number), "{number} in {part}");
            }
            assert!(part.contains("Factura rechazada FAD06"), "{part}");
            assert!(part.contains("2026-03-02 09:10"), "{part}");
            assert!(part.contains("#padre FE-AAAA-NNNNNN"), "{part}");
            assert!(part.contains("#padre FE-2026-000120"), "{part}");
            assert!(part.contains("mesa-fe case link FE-2026-000127 FE-2026-000120"), "{part}");
            assert!(part.contains("solo una sugerencia"), "{part}");
            assert!(part.contains("no vinculó ni unió ningún caso"), "{part}");
        }
        assert!(text.contains("mesa-fe case link <hijo> <padre> --agente correo"), "{text}");
        assert!(html.contains("Rechazo &lt;urgente&gt;"), "{html}");
        assert!(text.contains("- FE-2026-000131 (2026-03-02 10:01): (sin asunto)\n"), "{text}");
    }

    /// A note written at 03:00 UTC reads in the agent's mail as 22:00 of the day before in
    /// Bogotá, from the zone the outbox puts in the context; another zone, its own hour.
    #[test]
    fn a_mail_shows_its_dates_in_the_desk_zone() {
        let mut context = agent_context();
        context["security_category"] = Value::Null;
        context["redacted"] = json!(false);
        context["notes"] = json!([
            {"author": "ana@mesa.example.co", "level": "n2", "command": "nota",
             "text": "Revisé la clave técnica.", "created_at": "2026-12-07T03:00:00Z"}
        ]);
        context["zona_horaria"] = json!("America/Bogota");
        context["zona_horaria_horas"] = json!(-5);
        let (text, html) = Templates::builtin().render("notificacion_agente", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(
                part.contains("2026-12-06 22:00, nivel 2, ana@mesa.example.co: nota"),
                "{part}"
            );
            assert!(!part.contains("2026-12-07 03:00"), "{part}");
        }
        // The zone's name wins over an old offset: Madrid in winter is UTC+1.
        context["zona_horaria"] = json!("Europe/Madrid");
        let (text, _) = Templates::builtin().render("notificacion_agente", &context).unwrap();
        assert!(flat(&text).contains("2026-12-07 04:00, nivel 2"), "{text}");
    }

    #[test]
    fn notificacion_agente_shows_reason_origin_and_history() {
        let mut context = agent_context();
        context["security_category"] = Value::Null;
        context["level"] = json!("n3");
        context["reason"] =
            json!("El CUFE recalculado no coincide; necesita revisión del validador.");
        context["from_level"] = json!("n2");
        context["notes"] = json!([
            {"author": "ana@mesa.example.co", "level": "n2", "command": "nota",
             "text": "Revisé la clave técnica.\nEs la del rango vigente.", "created_at": "2026-03-02T15:04:05Z"},
            {"author": "ana@mesa.example.co", "level": "n2", "command": "escalar",
             "text": "El CUFE recalculado no coincide; necesita revisión del validador.",
             "created_at": "2026-03-02T16:30:00Z"}
        ]);
        let (text, html) = Templates::builtin().render("notificacion_agente", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("Por qué le llega este caso"), "{part}");
            assert!(part.contains("necesita revisión del validador"), "{part}");
            assert!(part.contains("Viene de"), "{part}");
            assert!(part.contains("nivel 2"), "{part}");
            assert!(part.contains("nivel 3"), "{part}");
            assert!(part.contains("Historial"), "{part}");
            assert!(
                part.contains("2026-03-02 10:04, nivel 2, ana@mesa.example.co: nota"),
                "{part}"
            );
            assert!(part.contains("2026-03-02 11:30, nivel 2, ana@mesa.example.co: escalamiento"));
            assert!(part.contains("Es la del rango vigente."), "{part}");
            assert!(part.contains("#escalar"), "{part}");
            assert!(!part.contains("#tipo"), "{part}");
        }
        // The reason comes before the summary; the history after the requester's words.
        let reason = text.find("Por qué le llega este caso").unwrap();
        assert!(reason < text.find("Resumen").unwrap(), "{text}");
        assert!(text.find("Palabras del solicitante").unwrap() < text.find("Historial").unwrap());
        assert!(text.contains("- Viene de: nivel 2\n"), "{text}");
        assert!(
            text.contains("  Revisé la clave técnica.\n  Es la del rango vigente.\n"),
            "{text}"
        );
        // Without the new variables nothing of it shows.
        let (text, html) =
            Templates::builtin().render("notificacion_agente", &agent_context()).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(!part.contains("Por qué le llega"), "{part}");
            assert!(!part.contains("Viene de"), "{part}");
            assert!(!part.contains("Historial"), "{part}");
        }
    }

    #[test]
    fn notificacion_agente_redacted_says_case_level_and_security_only() {
        let mut context = agent_context();
        context["redacted"] = json!(true);
        context["level"] = json!("n3");
        context["reason"] = json!("Acceso indebido al portal de facturación.");
        context["notes"] = json!([{"author": "ana@mesa.example.co", "level": "n2", "command": "nota", "text": "Claves expuestas."}]);
        let (text, html) = Templates::builtin().render("notificacion_agente", &context).unwrap();
        for part in [&flat(&text), &flat(&html)] {
            assert!(part.contains("FE-2026-000123"), "{part}");
            assert!(part.contains("nivel 3"), "{part}");
            assert!(part.contains("EVENTO DE SEGURIDAD"), "{part}");
            assert!(part.contains("grupo de seguridad"), "{part}");
            for secret in [
                "no sabemos",
                "script",
                "soporte@nandu.example.co",
                "Facturación Ñandú",
                "SETP990000123",
                "FAD06",
                "Acceso indebido",
                "Claves expuestas",
                "pantallazo",
                "violación de acceso",
                "Factura electrónica de venta",
            ] {
                assert!(!part.contains(secret), "{secret} in {part}");
            }
        }
    }

    #[test]
    fn fecha_shows_stored_timestamps_in_the_desk_time_zone() {
        let mut env = environment();
        env.add_template("f.txt.j2", "{{ at | fecha }}").unwrap();
        let template = env.get_template("f.txt.j2").unwrap();
        let render = |context: Value| template.render(template_value(&context)).unwrap();
        assert_eq!(render(json!({"at": "2026-03-02T15:04:05Z"})), "2026-03-02 10:04");
        assert_eq!(render(json!({"at": "2026-01-01T02:00:00Z"})), "2025-12-31 21:00");
        assert_eq!(render(json!({"at": "2026-03-02 15:04:05"})), "2026-03-02 10:04");
        assert_eq!(render(json!({"at": "2026-03-02T10:04:05-05:00"})), "2026-03-02 10:04");
        assert_eq!(
            render(json!({"at": "2026-03-02T15:04:05Z", "zona_horaria_horas": 0})),
            "2026-03-02 15:04"
        );
        assert_eq!(render(json!({"at": "ayer por la tarde"})), "ayer por la tarde");
        assert_eq!(render(json!({})), "(sin fecha)");
    }

    #[test]
    fn accion_names_each_command() {
        let mut env = environment();
        env.add_template("a.txt.j2", "{{ c | accion }}").unwrap();
        let template = env.get_template("a.txt.j2").unwrap();
        let render = |c: Value| template.render(template_value(&json!({ "c": c }))).unwrap();
        assert_eq!(render(json!("escalar")), "escalamiento");
        assert_eq!(render(json!("#solucion")), "solución");
        assert_eq!(render(json!("info")), "pregunta al solicitante");
        assert_eq!(render(json!("padre")), "vínculo con un caso padre");
        assert_eq!(render(json!("otra_cosa")), "otra_cosa");
        assert_eq!(render(Value::Null), "acción");
    }

    #[test]
    fn every_kind_has_both_parts_and_escapes_html() {
        let templates = Templates::builtin();
        for kind in KINDS {
            let mut context = paquete_context();
            context["text"] = json!("<b>texto</b> & más");
            context["reason"] = json!("<b>texto</b> & más");
            let (text, html) = templates.render(kind, &context).unwrap();
            assert!(html.starts_with("<!DOCTYPE html>"), "{kind}: {html}");
            assert!(!html.contains("<b>"), "{kind}: {html}");
            assert!(!text.contains("\n\n\n"), "{kind}: {text}");
            if text.contains("<b>texto</b> & más") {
                assert!(html.contains("&lt;b&gt;texto&lt;&#x2f;b&gt; &amp; más"), "{kind}: {html}");
            }
        }
        for name in BUILTIN.iter().map(|&(name, _)| name) {
            let kind = name.trim_end_matches(".txt.j2").trim_end_matches(".html.j2");
            assert!(KINDS.contains(&kind), "{name}");
        }
        for kind in crate::desk::case::ReplyKind::ALL {
            assert!(KINDS.contains(&kind.as_str()), "no template for {}", kind.as_str());
        }
    }

    #[test]
    fn undefined_values_render_empty() {
        let templates = Templates::builtin();
        for kind in KINDS {
            let (text, html) = templates.render(kind, &json!({"case": "FE-2026-000009"})).unwrap();
            assert!(text.contains("FE-2026-000009"), "{kind}: {text}");
            assert!(html.contains("FE-2026-000009"), "{kind}: {html}");
            assert!(!text.contains("none") && !text.contains("undefined"), "{kind}: {text}");
        }
        let (text, _) = templates.render("acuse_recibo", &json!({})).unwrap();
        assert!(text.contains("Recibimos su solicitud"));
    }

    #[test]
    fn templates_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + Clone + 'static>(_: &T) {}
        shareable(&Templates::builtin());
    }

    #[test]
    fn unknown_kind_is_missing_template() {
        let err = Templates::builtin().render("despedida", &json!({})).unwrap_err();
        assert!(matches!(err, OutgoingError::MissingTemplate { .. }), "{err}");
    }

    #[test]
    fn operator_copies_replace_builtin_ones_and_the_rest_fall_back() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("acuse_recibo.txt.j2"),
            "Caso {{ case }} recibido. {{ no_existe.tampoco }}Gracias.",
        )
        .unwrap();
        std::fs::write(dir.path().join("acuse_recibo.html.j2"), "<p>{{ own_words }}</p>").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let mut context = acuse_context();
        context["own_words"] = json!("<b>");
        let (text, html) = templates.render("acuse_recibo", &context).unwrap();
        assert_eq!(text, "Caso FE-2026-000123 recibido. Gracias.\n");
        assert_eq!(html, "<p>&lt;b&gt;</p>\n");
        let (text, _) = templates.render("solicitud_informacion", &context).unwrap();
        assert!(text.contains("Cómo responder"));
    }

    #[test]
    fn a_syntax_error_fails_at_load_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("solicitud_informacion.txt.j2"),
            "Hola\n\n{% for m in missing %}\n- {{ m.description }\n{% endfor %}\n",
        )
        .unwrap();
        let err = Templates::load(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, OutgoingError::Template { .. }), "{message}");
        assert!(message.contains("solicitud_informacion.txt.j2"), "{message}");
        assert!(message.contains("línea 4"), "{message}");
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Templates::load(&dir.path().join("no-existe")).unwrap_err();
        assert!(matches!(err, OutgoingError::Read { .. }), "{err}");
    }

    fn sample_outgoing() -> Outgoing {
        Outgoing {
            from_name: "Mesa de Ayuda Facturación Electrónica".into(),
            from_address: "aliados@mesa.example.co".into(),
            to: vec!["Proveedor Ñandú <soporte@nandu.example.co>".into(), "otro@example.co".into()],
            subject: "[FE-2026-000123] Factura rechazada: validación del CUFE — ¿qué hago?".into(),
            message_id: "<FE-2026-000123.r1.0.acuse_recibo.abcd@mesa.example.co>".into(),
            in_reply_to: Some("<CAF=original@mail.nandu.example.co>".into()),
            references: vec![
                "<first@mail.nandu.example.co>".into(),
                "<CAF=original@mail.nandu.example.co>".into(),
            ],
            thread_topic: "Factura rechazada: validación del CUFE — ¿qué hago?".into(),
            thread_index: thread_index(None, Utc::now(), b"FE-2026-000123"),
            text: "Cordial saludo.\nSu caso es FE-2026-000123.\n".into(),
            html: Some(
                "<p>Cordial saludo.</p><p>Su caso es <strong>FE-2026-000123</strong>.</p>".into(),
            ),
            attachments: Vec::new(),
            written_by_person: false,
        }
    }

    /// Message-IDs of an In-Reply-To or References header, however mail-parser stored them.
    fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
        match (value.as_text_list(), value.as_text()) {
            (Some(list), _) => list.iter().map(|id| id.to_string()).collect(),
            (None, Some(one)) => vec![one.to_string()],
            (None, None) => Vec::new(),
        }
    }

    #[test]
    fn built_message_has_threading_and_anti_loop_headers() {
        let outgoing = sample_outgoing();
        let bytes = build(&outgoing).unwrap();
        let raw = String::from_utf8(bytes.clone()).unwrap();
        assert!(raw.is_ascii(), "headers and bodies are encoded: {raw}");
        let subject_line = raw.lines().find(|l| l.starts_with("Subject: ")).unwrap();
        assert!(subject_line.contains("=?utf-8?b?"), "RFC 2047 encoded: {raw}");
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(message.subject(), Some(outgoing.subject.as_str()));
        assert_eq!(
            message.message_id(),
            Some("FE-2026-000123.r1.0.acuse_recibo.abcd@mesa.example.co")
        );
        assert_eq!(ids(message.in_reply_to()), ["CAF=original@mail.nandu.example.co"]);
        assert_eq!(
            ids(message.references()),
            ["first@mail.nandu.example.co", "CAF=original@mail.nandu.example.co"]
        );
        let from = message.from().and_then(|a| a.first()).unwrap();
        assert_eq!(from.address(), Some("aliados@mesa.example.co"));
        assert_eq!(from.name(), Some("Mesa de Ayuda Facturación Electrónica"));
        let to: Vec<&str> = message.to().unwrap().iter().filter_map(|a| a.address()).collect();
        assert_eq!(to, ["soporte@nandu.example.co", "otro@example.co"]);
        assert_eq!(message.to().unwrap().first().unwrap().name(), Some("Proveedor Ñandú"));
        assert!(message.date().is_some());
        let header = |name: &str| message.header_raw(name).map(str::trim).map(str::to_string);
        assert_eq!(header("Auto-Submitted").as_deref(), Some("auto-replied"));
        assert_eq!(header("X-Auto-Response-Suppress").as_deref(), Some("All"));
        assert_eq!(header("Thread-Index").as_deref(), Some(outgoing.thread_index.as_str()));
        // Thread-Topic is RFC 2047 encoded too: parsed as text, it decodes to the topic.
        let as_text = mail_parser::MessageParser::default().header_text("Thread-Topic");
        let reparsed = as_text.parse(&bytes).unwrap();
        let topic = reparsed.header("Thread-Topic").and_then(|v| v.as_text()).unwrap();
        assert_eq!(topic, outgoing.thread_topic);
        assert_eq!(
            message.header_raw("In-Reply-To").map(str::trim),
            Some("<CAF=original@mail.nandu.example.co>")
        );

        let root = message.root_part().content_type().unwrap();
        assert_eq!((root.ctype(), root.subtype()), ("multipart", Some("alternative")));
        let types: Vec<(String, String, Option<String>)> = message
            .parts
            .iter()
            .filter_map(|p| p.content_type())
            .map(|c| {
                (
                    c.ctype().to_string(),
                    c.subtype().unwrap_or_default().to_string(),
                    c.attribute("charset").map(str::to_lowercase),
                )
            })
            .collect();
        assert!(
            types.contains(&("text".into(), "plain".into(), Some("utf-8".into()))),
            "{types:?}"
        );
        assert!(types.iter().any(|(t, s, _)| t == "text" && s == "html"), "{types:?}");
        let body = message.body_text(0).unwrap().replace("\r\n", "\n");
        assert_eq!(body.trim_end(), outgoing.text.trim_end());
        assert!(message.body_html(0).unwrap().contains("<strong>FE-2026-000123</strong>"));
    }

    #[test]
    fn text_only_message_without_html() {
        let mut outgoing = sample_outgoing();
        outgoing.html = None;
        outgoing.in_reply_to = None;
        outgoing.references.clear();
        let bytes = build(&outgoing).unwrap();
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let root = message.root_part().content_type().unwrap();
        assert_eq!((root.ctype(), root.subtype()), ("text", Some("plain")));
        assert_eq!(message.html_body_count(), 1); // mail-parser offers the text as HTML too
        assert!(message.header("In-Reply-To").is_none());
        assert!(message.header("References").is_none());
        let body = message.body_text(0).unwrap().replace("\r\n", "\n");
        assert_eq!(body.trim_end(), outgoing.text.trim_end());
    }

    #[test]
    fn bad_addresses_and_empty_ids_are_build_errors() {
        let mut outgoing = sample_outgoing();
        outgoing.to = vec!["no es un correo".into()];
        assert!(matches!(build(&outgoing), Err(OutgoingError::Build(_))));
        let mut outgoing = sample_outgoing();
        outgoing.message_id = String::new();
        assert!(matches!(build(&outgoing), Err(OutgoingError::Build(_))));
        let mut outgoing = sample_outgoing();
        outgoing.to.clear();
        assert!(matches!(build(&outgoing), Err(OutgoingError::Build(_))));
    }

    #[test]
    fn rendered_templates_build_into_a_message() {
        let (text, html) =
            Templates::builtin().render("notificacion_agente", &agent_context()).unwrap();
        let outgoing = Outgoing { text, html: Some(html), ..sample_outgoing() };
        let bytes = build(&outgoing).unwrap();
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert!(message.body_text(0).unwrap().contains("Palabras del solicitante"));
        assert!(message.body_html(0).unwrap().contains("&lt;script&gt;"));
    }

    fn decode(index: &str) -> Vec<u8> {
        BASE64.decode(index).unwrap()
    }

    #[test]
    fn thread_index_root_is_22_bytes_with_time_and_seeded_guid() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T15:04:05Z").unwrap().with_timezone(&Utc);
        let root = decode(&thread_index(None, now, b"FE-2026-000123"));
        assert_eq!(root.len(), 22);
        assert_eq!(root[0], 0x01);
        let ticks = filetime(now);
        assert_eq!(&root[1..6], &ticks.to_be_bytes()[..5]);
        assert_eq!(&root[6..], &Sha256::digest(b"FE-2026-000123")[..16]);
        // Deterministic; another case is another conversation.
        assert_eq!(
            thread_index(None, now, b"FE-2026-000123"),
            thread_index(None, now, b"FE-2026-000123")
        );
        assert_ne!(decode(&thread_index(None, now, b"FE-2026-000124"))[6..], root[6..]);
    }

    #[test]
    fn thread_index_child_extends_the_parent() {
        let start =
            DateTime::parse_from_rfc3339("2026-03-02T15:04:05Z").unwrap().with_timezone(&Utc);
        let parent = thread_index(None, start, b"FE-2026-000123");
        let later = start + chrono::Duration::minutes(90);
        let child = thread_index(Some(&parent), later, b"FE-2026-000123");
        let (parent_bytes, child_bytes) = (decode(&parent), decode(&child));
        assert_eq!(child_bytes.len(), 27);
        assert!(child_bytes.starts_with(&parent_bytes));
        assert_eq!(child, thread_index(Some(&parent), later, b"FE-2026-000123"));
        // Delta code 0, and the 31 bits hold the time since the header in units of 2^18 ticks.
        let field = u32::from_be_bytes(child_bytes[22..26].try_into().unwrap());
        assert_eq!(field & 0x8000_0000, 0);
        let header_ticks = u64::from_be_bytes([
            parent_bytes[1],
            parent_bytes[2],
            parent_bytes[3],
            parent_bytes[4],
            parent_bytes[5],
            0,
            0,
            0,
        ]);
        assert_eq!(u64::from(field), (filetime(later) - header_ticks) >> 18);
        // A grandchild appends another block.
        let grandchild = decode(&thread_index(Some(&child), later, b"FE-2026-000123"));
        assert_eq!(grandchild.len(), 32);
        assert!(grandchild.starts_with(&child_bytes));
        // Years later: delta code 1.
        let far = decode(&thread_index(Some(&parent), start + chrono::Duration::days(800), b"x"));
        assert_eq!(far[22] & 0x80, 0x80);
    }

    #[test]
    fn unusable_parent_starts_a_new_index() {
        let now = Utc::now();
        let fresh = thread_index(None, now, b"seed");
        for parent in
            ["", "no es base64 !!", "AQID", &BASE64.encode([0x02; 22]), &BASE64.encode([0x01; 24])]
        {
            assert_eq!(thread_index(Some(parent), now, b"seed"), fresh, "{parent:?}");
        }
    }

    #[test]
    fn an_outlook_requesters_index_is_extended_by_one_block_per_answer() {
        // As Outlook 16 sent it: 22 bytes, a header block of its own conversation.
        let theirs = "AdlRmN3Jq8K2lXzUTuO1Yk0Fb1Qx3w==";
        let their_bytes = decode(theirs);
        assert_eq!(their_bytes.len(), 22);
        let now = Utc::now();
        let ack = decode(&thread_index_of(Some(theirs), now, b"FE-2026-000001", b"<a@x>"));
        let ask = decode(&thread_index_of(Some(theirs), now, b"FE-2026-000001", b"<b@x>"));
        assert_eq!(ack.len(), 27);
        assert_eq!(ack[..22], their_bytes[..], "their conversation, not ours");
        assert_ne!(ack, ask, "two answers at one instant stay apart");
        assert_eq!(
            thread_index(Some(theirs), now, b"s"),
            thread_index_of(Some(theirs), now, b"s", b"s"),
            "the three-argument form is the same function"
        );
    }

    #[test]
    fn thread_topic_strips_prefixes_and_case_tags() {
        assert_eq!(thread_topic("RE: RV: [FE-2026-000123] Factura rechazada"), "Factura rechazada");
        assert_eq!(thread_topic("[FE-2026-000123] Factura rechazada"), "Factura rechazada");
        assert_eq!(thread_topic("Fwd: FW: TR: AW: re: Nota crédito"), "Nota crédito");
        assert_eq!(
            thread_topic("Respuesta automática: [fe-2026-000001] Consulta RADIAN"),
            "Consulta RADIAN"
        );
        assert_eq!(thread_topic("Re: Factura [FE-2026-000123] rechazada"), "Factura rechazada");
        assert_eq!(thread_topic("[Aranda #4455] Re: Soporte"), "[Aranda #4455] Re: Soporte");
        assert_eq!(thread_topic("Regla FAD06"), "Regla FAD06");
        assert_eq!(thread_topic("RE: "), "");
    }
}

#[cfg(test)]
mod attachment_tests {
    use super::*;

    #[test]
    fn attached_files_travel_after_the_body() {
        let outgoing = Outgoing {
            from_name: "Mesa".into(),
            from_address: "aliados@mesa.example".into(),
            to: vec!["agente@mesa.example".into()],
            subject: "[FE-2026-000001] Factura".into(),
            message_id: "<FE-2026-000001.x@mesa.example>".into(),
            text: "texto".into(),
            html: Some("<p>html</p>".into()),
            attachments: vec![OutgoingFile {
                name: "z0900.zip/ad0900481236.xml".into(),
                content_type: "text/xml".into(),
                bytes: b"<AttachedDocument/>".to_vec(),
            }],
            ..Outgoing::default()
        };
        let raw = build(&outgoing).expect("build");
        let parsed = mail_parser::MessageParser::default().parse(&raw).expect("parse");
        assert_eq!(parsed.attachment_count(), 1);
        let file = parsed.attachment(0).expect("attachment");
        assert_eq!(mail_parser::MimeHeaders::attachment_name(file), Some("ad0900481236.xml"));
        assert_eq!(file.contents(), b"<AttachedDocument/>");
        assert_eq!(parsed.body_text(0).as_deref(), Some("texto"));
    }
}
