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
use crate::mail::outgoing::thread_index;
use crate::mail::thread::MessageIds;
use crate::store::actions::{AgentThread, CaseBrief, RequesterThread};
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
    /// Open cases about the same invoice (CUFE/CUDE), for the agent's notification: the oldest
    /// few, and how many more.
    pub same_cufe: &'a [String],
    pub same_cufe_more: u64,
}

/// The address answers go to: Reply-To when given, else From.
pub fn reply_address(inbound: &Inbound) -> String {
    inbound.reply_to.clone().unwrap_or_else(|| inbound.from.clone())
}

/// References kept on a reply: the newest ones are what clients thread on.
const MAX_REFERENCES: usize = 10;

/// `agents`: the agents' conversation of the case so far (empty for a new case).
pub fn drafts(
    ctx: &ReplyContext<'_>,
    analysis: &Analysis,
    transition: &Transition,
    agents: &AgentThread,
) -> Vec<OutboxDraft> {
    let inbound = analysis.inbound.as_ref();
    let case = &transition.case;
    let subject = system_tagged(
        tagged_subject(ctx.number, inbound.map_or("", |m| m.subject.as_str())),
        ctx.number,
        case,
    );
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
        agent_subject: agents.subject.as_deref().map_or_else(
            || subject.clone(),
            |case_subject| {
                system_tagged(tagged_subject(ctx.number, case_subject), ctx.number, case)
            },
        ),
        subject,
        thread: RequesterThread {
            in_reply_to,
            references,
            thread_index: inbound.and_then(|m| m.thread_index.clone()),
        },
        agents: agents.clone(),
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
    /// The subject of every agent mail about the case: the case's own, tagged (a requester's
    /// later mail may come with another subject; the agents' conversation keeps one).
    agent_subject: String,
    /// Where mail to the requester threads.
    thread: RequesterThread,
    /// Where mail to agents threads: the agents' conversation of the case so far.
    agents: AgentThread,
}

impl Shared<'_> {
    /// One draft per reply: the requester's threaded on their conversation, agents' on the
    /// agents' conversation of the case; a security case's details only inside the security
    /// group; Message-IDs signed.
    fn drafts(
        &self,
        transition: &Transition,
        context_of: impl Fn(&Reply) -> DraftContext,
    ) -> Vec<OutboxDraft> {
        let mut agents = self.agents.clone();
        let mut drafts = Vec::with_capacity(transition.replies.len());
        for (index, reply) in transition.replies.iter().enumerate() {
            let to = match &reply.to {
                Recipient::Requester => self.requester.to_string(),
                Recipient::Agent(address) => address.clone(),
            };
            let (mut context, subject) = if must_redact(self.config, &transition.case, reply, &to) {
                (redacted(self.number, &transition.case, reply), redacted_subject(self.number))
            } else if reply.to == Recipient::Requester {
                (context_of(reply), self.subject.clone())
            } else {
                (context_of(reply), self.agent_subject.clone())
            };
            let detail = format!("{}.{}.{}", self.nonce, index, reply.kind.as_str());
            // Bound to its recipient: only the agent it was sent to may command by answering.
            let message_id = self.ids.sign(self.number, &detail, &to, self.domain);
            let (in_reply_to, references) = match &reply.to {
                Recipient::Requester => {
                    context.thread_index = self.thread.thread_index.clone();
                    (self.thread.in_reply_to.clone(), self.thread.references.clone())
                }
                Recipient::Agent(_) if reply.kind.in_agent_thread() => {
                    let (in_reply_to, references) = self.agent_thread_headers(&agents);
                    let index = agent_thread_index(self.number, &agents);
                    context.agent_thread_index = Some(index.clone());
                    agents.sent.push(message_id.clone());
                    agents.last_thread_index = Some(index);
                    (Some(in_reply_to), references)
                }
                Recipient::Agent(_) => (None, Vec::new()),
            };
            drafts.push(OutboxDraft {
                kind: reply.kind,
                buzon: self.buzon.name.clone(),
                to,
                subject,
                message_id,
                in_reply_to,
                references,
                context,
            });
        }
        drafts
    }

    /// In-Reply-To and References of the next agent mail about the case: the conversation's
    /// root first, then the newest earlier agent mails; it answers the newest (or the root).
    fn agent_thread_headers(&self, agents: &AgentThread) -> (String, Vec<String>) {
        let root = agent_thread_root(self.ids, self.number, self.domain);
        let skip = agents.sent.len().saturating_sub(MAX_REFERENCES - 1);
        let mut references = vec![root.clone()];
        references.extend(agents.sent.iter().skip(skip).cloned());
        let in_reply_to = agents.sent.last().cloned().unwrap_or(root);
        (in_reply_to, references)
    }
}

/// The Message-ID every agent mail about a case descends from: the same for the whole life of
/// the case (signed, so a reply that quotes only it still finds the case), never sent itself,
/// bound to no recipient and of no kind that commands.
pub fn agent_thread_root(ids: &MessageIds, number: &str, domain: &str) -> String {
    ids.sign(number, AGENT_THREAD_ROOT, "", domain)
}

/// The detail of [`agent_thread_root`]: no [`ReplyKind`] is called so.
const AGENT_THREAD_ROOT: &str = "hilo_agentes";

/// Outlook's Thread-Index of the next agent mail: a child of the previous one, or the header of
/// the agents' conversation (its GUID from the case number) for the first.
fn agent_thread_index(number: &str, agents: &AgentThread) -> String {
    let seed = format!("{number}/{AGENT_THREAD_ROOT}");
    thread_index(agents.last_thread_index.as_deref(), chrono::Utc::now(), seed.as_bytes())
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

/// All that mail about a security case may say to someone outside the security group. A refused
/// command keeps the desk's explanation (its own words, no detail of the case): an agent whose
/// case became a security event (`#seguridad`) learns why his command no longer applies.
fn redacted(number: &str, case: &Case, reply: &Reply) -> DraftContext {
    let explanation = match reply.kind {
        ReplyKind::RespuestaComando => reply.text.clone(),
        _ => None,
    };
    DraftContext {
        case: Some(number.to_string()),
        status: Some(case.status.as_str().to_string()),
        level: Some(case.level.as_str().to_string()),
        redacted: true,
        ..DraftContext::for_templates(json!({
            "security_category": case.security_category.map(String::from),
            "text": explanation,
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
    agents: &AgentThread,
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
        subject: system_tagged(
            tagged_subject(ctx.number, &brief.subject),
            ctx.number,
            &transition.case,
        ),
        agent_subject: system_tagged(
            tagged_subject(ctx.number, &brief.subject),
            ctx.number,
            &transition.case,
        ),
        thread: thread.clone(),
        agents: agents.clone(),
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
        // Aranda and PQSR are greeted as nobody in particular, never by the robot's name.
        "requester_name": brief
            .requester_name
            .as_ref()
            .filter(|_| crate::desk::systems::system_name(case.channel).is_none()),
        "security_category": case.security_category.map(String::from),
        "external_ref": case.external_ref,
        "documents": brief.documents,
        "rejections": brief.rejections,
        "text": reply.text,
        "follow_up_days": days_value(ctx.config.control_posterior.business_days),
        "parent_case": ctx.parent.or(case.parent.as_deref()),
    }));
    if reply.to == Recipient::Requester {
        if reply.kind.written_by_person() {
            // The agent's words go out as the agent's letter, signed with their name.
            context.for_templates.insert("signed_by".into(), json!(actor_name));
        }
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

/// A number of days for the templates: a whole one as an integer (`3`, not `3.0`), a part of
/// one as it is (the `numero` filter writes `1,5`).
fn days_value(days: f64) -> Value {
    if days.fract() == 0.0 && days.abs() < 1e9 { json!(days as i64) } else { json!(days) }
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

/// `[FE-2026-000123] [Aranda 45678] Original subject`: a case that came from Aranda or PQSR
/// keeps that system's reference in every subject, so the system files our answers on its
/// ticket and its people find it. Other cases' subjects as they are.
pub fn system_tagged(subject: String, number: &str, case: &Case) -> String {
    let (Some(_), Some(reference)) =
        (crate::desk::systems::system_name(case.channel), case.external_ref.as_deref())
    else {
        return subject;
    };
    let tag = format!("[{reference}]");
    if subject.contains(&tag) {
        return subject;
    }
    let case_tag = format!("[{number}]");
    match subject.strip_prefix(&case_tag) {
        Some(rest) => format!("{case_tag} {tag}{rest}"),
        None => format!("{tag} {subject}"),
    }
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
            .filter(|(tag, _)| is_case_number(tag.trim(), number))
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

/// `tag` is a number of this desk's shape (`FE-2026-000123`), this case's or another's: a new
/// problem on a closed case's thread opens a related case, whose subject carries only its own.
fn is_case_number(tag: &str, number: &str) -> bool {
    tag.len() == number.len()
        && tag.chars().zip(number.chars()).all(|(t, n)| {
            if n.is_ascii_digit() { t.is_ascii_digit() } else { t.eq_ignore_ascii_case(&n) }
        })
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
    // A system is not greeted as a person: its notification's person is, when it names one.
    let requester_name = match &analysis.system_notice {
        Some(notice) => notice.person.as_ref().map(|p| p.label()),
        None => inbound.and_then(|m| m.from_name.clone()),
    };
    let mut value = json!({
        "tema": case.tema.as_str(),
        "requester_name": requester_name,
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
        value["same_cufe"] = json!(ctx.same_cufe);
        value["same_cufe_more"] = json!(ctx.same_cufe_more);
        // Why it comes now (a task for N1 on a system's notification, …).
        value["reason"] = json!(reply.text);
    }
    if kind == ReplyKind::AvisoTopeCasos || kind == ReplyKind::AvisoRebote {
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
    fn agent_mail_threads_on_the_agents_conversation_of_the_case() {
        use base64::Engine as _;
        let config = Config::builtin().expect("config");
        let buzon = config.buzones[0].clone();
        let ids = MessageIds::new(b"clave de prueba de los hilos".to_vec());
        let mut t = crate::desk::systems::tests::opened_without_xml(crate::desk::Channel::Correo);
        t.replies.clear();
        t.reply(ReplyKind::NotificacionAgente, Recipient::Agent("ana@dian.gov.co".into()));
        t.reply(ReplyKind::AcuseRecibo, Recipient::Requester);
        t.reply(ReplyKind::AvisoSolucion, Recipient::Agent("luis@dian.gov.co".into()));
        let drafts = |nonce: &str, agents: AgentThread| {
            let shared = Shared {
                number: "FE-2026-000123",
                buzon: &buzon,
                requester: "rosa@correo.example",
                ids: &ids,
                config: &config,
                domain: "dian.gov.co",
                nonce: nonce.to_string(),
                subject: "[FE-2026-000123] Factura".into(),
                agent_subject: "[FE-2026-000123] Factura".into(),
                thread: RequesterThread::default(),
                agents,
            };
            shared.drafts(&t, |_| DraftContext::default())
        };
        let root = agent_thread_root(&ids, "FE-2026-000123", "dian.gov.co");
        let first = drafts("r1", AgentThread::default());
        assert_eq!(first[0].in_reply_to.as_ref(), Some(&root));
        assert_eq!(first[0].references, std::slice::from_ref(&root));
        assert!(first[1].references.is_empty(), "the requester's thread is another");
        assert_eq!(first[2].in_reply_to.as_ref(), Some(&first[0].message_id));
        assert_eq!(first[2].references, [root.clone(), first[0].message_id.clone()]);
        // A later action continues the same conversation, and its Thread-Index extends it.
        let later = AgentThread {
            subject: None,
            sent: vec![first[0].message_id.clone(), first[2].message_id.clone()],
            last_thread_index: first[2].context.agent_thread_index.clone(),
        };
        let second = drafts("r2", later);
        assert_eq!(
            second[0].references,
            [root.clone(), first[0].message_id.clone(), first[2].message_id.clone()]
        );
        assert_eq!(second[0].in_reply_to.as_ref(), Some(&first[2].message_id));
        let decode = |d: &OutboxDraft| {
            let index = d.context.agent_thread_index.as_deref().expect("a Thread-Index");
            base64::engine::general_purpose::STANDARD.decode(index).expect("base64")
        };
        assert!(decode(&second[0]).starts_with(&decode(&first[2])));
        assert!(decode(&first[2]).starts_with(&decode(&first[0])));
        // The root finds the case, but commands nothing and is bound to nobody.
        let signed = ids.verify_signed(&root).expect("signed");
        assert_eq!(signed.case, "FE-2026-000123");
        assert!(ReplyKind::parse(&signed.kind).is_none());
        assert!(!ids.was_sent_to(&signed, "ana@dian.gov.co"));
    }

    #[test]
    fn a_systems_reference_follows_the_case_tag_once() {
        let mut case =
            crate::desk::systems::tests::opened_without_xml(crate::desk::Channel::Aranda).case;
        case.external_ref = Some("Aranda 45678".into());
        let tagged = |subject: &str| {
            system_tagged(tagged_subject("FE-2026-000123", subject), "FE-2026-000123", &case)
        };
        assert_eq!(
            tagged("Caso 45678: factura"),
            "[FE-2026-000123] [Aranda 45678] Caso 45678: factura"
        );
        assert_eq!(
            tagged("RE: [FE-2026-000123] [Aranda 45678] Caso 45678: factura"),
            "[FE-2026-000123] [Aranda 45678] Caso 45678: factura"
        );
        case.channel = crate::desk::Channel::Correo;
        case.external_ref = Some("CSAT-4711".into());
        assert_eq!(
            system_tagged("[FE-2026-000123] Factura".into(), "FE-2026-000123", &case),
            "[FE-2026-000123] Factura"
        );
    }

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
            tagged_subject("FE-2026-000002", "RE: [FE-2026-000001] Factura"),
            "[FE-2026-000002] Factura",
            "a related case drops the old case's tag"
        );
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
