//! Agents' actions on cases (activities 5–12), by e-mail command or CLI, and what the desk does
//! on its own afterwards: control posterior, mass-incident suggestions and validations.

use chrono::{DateTime, Utc};

use super::compose::{self, ActionContext};
use super::{Analysis, Desk, Outcome};
use crate::desk::CaseType;
use crate::desk::Level;
use crate::desk::answer::Reading;
use crate::desk::case;
use crate::desk::case::{Case, ReplyKind, Status, Transition};
use crate::desk::command::{self, Action, Command, Parsed};
use crate::desk::levels::{self, Actor, Role, Roster};
use crate::mail::Inbound;
use crate::store::actions::{ActionExtras, ActionRecord, AgentMessage, GuideEntry, ProposalDraft};
use crate::store::cases::{CaseChange, FoundCase};
use crate::store::outbox::OutboxDraft;
use crate::store::{Store, StoreError};

/// How an action reached the desk.
pub enum Via<'a> {
    /// A reply to a case's mail: the stored raw message and what it said.
    Mail { raw_id: i64, analysis: &'a Analysis },
    /// `mesa-fe case …` by an operator.
    Cli,
    /// A form of the web console, by a signed-in agent or coordinator.
    Console,
}

impl Via<'_> {
    /// How the action log names the way it came: `correo`, `cli` or `consola`.
    pub fn name(&self) -> &'static str {
        match self {
            Via::Mail { .. } => "correo",
            Via::Cli => "cli",
            Via::Console => "consola",
        }
    }

    /// A person at a terminal or a browser reads a refusal at once: no mail about it.
    fn answered_in_place(&self) -> bool {
        matches!(self, Via::Cli | Via::Console)
    }
}

/// What an action did, for the CLI and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    pub case: String,
    pub status: Status,
    pub level: Level,
    /// Why the engine refused it (nothing changed).
    pub refusal: Option<String>,
    /// Children of a mass incident that got the solution.
    pub children_solved: usize,
    /// The related case `#relacionado` created.
    pub created: Option<String>,
}

/// Why a CLI action could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    #[error("el caso {0} no existe")]
    NoCase(String),
    #[error(
        "{0} no es un agente configurado ni la dirección de Administración Técnica: use --agente con el correo de un agente de [[agentes]]"
    )]
    NotAnAgent(String),
    #[error("el caso {0} no es de sus grupos")]
    NotVisible(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a message on an existing case is.
pub(super) enum OnCase {
    Command(Actor),
    /// From an agent's address, but not a command the desk may run: why (for the agent).
    NotACommand(Actor, String),
    ValidationAnswer,
    FollowUp,
}

/// Why a message from an agent's address does not command: it does not answer mail the desk
/// sent to that agent about this case.
const NOT_SENT_TO_YOU: &str = "su correo no responde a un correo de la mesa enviado a usted sobre \
    este caso (una notificación, un aviso o la respuesta a un comando). Por seguridad, los comandos \
    solo se aceptan en respuesta a esos correos: responda al último que recibió sobre el caso.";

/// Why a message from an agent's address does not command: the buzón's MTA did not vouch for it.
const NOT_AUTHENTICATED: &str = "el servidor de correo de la mesa no confirmó que el correo \
    salió de su cuenta (no trae un resultado DMARC, DKIM o SPF válido para su dominio). Si usted \
    lo escribió, envíelo de nuevo desde su cuenta institucional respondiendo a este correo; si no \
    lo escribió, alguien usó su dirección.";

impl Desk {
    /// A configured agent, a group's coordinator or Administración Técnica, by address alone:
    /// whether a message from that address may command is [`Desk::on_case`]'s question.
    pub fn actor(&self, address: &str) -> Option<Actor> {
        let address = address.to_lowercase();
        if let Some(agent) = self.config.agent(&address) {
            return Some(Actor { address, role: Role::Agent(agent.level) });
        }
        // Coordinators supervise their groups: they act at their group's level.
        if let Some(group) =
            self.config.grupos.iter().find(|g| g.coordinator.eq_ignore_ascii_case(&address))
        {
            return Some(Actor { address, role: Role::Agent(group.level) });
        }
        self.is_csat(&address).then_some(Actor { address, role: Role::AdministracionTecnica })
    }

    pub(super) fn is_csat(&self, address: &str) -> bool {
        self.config.enrutamiento.csat_address.eq_ignore_ascii_case(address)
    }

    /// Administración Técnica's own ticket number in a subject ("CSAT-4711").
    pub(super) fn csat_ticket(&self, subject: &str) -> Option<String> {
        let prefix = &self.config.enrutamiento.csat_ticket_prefix;
        if prefix.is_empty() {
            return None;
        }
        subject
            .split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')' | ':' | ','))
            .find(|token| {
                token.len() > prefix.len()
                    && token.is_char_boundary(prefix.len())
                    && token[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && token[prefix.len()..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            .map(str::to_uppercase)
    }

    /// A message from an agent's address commands only when it answers mail the desk sent to
    /// that agent about this case (or, for Administración Técnica, carries the case's ticket)
    /// and the buzón's MTA vouches for the sender. Otherwise it is not a command: kept as a
    /// note, the agent told why; unless it comes from the case's requester, who is answered as
    /// one.
    pub(super) fn on_case(&self, analysis: &Analysis, found: &FoundCase) -> OnCase {
        let Some(inbound) = &analysis.inbound else { return OnCase::FollowUp };
        if analysis.auto_generated {
            return OnCase::FollowUp;
        }
        if let Some(actor) = self.actor(&inbound.from) {
            // A forgery most often fails both: the agent first hears that it was not his.
            let why = if !self.sender_verified(inbound) {
                Some(NOT_AUTHENTICATED)
            } else if !self.answers_mail_to(inbound, found, &actor) {
                Some(NOT_SENT_TO_YOU)
            } else {
                None
            };
            match why {
                None => return OnCase::Command(actor),
                Some(_) if found.requester.eq_ignore_ascii_case(&actor.address) => {}
                Some(why) => return OnCase::NotACommand(actor, why.to_string()),
            }
        }
        // Only a direct answer to the "¿se resolvió?" mail is a survey answer.
        let answers_validation = inbound
            .in_reply_to
            .iter()
            .filter_map(|id| self.ids.verify_detail(id))
            .any(|(_, detail)| detail.ends_with(".validacion_masiva"));
        if answers_validation { OnCase::ValidationAnswer } else { OnCase::FollowUp }
    }

    /// Whether the message answers mail of ours sent to `actor` about this case, of a kind agents
    /// receive; or, from Administración Técnica, carries the case's own ticket in its subject.
    fn answers_mail_to(&self, inbound: &Inbound, found: &FoundCase, actor: &Actor) -> bool {
        let bound = inbound
            .in_reply_to
            .iter()
            .chain(&inbound.references)
            .filter_map(|id| self.ids.verify_signed(id))
            .any(|signed| {
                signed.case == found.number
                    && ReplyKind::parse(&signed.kind).is_some_and(ReplyKind::takes_commands)
                    && self.ids.was_sent_to(&signed, &actor.address)
            });
        bound
            || (actor.role == Role::AdministracionTecnica
                && found.case.external_ref.is_some()
                && self.csat_ticket(&inbound.subject) == found.case.external_ref)
    }

    /// Whether the buzón's MTA vouches for the From address (`autenticacion`), or the operator
    /// turned the check off.
    pub(super) fn sender_verified(&self, inbound: &Inbound) -> bool {
        let auth = &self.config.autenticacion;
        let trusted = command::trusted_results(&inbound.leading_headers, &auth.servers);
        !auth.required || command::sender_verified(&trusted, &inbound.from)
    }

    /// A message from an agent's address that may not command: its text stays in the case's
    /// history as a note without effect (not shown to agents as theirs), and the agent hears why.
    pub(super) async fn refuse_by_mail(
        &self,
        store: &Store,
        raw_id: i64,
        found: &FoundCase,
        analysis: &Analysis,
        actor: &Actor,
        why: &str,
    ) -> Result<Outcome, StoreError> {
        let own_words = analysis.inbound.as_ref().map_or("", |m| m.own_words.as_str());
        let written = match command::parse(own_words) {
            Parsed::Action(Action { command: Command::Nota, .. }) => None,
            Parsed::Action(action) => Some(format!("#{}", action.command.name())),
            Parsed::Unknown { first_line, .. } => Some(first_line),
        };
        let t = levels::not_a_command(&found.case, actor, written.as_deref(), why);
        let record = ActionRecord {
            actor: &actor.address,
            via: "correo",
            level: found.case.level,
            command: Command::Nota.name(),
            argument: written.as_deref(),
            text: own_words,
            refused: true,
        };
        let nonce = format!("r{raw_id}");
        let drafts = self.action_drafts(store, found, actor, &t, nonce, written.as_deref()).await?;
        let change = CaseChange { transition: &t, drafts, follow_up_until: None };
        let message = Some(AgentMessage { raw_id, message: analysis.stored()? });
        store.record_action(message, &record, &[(found, change)], &ActionExtras::default()).await?;
        Ok(Outcome::Appended { raw_id, case: found.number.clone() })
    }

    /// An agent's (or CSAT's) reply on a case: its first line says what to do.
    pub(super) async fn act_by_mail(
        &self,
        store: &Store,
        raw_id: i64,
        found: &FoundCase,
        analysis: &Analysis,
        actor: &Actor,
    ) -> Result<Outcome, StoreError> {
        let own_words = analysis.inbound.as_ref().map_or("", |m| m.own_words.as_str());
        let via = Via::Mail { raw_id, analysis };
        match command::parse(own_words) {
            Parsed::Action(action) => {
                self.apply_action(store, found, actor, &action, via).await?;
            }
            Parsed::Unknown { first_line, problem } => {
                let t = levels::not_understood(&found.case, actor, &problem);
                let record = ActionRecord {
                    actor: &actor.address,
                    via: "correo",
                    level: found.case.level,
                    command: "desconocido",
                    argument: Some(&first_line),
                    text: own_words,
                    refused: true,
                };
                let drafts = self
                    .action_drafts(store, found, actor, &t, via_nonce(&via), Some(&first_line))
                    .await?;
                let change = CaseChange { transition: &t, drafts, follow_up_until: None };
                let message = Some(AgentMessage { raw_id, message: analysis.stored()? });
                store
                    .record_action(message, &record, &[(found, change)], &ActionExtras::default())
                    .await?;
            }
        }
        Ok(Outcome::Appended { raw_id, case: found.number.clone() })
    }

    /// `mesa-fe case solve|escalate|… FE-…`: the same actions as by e-mail.
    pub async fn act_by_cli(
        &self,
        store: &Store,
        number: &str,
        agent: &str,
        action: &Action,
    ) -> Result<ActionOutcome, ActError> {
        let actor = self.actor(agent).ok_or_else(|| ActError::NotAnAgent(agent.to_string()))?;
        self.act_on_number(store, number, &actor, action, false).await
    }

    /// A console form's action by a signed-in person: the same engine call as their mail
    /// command, refused when the case is not one they may see.
    pub async fn act_by_console(
        &self,
        store: &Store,
        number: &str,
        actor: &Actor,
        action: &Action,
    ) -> Result<ActionOutcome, ActError> {
        self.act_on_number(store, number, actor, action, true).await
    }

    async fn act_on_number(
        &self,
        store: &Store,
        number: &str,
        actor: &Actor,
        action: &Action,
        console: bool,
    ) -> Result<ActionOutcome, ActError> {
        // The service may change the case meanwhile (a reply arriving): read it again and retry.
        let mut attempts = 0;
        loop {
            let found = store
                .case_by_number(&number.to_uppercase())
                .await?
                .ok_or_else(|| ActError::NoCase(number.to_string()))?;
            if console && !self.sees(actor, &found.case) {
                return Err(ActError::NotVisible(found.number));
            }
            let via = if console { Via::Console } else { Via::Cli };
            match self.apply_action(store, &found, actor, action, via).await {
                Err(StoreError::Conflict) if attempts < 3 => attempts += 1,
                other => return Ok(other?),
            }
        }
    }

    /// The engine's pure transition for `action` on `found` by `actor`, with what it weighed
    /// read from the store (staffing, the roster, the case named, a pending proposal).
    async fn engine_transition(
        &self,
        store: &Store,
        found: &FoundCase,
        actor: &Actor,
        action: &Action,
    ) -> Result<(Transition, Option<FoundCase>, Option<i64>), StoreError> {
        let parent = match &action.command {
            Command::Padre(parent) => store.case_by_number(parent).await?,
            _ => None,
        };
        let parent_exists = parent.is_some();
        let parent_visible = parent.is_some_and(|p| self.sees(actor, &p.case));
        let links = self.links_of(store, found, actor, &action.command).await?;
        let pending_proposal = match &action.command {
            Command::AprobarErrorConocido => store.pending_proposal(found.id).await?,
            _ => None,
        };
        let staffing = self.staffing(&found.case).await_loads(store).await?;
        let n3 = self.plan(self.config.enrutamiento.n3_group.clone()).await_loads(store).await?;
        let n3_technical = match self.config.n3_technical_group() {
            Some(group) => Some(self.plan(group.name.clone()).await_loads(store).await?),
            None => None,
        };
        let security_plan = self.plan(self.config.enrutamiento.security_group.clone());
        let security = match &action.command {
            Command::Seguridad(_) => security_plan.await_loads(store).await?,
            // Only `#seguridad` moves a case there: no need to count the group's loads.
            _ => case::Staffing {
                group: security_plan.group,
                coordinator: security_plan.coordinator,
                agents: Vec::new(),
            },
        };
        let roster = Roster {
            n3,
            n3_technical,
            security,
            csat: self.config.enrutamiento.csat_address.clone(),
            n1: self.n1_address(),
            agents: self.config.agentes.iter().map(|a| a.address.to_lowercase()).collect(),
            parent_exists,
            parent_visible,
            proposal_pending: pending_proposal.is_some(),
            may_approve: self.coordinates_tema_group(&actor.address, &found.case),
            cleared_for_security: actor.role == Role::AdministracionTecnica
                || self.config.in_group(&self.config.enrutamiento.security_group, &actor.address),
            merge_target: links.merge_target,
            children: links.children,
            merged_into: found.merged_into.clone(),
        };
        let t = levels::act(&found.case, &found.number, actor, action, &staffing, &roster);
        Ok((t, links.target, pending_proposal))
    }

    /// The mail `action` would queue for `found` from the console, without writing anything:
    /// the same transition and drafts as [`Desk::apply_action`] (the children of a solved
    /// parent get theirs too, not shown here). Empty with the engine's reason when it refuses.
    pub async fn preview_action(
        &self,
        store: &Store,
        found: &FoundCase,
        actor: &Actor,
        action: &Action,
    ) -> Result<(Vec<OutboxDraft>, Option<String>), StoreError> {
        let (mut t, _, _) = self.engine_transition(store, found, actor, action).await?;
        if let Some(why) = t.refusal {
            return Ok((Vec::new(), Some(why)));
        }
        t.replies.retain(|r| r.kind != ReplyKind::RespuestaComando);
        let drafts = self.action_drafts(store, found, actor, &t, "vista".to_string(), None).await?;
        Ok((drafts, None))
    }

    /// The engine's transition for the action, its mail, the children of a solved parent, the
    /// guide entry of a first-contact solution: all written in one transaction.
    pub async fn apply_action(
        &self,
        store: &Store,
        found: &FoundCase,
        actor: &Actor,
        action: &Action,
        via: Via<'_>,
    ) -> Result<ActionOutcome, StoreError> {
        let (mut t, merge_target, pending_proposal) =
            self.engine_transition(store, found, actor, action).await?;
        if let Command::Relacionado { tema } = action.command
            && t.refusal.is_none()
        {
            return self.relate(store, found, actor, action, tema, via).await;
        }
        if let Via::Mail { analysis, .. } = &via
            && actor.role == Role::AdministracionTecnica
            && t.refusal.is_none()
            && let Some(ticket) =
                analysis.inbound.as_ref().and_then(|m| self.csat_ticket(&m.subject))
        {
            t.case.external_ref = Some(ticket);
        }
        if via.answered_in_place() {
            t.replies.retain(|r| r.kind != ReplyKind::RespuestaComando);
        }
        let solved = t.refusal.is_none() && matches!(action.command, Command::Solucion { .. });
        let brief = store.case_brief(found.id).await?;
        // A security problem's details stay in its group: no proposal for the general base.
        let proposal = if solved
            && t.case.case_type == CaseType::Problema
            && t.case.security_category.is_none()
        {
            Some(self.propose_known_error(store, found, &brief, &mut t, &action.text).await?)
        } else {
            None
        };
        let children = if solved { store.children_of(found.id).await? } else { Vec::new() };
        let child_transitions = self.solve_children(&mut t, &found.number, &children, &action.text);
        let nonce = via_nonce(&via);
        let drafts = self.action_drafts(store, found, actor, &t, nonce.clone(), None).await?;
        let mut changes = vec![(
            found,
            CaseChange {
                follow_up_until: self.follow_up_until(Some(&found.case), &t.case),
                transition: &t,
                drafts,
            },
        )];
        let merge = match (&merge_target, &t.refusal) {
            (Some(target), None) => Some(self.absorb(store, found, target, actor, &nonce).await?),
            _ => None,
        };
        if let (Some(target), Some(absorbed)) = (&merge_target, &merge) {
            changes.push((target, absorbed.change()));
        }
        for (index, (child, child_t)) in children.iter().zip(&child_transitions).enumerate() {
            let nonce = format!("{nonce}h{index}");
            let drafts = self.action_drafts(store, child, actor, child_t, nonce, None).await?;
            let follow_up_until = self.follow_up_until(Some(&child.case), &child_t.case);
            changes.push((child, CaseChange { transition: child_t, drafts, follow_up_until }));
        }
        let guide = match action.command {
            Command::Solucion { first_contact: true } if t.refusal.is_none() => Some(GuideEntry {
                tema: found.case.tema.as_str(),
                codes: brief.codes.join(","),
                question: &brief.subject,
                answer: &action.text,
                author: &actor.address,
            }),
            _ => None,
        };
        let extras = ActionExtras {
            guide,
            proposal: proposal.as_ref().map(|(codes, error_text)| ProposalDraft {
                codes: codes.clone(),
                error_text,
                root_cause: t.case.root_cause.as_deref().unwrap_or_default(),
                answer: &action.text,
            }),
            approve: pending_proposal.filter(|_| t.refusal.is_none()),
            merge: merge.as_ref().map(|m| m.rows),
        };
        let record = action_record(found, actor, action, &via, t.refusal.is_some());
        let message = match via {
            Via::Mail { raw_id, analysis } => {
                Some(AgentMessage { raw_id, message: analysis.stored()? })
            }
            Via::Cli | Via::Console => None,
        };
        store.record_action(message, &record, &changes, &extras).await?;
        Ok(ActionOutcome {
            case: found.number.clone(),
            status: t.case.status,
            level: t.case.level,
            refusal: t.refusal.clone(),
            children_solved: child_transitions.len(),
            created: None,
        })
    }

    /// A solved problema proposes a known error (its rule codes and its children's, the solution
    /// as the first-contact answer) to the coordinator of its tema's N2 group. Returns the codes
    /// and the error text it matches.
    async fn propose_known_error(
        &self,
        store: &Store,
        found: &FoundCase,
        brief: &crate::store::actions::CaseBrief,
        t: &mut Transition,
        answer: &str,
    ) -> Result<(String, String), StoreError> {
        let mut codes = brief.codes.clone();
        for code in store.children_codes(found.id).await? {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        let error_text = brief
            .rejections
            .first()
            .map_or_else(|| brief.subject.clone(), |r| r.description.clone());
        let group = self.config.tema(t.case.tema).map(|g| g.n2_group.clone()).unwrap_or_default();
        let coordinator =
            self.config.group(&group).map(|g| g.coordinator.clone()).unwrap_or_default();
        let codes_text =
            if codes.is_empty() { "sin código".to_string() } else { codes.join(", ") };
        t.note(
            case::Activity::ControlPosterior,
            format!(
                "Problema solucionado: se propone un error conocido (reglas: {codes_text}) para \
                 aprobación del coordinador."
            ),
        );
        if !coordinator.is_empty() {
            let summary = format!(
                "Reglas: {codes_text}\nError: {error_text}\nCausa raíz: {}\nRespuesta de primer contacto:\n{answer}",
                t.case.root_cause.as_deref().unwrap_or_default()
            );
            t.reply_with(
                ReplyKind::PropuestaErrorConocido,
                crate::desk::case::Recipient::Agent(coordinator),
                &summary,
            );
        }
        Ok((codes.join(","), error_text))
    }

    /// Each child gets the parent's solution; a random sample also gets "¿se resolvió?". The
    /// parent's log records the children, the sample and the seed that drew it.
    fn solve_children(
        &self,
        parent: &mut Transition,
        parent_number: &str,
        children: &[FoundCase],
        text: &str,
    ) -> Vec<Transition> {
        if children.is_empty() {
            return Vec::new();
        }
        let seed = fastrand::u64(..);
        let size = self.config.masiva.validation_sample as usize;
        let sample = sample_indices(children.len(), size, seed);
        let sampled: Vec<&str> = sample.iter().map(|&i| children[i].number.as_str()).collect();
        parent.note(
            case::Activity::EntregarSolucion,
            format!(
                "Afectación masiva: solución entregada a {} casos hijos; muestra de validación de {} \
                 casos (semilla {seed}): {}.",
                children.len(),
                sampled.len(),
                sampled.join(", ")
            ),
        );
        children
            .iter()
            .enumerate()
            .map(|(i, child)| {
                levels::solve_as_child(&child.case, parent_number, text, sample.contains(&i))
            })
            .collect()
    }

    /// The outbox rows of a transition made by an action on `found`.
    pub(super) async fn action_drafts(
        &self,
        store: &Store,
        found: &FoundCase,
        actor: &Actor,
        t: &Transition,
        nonce: String,
        received: Option<&str>,
    ) -> Result<Vec<OutboxDraft>, StoreError> {
        if t.replies.is_empty() {
            return Ok(Vec::new());
        }
        let brief = store.case_brief(found.id).await?;
        let thread = store.requester_thread(found.id).await?;
        let agents = store.agent_thread(found.id).await?;
        let buzon = self.buzon_for(&found.buzon);
        let ctx = ActionContext {
            nonce: &nonce,
            number: &found.number,
            buzon: &buzon,
            requester: &found.requester,
            ids: &self.ids,
            config: &self.config,
            actor,
            received,
            parent: None,
        };
        Ok(compose::action_drafts(&ctx, &brief, &thread, &agents, t))
    }

    /// A requester's answer to "¿se resolvió?": recorded on the child and on its parent.
    pub(super) async fn validation_answer(
        &self,
        store: &Store,
        raw_id: i64,
        found: &FoundCase,
        analysis: &Analysis,
    ) -> Result<Outcome, StoreError> {
        let own_words = analysis.inbound.as_ref().map_or("", |m| m.own_words.as_str());
        let verdict = analysis.reading(&store.case_brief(found.id).await?.codes);
        if verdict != Reading::Confirma {
            // "No" (or an unclear answer) is a requester's reply in the control window: it
            // reopens the child, or reaches its agent; the parent's log hears of it too.
            let outcome = self.append(store, raw_id, found, analysis).await?;
            self.note_validation_on_parent(store, found, verdict).await?;
            return Ok(outcome);
        }
        let child_t = levels::validation_answer(&found.case, verdict);
        let parent = match &found.case.parent {
            Some(number) => store.case_by_number(number).await?,
            None => None,
        };
        let mut parent_t = parent.as_ref().map(|p| Transition::of(&p.case));
        if let Some(t) = parent_t.as_mut() {
            t.note(
                case::Activity::ControlPosterior,
                format!("Validación del caso hijo {}: {}.", found.number, verdict.label()),
            );
        }
        let mut changes = vec![(
            found,
            CaseChange { transition: &child_t, drafts: Vec::new(), follow_up_until: None },
        )];
        if let (Some(parent), Some(t)) = (&parent, &parent_t) {
            changes.push((
                parent,
                CaseChange { transition: t, drafts: Vec::new(), follow_up_until: None },
            ));
        }
        let sender = analysis.inbound.as_ref().map_or("", |m| m.from.as_str());
        let record = ActionRecord {
            actor: sender,
            via: "correo",
            level: found.case.level,
            command: "validacion",
            argument: Some(verdict.label()),
            text: own_words,
            refused: false,
        };
        let message = Some(AgentMessage { raw_id, message: analysis.stored()? });
        store.record_action(message, &record, &changes, &ActionExtras::default()).await?;
        Ok(Outcome::Appended { raw_id, case: found.number.clone() })
    }

    async fn note_validation_on_parent(
        &self,
        store: &Store,
        child: &FoundCase,
        verdict: Reading,
    ) -> Result<(), StoreError> {
        let Some(number) = &child.case.parent else { return Ok(()) };
        let Some(parent) = store.case_by_number(number).await? else { return Ok(()) };
        let mut t = Transition::of(&parent.case);
        t.note(
            case::Activity::ControlPosterior,
            format!(
                "Validación del caso hijo {}: {}; {}.",
                child.number,
                verdict.label(),
                if verdict == Reading::Persiste {
                    "el hijo se reabre"
                } else {
                    "el hijo sigue solucionado y se avisa a su agente"
                }
            ),
        );
        let change = CaseChange { transition: &t, drafts: Vec::new(), follow_up_until: None };
        match store.apply_changes(&[(&parent, change)]).await {
            // The parent changed meanwhile: the child's own log has the answer.
            Err(StoreError::Conflict) => Ok(()),
            other => other,
        }
    }

    /// Activity 12: closes the solved cases whose control window passed. Returns how many.
    pub async fn close_expired_follow_ups(&self, store: &Store) -> Result<usize, StoreError> {
        let expired = store.expired_follow_ups(Utc::now()).await?;
        let mut closed = 0;
        for found in &expired {
            let t = levels::close_after_follow_up(&found.case);
            let change = CaseChange { transition: &t, drafts: Vec::new(), follow_up_until: None };
            match store.apply_changes(&[(found, change)]).await {
                Ok(()) => closed += 1,
                // Someone acted on it meanwhile: the next sweep sees its new state.
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(closed)
    }

    /// After a case opens: enough recent cases with the same rejection make a suggestion to the
    /// N2 coordinator (not a merge).
    pub(super) async fn suggest_mass_incident(
        &self,
        store: &Store,
        number: &str,
        buzon: &crate::config::Buzon,
        analysis: &Analysis,
    ) -> Result<(), StoreError> {
        if analysis.security_category.is_some() {
            return Ok(());
        }
        let masiva = &self.config.masiva;
        let since = Utc::now() - chrono::Duration::minutes(i64::from(masiva.window_minutes));
        let group = self.config.tema(analysis.tema).map(|t| t.n2_group.clone()).unwrap_or_default();
        let Some(coordinator) = self.config.group(&group).map(|g| g.coordinator.clone()) else {
            return Ok(());
        };
        for rejection in analysis.rejections.iter().filter(|r| !r.notification) {
            let draft = |cases: &[crate::store::actions::SuggestedCase]| {
                compose::suggestion_draft(&compose::Suggestion {
                    number,
                    buzon,
                    ids: &self.ids,
                    config: &self.config,
                    coordinator: &coordinator,
                    code: &rejection.code,
                    description: &rejection.description,
                    cases,
                })
            };
            store
                .suggest_mass_incident(
                    &rejection.code,
                    since,
                    masiva.cases_to_suggest,
                    number,
                    draft,
                )
                .await?;
        }
        Ok(())
    }

    /// The end of the control window when `after` is a newly solved case.
    pub(super) fn follow_up_until(
        &self,
        before: Option<&Case>,
        after: &Case,
    ) -> Option<DateTime<Utc>> {
        let was_solved = before.is_some_and(|b| b.status == Status::Solucionado);
        if after.status != Status::Solucionado || was_solved {
            return None;
        }
        let end = self.config.calendar().add_business_days(
            self.config.zone().local(Utc::now()),
            self.config.control_posterior.business_days,
        );
        Some(end.with_timezone(&Utc))
    }

    /// Whether the actor's groups see `case`: its tema's N2 group and any group that holds or
    /// held it (or the actor held it); a security case only the security group sees;
    /// Administración Técnica sees what reached it.
    pub fn sees(&self, actor: &Actor, case: &Case) -> bool {
        if actor.role == Role::AdministracionTecnica {
            return case.path.iter().any(|hop| hop.level == Level::AdministracionTecnica);
        }
        if case.security_category.is_some() {
            return self.config.in_group(&self.config.enrutamiento.security_group, &actor.address);
        }
        let tema_group = self.config.tema(case.tema).map(|t| &t.n2_group);
        let mut groups = (case.group.iter().chain(tema_group))
            .chain(case.path.iter().filter_map(|h| h.group.as_ref()));
        groups.any(|group| self.config.in_group(group, &actor.address))
            || case.path.iter().any(|hop| hop.holder.eq_ignore_ascii_case(&actor.address))
    }

    /// `address` coordinates the N2 group of the case's tema (who approves known errors).
    fn coordinates_tema_group(&self, address: &str, case: &Case) -> bool {
        let group = self.config.tema(case.tema).map(|t| t.n2_group.as_str()).unwrap_or_default();
        self.config.group(group).is_some_and(|g| g.coordinator.eq_ignore_ascii_case(address))
    }

    /// Who hears at N1: the N1 group's coordinator.
    fn n1_address(&self) -> String {
        let group = &self.config.enrutamiento.n1_group;
        self.config.group(group).map(|g| g.coordinator.clone()).unwrap_or_default()
    }
}

pub(super) fn via_nonce(via: &Via<'_>) -> String {
    match via {
        Via::Mail { raw_id, .. } => format!("r{raw_id}"),
        Via::Cli | Via::Console => format!(
            "{}{:x}{:04x}",
            if matches!(via, Via::Cli) { "cli" } else { "con" },
            Utc::now().timestamp_millis(),
            fastrand::u16(..)
        ),
    }
}

/// `size` distinct indices out of `0..len`, chosen by a generator seeded with `seed` (recorded,
/// so the sample can be reproduced), in ascending order.
pub fn sample_indices(len: usize, size: usize, seed: u64) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut all: Vec<usize> = (0..len).collect();
    rng.shuffle(&mut all);
    let mut chosen: Vec<usize> = all.into_iter().take(size.min(len)).collect();
    chosen.sort_unstable();
    chosen
}

/// What the log of agents' actions keeps of `action` on `found`, applied or refused.
pub(super) fn action_record<'a>(
    found: &FoundCase,
    actor: &'a Actor,
    action: &'a Action,
    via: &Via<'_>,
    refused: bool,
) -> ActionRecord<'a> {
    ActionRecord {
        actor: &actor.address,
        via: via.name(),
        level: found.case.level,
        command: action.command.name(),
        argument: action.command.argument(),
        text: &action.text,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_reproducible_from_its_seed() {
        let first = sample_indices(20, 3, 42);
        assert_eq!(first.len(), 3);
        assert_eq!(first, sample_indices(20, 3, 42));
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_indices(2, 5, 1), vec![0, 1]);
    }
}
