//! Outbox rows for a transition: who gets which automatic mail, with a subject tagged with the
//! case number and a Message-ID fixed now, so the thread holds and a resend is recognisable.
//! The body is rendered from templates when the row is sent (SMTP issue); `context` carries what
//! the templates need.

use serde_json::{Value, json};

use super::Analysis;
use crate::config::Buzon;
use crate::desk::Requirement;
use crate::desk::case::{Recipient, ReplyKind, Transition};
use crate::desk::requirements::MIN_DESCRIPTION_CHARS;
use crate::mail::Inbound;
use crate::mail::thread::MessageIds;

/// One automatic mail to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxDraft {
    pub kind: ReplyKind,
    /// The buzón it is sent from (the one the case came in on).
    pub buzon: String,
    pub to: String,
    pub subject: String,
    /// With angle brackets, signed ([`MessageIds::sign`]), on the message domain.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub context: Value,
}

/// What every draft of one message shares.
pub struct ReplyContext<'a> {
    pub raw_id: i64,
    pub number: &'a str,
    pub buzon: &'a Buzon,
    /// Where requester-facing mail goes (Reply-To, else From; for Aranda/PQSR, that system).
    pub requester: &'a str,
    /// Signs the Message-IDs, so replies are matched to the case beyond doubt.
    pub ids: &'a MessageIds,
    /// `general.dominio_mensajes`; empty = the buzón's domain.
    pub message_domain: &'a str,
}

/// The address answers go to: Reply-To when given, else From.
pub fn reply_address(inbound: &Inbound) -> String {
    inbound.reply_to.clone().unwrap_or_else(|| inbound.from.clone())
}

/// References kept on a reply: the newest ones are what clients thread on.
const MAX_REFERENCES: usize = 10;

pub fn drafts(
    ctx: &ReplyContext<'_>,
    analysis: &Analysis,
    transition: &Transition,
) -> Vec<OutboxDraft> {
    let inbound = analysis.inbound.as_ref();
    let subject = tagged_subject(ctx.number, inbound.map_or("", |m| m.subject.as_str()));
    let domain = if ctx.message_domain.is_empty() {
        ctx.buzon.address.rsplit_once('@').map_or("mesa-fe.invalid", |(_, d)| d)
    } else {
        ctx.message_domain
    };
    let in_reply_to = inbound.and_then(|m| m.message_id.as_ref()).map(|id| format!("<{id}>"));
    let mut references: Vec<String> = inbound
        .map(|m| m.references.iter().map(|id| format!("<{id}>")).collect())
        .unwrap_or_default();
    references.extend(in_reply_to.clone());
    references.dedup();
    let skip = references.len().saturating_sub(MAX_REFERENCES);
    let references: Vec<String> = references.into_iter().skip(skip).collect();
    transition
        .replies
        .iter()
        .enumerate()
        .map(|(index, reply)| {
            let (to, threaded) = match &reply.to {
                Recipient::Requester => (ctx.requester.to_string(), true),
                Recipient::Agent(address) => (address.clone(), false),
            };
            OutboxDraft {
                kind: reply.kind,
                buzon: ctx.buzon.name.clone(),
                to,
                subject: subject.clone(),
                message_id: ctx.ids.sign(
                    ctx.number,
                    &format!("r{}.{}.{}", ctx.raw_id, index, reply.kind.as_str()),
                    domain,
                ),
                in_reply_to: if threaded { in_reply_to.clone() } else { None },
                references: if threaded { references.clone() } else { Vec::new() },
                context: context(ctx, analysis, transition, reply.kind),
            }
        })
        .collect()
}

/// `[FE-2026-000123] Original subject`, without "RE: RV: FW:" piles or an older tag.
pub fn tagged_subject(number: &str, subject: &str) -> String {
    let mut rest = subject.trim();
    loop {
        let before = rest;
        for prefix in [
            "re:",
            "rv:",
            "fw:",
            "fwd:",
            "tr:",
            "aw:",
            "wg:",
            "respuesta automática:",
            "respuesta automatica:",
            "auto:",
        ] {
            if rest.len() >= prefix.len()
                && rest.is_char_boundary(prefix.len())
                && rest[..prefix.len()].to_lowercase() == prefix
            {
                rest = rest[prefix.len()..].trim_start();
            }
        }
        if let Some(after) = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .filter(|(tag, _)| tag.trim().eq_ignore_ascii_case(number))
            .map(|(_, after)| after)
        {
            rest = after.trim_start();
        }
        if rest == before {
            break;
        }
    }
    if rest.is_empty() {
        format!("[{number}] Solicitud de soporte")
    } else {
        format!("[{number}] {rest}")
    }
}

fn context(
    ctx: &ReplyContext<'_>,
    analysis: &Analysis,
    transition: &Transition,
    kind: ReplyKind,
) -> Value {
    let case = &transition.case;
    let inbound = analysis.inbound.as_ref();
    let documents: Vec<Value> = analysis
        .documents
        .iter()
        .map(|d| json!({"kind": d.kind.as_str(), "number": d.number, "uuid": d.uuid, "response_code": d.response_code, "environment": d.environment}))
        .collect();
    let missing: Vec<Value> = case
        .missing()
        .iter()
        .map(|r| json!({"item": r.as_str(), "description": requirement_description(*r)}))
        .collect();
    let mut value = json!({
        "case": ctx.number,
        "raw_message_id": ctx.raw_id,
        "tema": case.tema.as_str(),
        "tema_label": case.tema.label(),
        "status": case.status.as_str(),
        "level": case.level.as_str(),
        "requester_name": inbound.and_then(|m| m.from_name.clone()),
        "documents": documents,
        "rejections": analysis.rejections,
        "known_errors": analysis.known_errors,
        "missing": missing,
        "attachment_problems": analysis.problems,
        "group": case.group,
        "agent": case.agent,
        // A security report's acknowledgement says no more than the case number.
        "security_category": case.security_category.map(String::from),
    });
    if kind == ReplyKind::NotificacionAgente {
        // Agents see the requester's words; requesters never get their own text echoed back.
        value["requester"] = json!(ctx.requester);
        value["own_words"] = json!(inbound.map(|m| m.own_words.clone()));
    }
    value
}

/// How an information request names each missing item (Spanish, for the requester).
pub fn requirement_description(requirement: Requirement) -> String {
    match requirement {
        Requirement::Descripcion => format!(
            "una descripción de lo que ocurre, con sus palabras (al menos {MIN_DESCRIPTION_CHARS} caracteres)"
        ),
        Requirement::Nit => {
            "el NIT del facturador o de la empresa (por ejemplo, NIT 900.123.456-7)".into()
        }
        Requirement::Documento => {
            "el número del documento (prefijo y consecutivo) o su CUFE/CUDE".into()
        }
        Requirement::Xml => {
            "el archivo XML del documento (AttachedDocument o la respuesta de la DIAN)".into()
        }
        Requirement::Evidencia => "un pantallazo o PDF que muestre el error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tag_replaces_reply_prefixes_and_old_tags() {
        assert_eq!(
            tagged_subject("FE-2026-000001", "RE: RV: Factura rechazada"),
            "[FE-2026-000001] Factura rechazada"
        );
        assert_eq!(
            tagged_subject("FE-2026-000001", "Re: [FE-2026-000001] Factura"),
            "[FE-2026-000001] Factura"
        );
        assert_eq!(tagged_subject("FE-2026-000001", ""), "[FE-2026-000001] Solicitud de soporte");
        assert_eq!(
            tagged_subject("FE-2026-000001", "Respuesta automática: hola"),
            "[FE-2026-000001] hola"
        );
    }
}
