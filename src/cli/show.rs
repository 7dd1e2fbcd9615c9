//! Terminal output of the commands: plain Spanish tables, or JSON with `--json`. Times in the
//! tables are the desk's local time ([`Zone`]), the zone named once; JSON keeps the stored UTC
//! instants (RFC 3339) for programs.

use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::desk::zone::Zone;
use mesa_fe::pipeline::{Analysis, Outcome};
use mesa_fe::store::cases::{CaseDetail, CaseSummary};
use mesa_fe::store::outbox::{OutboxItem, UnreadableRow};
use mesa_fe::store::raw::QuarantineEntry;

use super::{EX_SOFTWARE, Failure};

pub fn json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    say!("{}", json_text(value)?);
    Ok(())
}

/// `value` as pretty JSON, ending in a newline like every document the commands write.
pub fn json_text<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(EX_SOFTWARE, format!("no se pudo escribir el JSON: {e}")))?;
    Ok(text + "\n")
}

/// `quarantine show --json`: the entry and the start of its content, as the text view shows it.
#[derive(serde::Serialize)]
pub struct QuarantineJson<'a> {
    #[serde(flatten)]
    pub entry: &'a QuarantineEntry,
    /// The first bytes of the message, decoded leniently.
    pub head: String,
    /// Whether the message goes on past `head`.
    pub truncated: bool,
    /// What operators did to it (reprocess, discard), oldest first.
    pub actions: Vec<mesa_fe::store::raw::QuarantineAction>,
}

impl<'a> QuarantineJson<'a> {
    pub fn new(
        entry: &'a QuarantineEntry,
        raw: &[u8],
        actions: Vec<mesa_fe::store::raw::QuarantineAction>,
    ) -> QuarantineJson<'a> {
        let head = &raw[..raw.len().min(QUARANTINE_HEAD)];
        QuarantineJson {
            entry,
            head: String::from_utf8_lossy(head).into_owned(),
            truncated: raw.len() > head.len(),
            actions,
        }
    }
}

/// Bytes of a quarantined message shown by `quarantine show`.
const QUARANTINE_HEAD: usize = 2048;

pub fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Opened { case, decision, .. } => {
            format!("caso {case} abierto ({})", decision.as_str())
        }
        Outcome::Appended { case, .. } => format!("agregado al caso {case}"),
        Outcome::Duplicate { case: Some(case), .. } => {
            format!("ya estaba registrado (caso {case}); no se procesa otra vez")
        }
        Outcome::Duplicate { of, case: None } => {
            format!("ya estaba registrado (mensaje {of}); no se procesa otra vez")
        }
        Outcome::Quarantined { raw_id, reason } => format!("en cuarentena (id {raw_id}): {reason}"),
        Outcome::Ignored { raw_id } => {
            format!("mensaje automático sin caso: guardado (id {raw_id}) y sin respuesta")
        }
    }
}

pub fn analysis(a: &Analysis) {
    if let Some(reason) = &a.quarantine_reason {
        say!("Decisión: cuarentena\nRazón: {reason}");
        return;
    }
    let Some(inbound) = &a.inbound else { return };
    say!("De:        {}", inbound.from);
    say!("Asunto:    {}", inbound.subject);
    say!("Decisión:  {}", a.decision.as_str());
    say!("Tema:      {}", a.tema.as_str());
    say!("Canal:     {}", a.channel.as_str());
    if let Some(case) = &a.case_ref {
        say!("Caso:      {case}");
    }
    if a.auto_generated {
        say!("Automático: sí (no se responde)");
    }
    if let Some(category) = a.security_category {
        say!("Evento de seguridad: categoría {category}");
    }
    let missing: Vec<&str> = a.missing().iter().map(|r| r.as_str()).collect();
    say!(
        "Faltantes: {}",
        if missing.is_empty() { "ninguno".to_string() } else { missing.join(", ") }
    );
    for d in &a.documents {
        say!(
            "Documento: {} {} {} ({})",
            d.kind.as_str(),
            d.number.as_deref().unwrap_or("-"),
            d.response_code.as_deref().map(|c| format!("respuesta {c}")).unwrap_or_default(),
            d.source
        );
    }
    for r in &a.rejections {
        say!("Regla:     {} {}", r.code, r.description);
    }
    for p in &a.problems {
        say!("Adjunto con problema: {}: {}", p.source, p.problem);
    }
}

pub fn case_list(cases: &[CaseSummary], zone: &Zone) {
    if cases.is_empty() {
        say!("No hay casos.");
        return;
    }
    say!(
        "{:<16} {:<22} {:<7} {:<20} {:<10} {:<14} {:<16} ASUNTO",
        "CASO",
        "ESTADO",
        "NIVEL",
        "TEMA",
        "CANAL",
        "TIPO",
        "CREADO"
    );
    for c in cases {
        say!(
            "{:<16} {:<22} {:<7} {:<20} {:<10} {:<14} {:<16} {}",
            c.number,
            c.status,
            c.level,
            c.tema,
            c.channel,
            c.case_type,
            zone.show_stored(&c.created_at),
            c.subject
        );
    }
    say!("(fechas en {})", zone.label());
}

/// `case list --esperando`: since when each case waits (the day of the latest request to the
/// requester), business days waited, whether the reminder went out, and the closure date.
pub fn waiting_list(cases: &[mesa_fe::pipeline::waiting::WaitingCase]) {
    if cases.is_empty() {
        say!("No hay casos en espera de información del solicitante.");
        return;
    }
    say!(
        "{:<16} {:<7} {:<11} {:>12} {:<12} {:<11} AGENTE",
        "CASO",
        "NIVEL",
        "DESDE",
        "DÍAS HÁBILES",
        "RECORDATORIO",
        "CIERRE"
    );
    for c in cases {
        say!(
            "{:<16} {:<7} {:<11} {:>12} {:<12} {:<11} {}",
            c.number,
            c.level,
            c.since.get(..10).unwrap_or(&c.since),
            c.business_days,
            if c.reminded { "enviado" } else { "no" },
            c.closes_on,
            c.agent.as_deref().unwrap_or("-")
        );
    }
}

pub fn case_detail(d: &CaseDetail, zone: &Zone) {
    let at = |stored: &str| zone.show_stored(stored);
    let s = &d.summary;
    say!("Caso {}  [{} · {}]", s.number, s.status, s.level);
    say!("Asunto:       {}", s.subject);
    say!("Tema:         {}   Canal: {}   Buzón: {}", s.tema, s.channel, d.buzon);
    say!("Tipo:         {}", s.case_type);
    say!("Creado:       {} ({})", at(&s.created_at), zone.label());
    say!("Solicitante:  {} {}", d.requester_name.as_deref().unwrap_or(""), d.requester);
    say!(
        "Grupo/agente: {} / {}",
        d.group.as_deref().unwrap_or("-"),
        s.agent.as_deref().unwrap_or("-")
    );
    if let Some(category) = &d.security_category {
        say!("Evento de seguridad: categoría {category}");
    }
    if !d.missing_requirements.is_empty() {
        say!("Faltantes:    {}", d.missing_requirements.join(", "));
    }
    if d.first_contact {
        say!("Solucionado en primer contacto (error conocido).");
    }
    if let Some(nit) = &d.provider_nit {
        say!("Proveedor tecnológico registrado: NIT {nit}");
    }
    if let Some(cause) = &d.root_cause {
        say!("Causa raíz:   {cause}");
    }
    if let Some(reference) = &d.external_ref {
        say!("Ref. externa: {reference}");
    }
    if let Some(until) = &d.follow_up_until {
        say!("Control posterior hasta: {} ({})", at(until), zone.label());
    }
    if let Some(purged) = &d.purged_at {
        say!(
            "Datos eliminados por retención: {} (se conservan el registro y el historial)",
            at(purged)
        );
    }
    if let Some(parent) = &d.parent {
        say!("Caso padre:   {parent}");
    }
    if !d.children.is_empty() {
        say!("Casos hijos ({}): {}", d.children.len(), d.children.join(", "));
    }
    if let Some(target) = &d.merged_into {
        say!("Fusionado en: {target} (este caso es un duplicado; lo que llegue por él va allí)");
    }
    if !d.merged_here.is_empty() {
        say!("Duplicados fusionados aquí: {}", d.merged_here.join(", "));
    }
    if !d.same_cufe.is_empty() {
        say!("Casos con el mismo CUFE/CUDE:");
        for other in &d.same_cufe {
            say!("  {} ({}) {}", other.number, other.status, other.uuid);
        }
    }
    say!("\nMensajes ({}):", zone.label());
    for m in &d.messages {
        say!("  {} {} {} «{}»", at(&m.created_at), m.direction, m.from_addr, m.subject);
    }
    if !d.documents.is_empty() {
        say!("\nDocumentos:");
        for doc in &d.documents {
            say!(
                "  {} {} {} {}",
                doc.kind,
                doc.number.as_deref().unwrap_or("-"),
                doc.uuid.as_deref().unwrap_or("-"),
                doc.response_code.as_deref().map(|c| format!("respuesta {c}")).unwrap_or_default()
            );
        }
    }
    if !d.rejections.is_empty() {
        say!("\nReglas DIAN:");
        for r in &d.rejections {
            say!("  {} {}", r.code, r.description);
        }
    }
    if !d.actions.is_empty() {
        say!("\nAcciones de los agentes ({}):", zone.label());
        for a in &d.actions {
            let refused = if a.refused != 0 { " (rechazada)" } else { "" };
            say!("  {} {} #{}{} en {}:", at(&a.created_at), a.actor, a.command, refused, a.level);
            for line in a.text.lines() {
                say!("      {line}");
            }
        }
    }
    say!("\nHistorial (actividades del procedimiento, {}):", zone.label());
    for e in &d.events {
        say!(
            "  {} act. {:>2} → {} / {}: {}",
            at(&e.created_at),
            e.activity,
            e.to_status,
            e.to_level,
            e.detail
        );
    }
    if !d.outbox.is_empty() {
        say!("\nCorreos en cola:");
        for o in &d.outbox {
            say!("  {} → {} [{}] {}", o.kind, o.to_addr, o.status, o.subject);
        }
    }
}

pub fn quarantine_list(entries: &[QuarantineEntry], zone: &Zone) {
    if entries.is_empty() {
        say!("No hay mensajes en cuarentena.");
        return;
    }
    say!("{:<6} {:<11} {:<20} {:<16} {:>9} RAZÓN", "ID", "ESTADO", "BUZÓN", "RECIBIDO", "BYTES");
    for e in entries {
        say!(
            "{:<6} {:<11} {:<20} {:<16} {:>9} {}",
            e.id,
            e.status,
            e.buzon,
            zone.show_stored(&e.received_at),
            e.size_bytes,
            e.reason
        );
    }
    say!("(fechas en {})", zone.label());
}

/// The reason and the first bytes, with control characters made visible.
pub fn quarantine_entry(shown: &QuarantineJson<'_>, raw: &[u8], zone: &Zone) {
    let entry = shown.entry;
    say!(
        "Mensaje {} del buzón {}, recibido {} ({} bytes)",
        entry.id,
        entry.buzon,
        zone.show_with_zone_stored(&entry.received_at),
        entry.size_bytes
    );
    say!("Estado: {}", entry.status);
    say!("Razón: {}", entry.reason);
    if !shown.actions.is_empty() {
        say!("Registro de operadores:");
        for a in &shown.actions {
            let why = a.reason.as_deref().map(|r| format!(" (motivo: {r})")).unwrap_or_default();
            say!(
                "  {} {} por {}{}: {}",
                zone.show_stored(&a.created_at),
                a.action,
                a.actor,
                why,
                a.result
            );
        }
    }
    say!();
    let head = &raw[..raw.len().min(QUARANTINE_HEAD)];
    let text: String = String::from_utf8_lossy(head)
        .chars()
        .map(|c| if c.is_control() && c != '\n' && c != '\r' && c != '\t' { '·' } else { c })
        .collect();
    say!("{text}");
    if raw.len() > head.len() {
        say!("… ({} bytes más)", raw.len() - head.len());
    }
}

pub fn knowledge(base: &KnowledgeBase) {
    say!("{} errores conocidos:", base.len());
    for entry in base.entries() {
        let answer = if entry.first_contact_answer.is_some() {
            "primer contacto"
        } else {
            "requiere agente"
        };
        say!("{:<8} [{}] {}", entry.code, answer, entry.official_message);
    }
}

pub fn outbox_list(items: &[Result<OutboxItem, UnreadableRow>]) {
    if items.is_empty() {
        say!("La cola de salida está vacía.");
        return;
    }
    say!("{:<6} {:<17} {:<16} {:<25} {:<8} PARA", "ID", "ESTADO", "CASO", "TIPO", "INTENTOS");
    for item in items {
        let i = match item {
            Ok(i) => i,
            Err(unreadable) => {
                say!("{:<6} ilegible: {}", unreadable.id, unreadable.error);
                continue;
            }
        };
        say!(
            "{:<6} {:<17} {:<16} {:<25} {:<8} {}",
            i.id,
            i.status,
            i.case_number,
            i.kind.as_str(),
            i.attempts,
            i.to_addr
        );
    }
}

pub fn outbox_item(i: &OutboxItem, zone: &Zone) {
    say!("Correo {} del caso {} [{}]", i.id, i.case_number, i.status);
    say!("Tipo:        {}", i.kind.as_str());
    say!("Desde buzón: {}", i.buzon);
    say!("Para:        {}", i.to_addr);
    say!("Asunto:      {}", i.subject);
    say!("Message-ID:  {}", i.message_id);
    if let Some(reply_to) = &i.in_reply_to {
        say!("In-Reply-To: {reply_to}");
    }
    if let Some(refs) = i.refs.as_deref().filter(|r| !r.is_empty()) {
        say!("References:  {refs}");
    }
    say!(
        "Creado:      {}   Intentos: {}   Próximo intento: {}",
        zone.show(i.created_at),
        i.attempts,
        zone.show(i.next_attempt_at)
    );
    if let Some(sent) = i.sent_at {
        say!("Enviado:     {}", zone.show(sent));
    }
    say!("(fechas en {})", zone.label());
    if let Some(error) = &i.last_error {
        say!("Última respuesta del servidor: {error}");
    }
    if let Some(bounce) = &i.bounce {
        say!("Rebotó:      {}", zone.show(bounce.at));
        say!("Destinatario rechazado: {}", bounce.recipient.as_deref().unwrap_or(&i.to_addr));
        if let Some(status) = &bounce.status {
            say!("Código de estado remoto: {status}");
        }
        if let Some(diagnostic) = &bounce.diagnostic {
            say!("Diagnóstico del servidor remoto: {diagnostic}");
        }
    }
}
