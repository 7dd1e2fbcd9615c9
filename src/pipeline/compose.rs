//! Outbox rows for a transition: who gets which automatic mail, with a subject tagged with the
//! case number and a Message-ID fixed now, so the thread holds and a resend is recognisable.
//! The body is rendered from templates when the row is sent (SMTP issue); `context` carries what
//! the templates need.

use serde_json::{Value, json};

use super::Analysis;
use crate::config::{Buzon, Config};
use crate::desk::Requirement;
use crate::desk::case::{Case, Recipient, Reply, ReplyKind, Status, Transition};
use crate::desk::command::HELP;
use crate::desk::levels::Actor;
use crate::desk::requirements::MIN_DESCRIPTION_CHARS;
use crate::mail::Inbound;
use crate::mail::thread::MessageIds;
use crate::store::actions::{CaseBrief, RequesterThread};
use crate::store::outbox::{DraftContext, LearnedAnswer, OutboxDraft, OutboxItem, into_map};
use crate::text::subject::strip_reply_prefixes;

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
    /// Who may read a security case (the security group).
    pub config: &'a Config,
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
    let in_reply_to = inbound.and_then(|m| m.message_id.as_ref()).map(|id| format!("<{id}>"));
    let mut references: Vec<String> = inbound
        .map(|m| m.references.iter().map(|id| format!("<{id}>")).collect())
        .unwrap_or_default();
    references.extend(in_reply_to.clone());
    references.dedup();
    let skip = references.len().saturating_sub(MAX_REFERENCES);
    let references: Vec<String> = references.into_iter().skip(skip).collect();
    let shared = Shared {
        number: ctx.number,
        buzon: ctx.buzon,
        requester: ctx.requester,
        ids: ctx.ids,
        config: ctx.config,
        domain: message_domain(ctx.message_domain, ctx.buzon),
        nonce: format!("r{}", ctx.raw_id),
        subject,
        thread: RequesterThread {
            in_reply_to,
            references,
            thread_index: inbound.and_then(|m| m.thread_index.clone()),
        },
    };
    shared.drafts(transition, |reply| context(ctx, analysis, transition, reply))
}

/// What every draft of one transition shares, whatever caused it.
struct Shared<'a> {
    number: &'a str,
    buzon: &'a Buzon,
    requester: &'a str,
    ids: &'a MessageIds,
    config: &'a Config,
    domain: &'a str,
    /// Makes the Message-IDs unique: `r57` (the e-mail that caused them), a random CLI token…
    nonce: String,
    subject: String,
    /// Where mail to the requester threads.
    thread: RequesterThread,
}

impl Shared<'_> {
    /// One draft per reply: the requester's threaded on their conversation, agents' not;
    /// a security case's details only inside the security group; Message-IDs signed.
    fn drafts(
        &self,
        transition: &Transition,
        context_of: impl Fn(&Reply) -> DraftContext,
    ) -> Vec<OutboxDraft> {
        transition
            .replies
            .iter()
            .enumerate()
            .map(|(index, reply)| {
                let (to, threaded) = match &reply.to {
                    Recipient::Requester => (self.requester.to_string(), true),
                    Recipient::Agent(address) => (address.clone(), false),
                };
                let (mut context, subject) =
                    if must_redact(self.config, &transition.case, reply, &to) {
                        (redacted(self.number, &transition.case), redacted_subject(self.number))
                    } else {
                        (context_of(reply), self.subject.clone())
                    };
                if threaded {
                    context.thread_index = self.thread.thread_index.clone();
                }
                let detail = format!("{}.{}.{}", self.nonce, index, reply.kind.as_str());
                // Bound to its recipient: only the agent it was sent to may command by answering.
                let message_id = self.ids.sign(self.number, &detail, &to, self.domain);
                OutboxDraft {
                    kind: reply.kind,
                    buzon: self.buzon.name.clone(),
                    to,
                    subject,
                    message_id,
                    in_reply_to: if threaded { self.thread.in_reply_to.clone() } else { None },
                    references: if threaded { self.thread.references.clone() } else { Vec::new() },
                    context,
                }
            })
            .collect()
    }
}

fn message_domain<'a>(configured: &'a str, buzon: &'a Buzon) -> &'a str {
    if configured.is_empty() {
        buzon.address.rsplit_once('@').map_or("mesa-fe.invalid", |(_, d)| d)
    } else {
        configured
    }
}

/// A security case's details go to nobody outside the security group (the requester's own mail
/// says only the case number, by its templates).
fn must_redact(config: &Config, case: &Case, reply: &Reply, to: &str) -> bool {
    case.security_category.is_some()
        && reply.to != Recipient::Requester
        && !config.in_group(&config.enrutamiento.security_group, to)
}

/// All that mail about a security case may say to someone outside the security group.
fn redacted(number: &str, case: &Case) -> DraftContext {
    DraftContext {
        case: Some(number.to_string()),
        status: Some(case.status.as_str().to_string()),
        level: Some(case.level.as_str().to_string()),
        redacted: true,
        ..DraftContext::for_templates(json!({
            "security_category": case.security_category.map(String::from),
        }))
    }
}

/// The subject of mail about a security case to someone outside the security group: the
/// reporter's own subject may say what happened.
fn redacted_subject(number: &str) -> String {
    format!("[{number}] Caso reservado: evento de seguridad")
}

/// What every draft of one agent action shares.
pub struct ActionContext<'a> {
    /// Makes the Message-IDs of this action unique: `r57` (the e-mail that carried it), or a
    /// random token for the CLI.
    pub nonce: &'a str,
    pub number: &'a str,
    pub buzon: &'a Buzon,
    pub requester: &'a str,
    pub ids: &'a MessageIds,
    pub config: &'a Config,
    pub actor: &'a Actor,
    /// The command as written (for the help sent back when it was not understood).
    pub received: Option<&'a str>,
    /// For a child of a mass incident: its parent's number.
    pub parent: Option<&'a str>,
}

/// Outbox rows for what an agent's action caused. Requester-facing mail threads on the
/// requester's own conversation; internal notes never reach the requester.
pub fn action_drafts(
    ctx: &ActionContext<'_>,
    brief: &CaseBrief,
    thread: &RequesterThread,
    transition: &Transition,
) -> Vec<OutboxDraft> {
    let shared = Shared {
        number: ctx.number,
        buzon: ctx.buzon,
        requester: ctx.requester,
        ids: ctx.ids,
        config: ctx.config,
        domain: message_domain(&ctx.config.general.message_domain, ctx.buzon),
        nonce: ctx.nonce.to_string(),
        subject: tagged_subject(ctx.number, &brief.subject),
        thread: thread.clone(),
    };
    shared.drafts(transition, |reply| action_context(ctx, brief, transition, reply))
}

fn action_context(
    ctx: &ActionContext<'_>,
    brief: &CaseBrief,
    transition: &Transition,
    reply: &Reply,
) -> DraftContext {
    let case = &transition.case;
    let actor_name = ctx.config.agent(&ctx.actor.address).map(|a| a.name.clone());
    let mut context = DraftContext {
        case: Some(ctx.number.to_string()),
        tema_label: Some(case.tema.label().to_string()),
        status: Some(case.status.as_str().to_string()),
        level: Some(case.level.as_str().to_string()),
        ..DraftContext::default()
    };
    context.for_templates = into_map(json!({
        "tema": case.tema.as_str(),
        "group": case.group,
        "agent": case.agent,
        "requester_name": brief.requester_name,
        "security_category": case.security_category.map(String::from),
        "external_ref": case.external_ref,
        "documents": brief.documents,
        "rejections": brief.rejections,
        "text": reply.text,
        "follow_up_days": ctx.config.control_posterior.business_days,
        "parent_case": ctx.parent.or(case.parent.as_deref()),
    }));
    if reply.to == Recipient::Requester {
        return context;
    }
    let diagnosis: Vec<&crate::store::actions::BriefAction> = brief
        .actions
        .iter()
        .filter(|a| a.level == "n2" && a.command == "nota" && a.refused == 0)
        .collect();
    let extra = json!({
        "subject": brief.subject,
        "requester": ctx.requester,
        "description": brief.description,
        "own_words": brief.description,
        "notes": brief.actions.iter().filter(|a| a.refused == 0).collect::<Vec<_>>(),
        "diagnosis": diagnosis,
        "actor": ctx.actor.address,
        "actor_name": actor_name,
        "reason": reply.text,
        // A case is solved at the level it stands at (a reopening resumes there).
        "solved_level": (case.status == Status::Solucionado).then(|| case.level.as_str()),
        "path": case.path,
        "commands": HELP.iter().map(|(command, description)| json!({"command": command, "description": description})).collect::<Vec<_>>(),
        "received": ctx.received,
    });
    context.raw_message_ids = Some(brief.requester_raw_ids.clone());
    context.for_templates.extend(into_map(extra));
    context
}

/// A mass-incident suggestion for an N2 coordinator.
pub struct Suggestion<'a> {
    /// The case whose arrival made the count (the row hangs on it).
    pub number: &'a str,
    pub buzon: &'a Buzon,
    pub ids: &'a MessageIds,
    pub config: &'a Config,
    pub coordinator: &'a str,
    pub code: &'a str,
    pub description: &'a str,
    pub cases: &'a [crate::store::actions::SuggestedCase],
}

pub fn suggestion_draft(s: &Suggestion<'_>) -> OutboxDraft {
    let domain = message_domain(&s.config.general.message_domain, s.buzon);
    let masiva = &s.config.masiva;
    OutboxDraft {
        kind: ReplyKind::SugerenciaMasiva,
        buzon: s.buzon.name.clone(),
        to: s.coordinator.to_string(),
        subject: format!(
            "[{}] Posible afectación masiva: {} casos con la regla {}",
            s.number,
            s.cases.len(),
            s.code
        ),
        message_id: s.ids.sign(
            s.number,
            &format!("m{}.sugerencia_masiva", s.code),
            s.coordinator,
            domain,
        ),
        in_reply_to: None,
        references: Vec::new(),
        context: DraftContext {
            case: Some(s.number.to_string()),
            ..DraftContext::for_templates(json!({
                "code": s.code,
                "description": s.description,
                "cases": s.cases,
                "window_minutes": masiva.window_minutes,
                "threshold": masiva.cases_to_suggest,
            }))
        },
    }
}

/// One mail to an agent listing the notifications queued for them (oldest first), instead of
/// one mail each; a case with several is listed once, as its newest notification had it (a
/// redacted one stays redacted). Signed like every agent mail, for the newest case listed.
pub fn digest_draft(
    ids: &MessageIds,
    config: &Config,
    buzon: &Buzon,
    rows: &[(OutboxItem, DraftContext)],
) -> Option<OutboxDraft> {
    let (newest, _) = rows.last()?;
    let mut cases: Vec<Value> = Vec::new();
    for (row, context) in rows.iter().rev() {
        if cases.iter().any(|c| c["number"] == row.case_number.as_str()) {
            continue;
        }
        cases.push(json!({
            "number": row.case_number,
            "subject": row.subject,
            "tema_label": context.tema_label,
            "status": context.status,
            "level": context.level,
            "redacted": context.redacted,
        }));
    }
    cases.reverse();
    let domain = message_domain(&config.general.message_domain, buzon);
    let detail = format!("d{}.{}", newest.id, ReplyKind::ResumenNotificaciones.as_str());
    Some(OutboxDraft {
        kind: ReplyKind::ResumenNotificaciones,
        buzon: buzon.name.clone(),
        to: newest.to_addr.clone(),
        subject: format!("Resumen: {} notificaciones de casos", rows.len()),
        message_id: ids.sign(&newest.case_number, &detail, &newest.to_addr, domain),
        in_reply_to: None,
        references: Vec::new(),
        context: DraftContext {
            case: Some(newest.case_number.clone()),
            ..DraftContext::for_templates(json!({"cases": cases, "count": rows.len()}))
        },
    })
}

/// `[FE-2026-000123] Original subject`, without "RE: RV: FW:" piles or an older tag.
pub fn tagged_subject(number: &str, subject: &str) -> String {
    let mut rest = subject.trim();
    // Prefixes and our own tag alternate in long threads ("RE: [FE-…] RV: x"): strip both
    // until neither is left.
    loop {
        let before = rest;
        rest = strip_reply_prefixes(rest);
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
    reply: &Reply,
) -> DraftContext {
    let kind = reply.kind;
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
        "tema": case.tema.as_str(),
        "requester_name": inbound.and_then(|m| m.from_name.clone()),
        "documents": documents,
        "rejections": analysis.rejections,
        "missing": missing,
        "attachment_problems": analysis.problems,
        "group": case.group,
        "agent": case.agent,
        // A security report's acknowledgement says no more than the case number.
        "security_category": case.security_category.map(String::from),
        // Where someone who may not write to this buzón should write instead.
        "general_address": ctx.config.buzones.iter().find(|b| !b.providers_only).map(|b| &b.address),
    });
    if !kind.to_requester() {
        value["warnings"] = json!(analysis.warnings);
        value["provider"] = json!(analysis.provider.as_ref().map(|p| &p.name));
    }
    if kind == ReplyKind::NotificacionAgente {
        // Agents see the requester's words; requesters never get their own text echoed back.
        value["requester"] = json!(ctx.requester);
        value["own_words"] = json!(inbound.map(|m| m.own_words.clone()));
    }
    if kind == ReplyKind::AvisoTopeCasos {
        value["requester"] = json!(ctx.requester);
        value["text"] = json!(reply.text);
    }
    DraftContext {
        case: Some(ctx.number.to_string()),
        raw_message_id: Some(ctx.raw_id),
        tema_label: Some(case.tema.label().to_string()),
        status: Some(case.status.as_str().to_string()),
        level: Some(case.level.as_str().to_string()),
        known_errors: Some(analysis.known_errors.clone()),
        learned_answers: Some(learned_answers(analysis)),
        ..DraftContext::for_templates(value)
    }
}

/// Only the approved answer reaches the requester: the root cause is the agents' note and the
/// problem case is someone else's.
fn learned_answers(analysis: &Analysis) -> Vec<LearnedAnswer> {
    let official = |code: &str| {
        let quoted = analysis.rejections.iter().find(|r| r.code.eq_ignore_ascii_case(code));
        quoted.map(|r| r.description.clone())
    };
    analysis
        .learned
        .iter()
        .flat_map(|l| {
            l.codes.iter().filter(|c| analysis.known_errors.contains(c)).map(|code| LearnedAnswer {
                code: code.clone(),
                official_message: official(code),
                answer: l.answer.clone(),
            })
        })
        .collect()
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

    #[test]
    fn subject_tag_strips_the_portuguese_and_italian_prefixes_too() {
        // These three were missing from this path while the Thread-Topic already stripped them.
        for subject in ["RES: Nota crédito", "ENC: Nota crédito", "RIF: Nota crédito"] {
            assert_eq!(
                tagged_subject("FE-2026-000001", subject),
                "[FE-2026-000001] Nota crédito",
                "subject {subject:?}"
            );
        }
        assert_eq!(
            tagged_subject("FE-2026-000001", "RE: [FE-2026-000001] RV: Re : Nota crédito"),
            "[FE-2026-000001] Nota crédito"
        );
    }
}
