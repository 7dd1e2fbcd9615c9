//! Activities 5–12: what the people at each level do to a case (by e-mail command or CLI), the
//! solution going back along the case's path, control posterior and mass incidents.
//!
//! Pure, like [`crate::desk::case`]: the caller says who acts ([`Actor`]), what they asked
//! ([`Action`]) and who could take the case next ([`Roster`]); the engine returns the
//! [`Transition`]. A command the procedure does not allow becomes a refusal: the case is
//! unchanged, an event says why, and the agent gets that explanation back.

use crate::desk::answer::Reading;
use crate::desk::case::{
    Activity, Case, Hop, Recipient, ReplyKind, Staffing, Status, Transition, activity_at, holder,
    working_status,
};
use crate::desk::command::{Action, Command};
use crate::desk::{Level, Requirement, Tema};

/// Who gives a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub address: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A configured agent, at their level.
    Agent(Level),
    /// The Administración Técnica (CSAT) address: acts on the cases escalated to it.
    AdministracionTecnica,
}

/// What the engine needs to know beyond the case itself.
#[derive(Debug, Clone)]
pub struct Roster {
    /// The N3 group and its active agents, with their loads (the functional filter when the
    /// desk has a technical group).
    pub n3: Staffing,
    /// The N3 technical group (`tipo = "tecnico"`), when the desk has one: the functional filter
    /// hands cases to it, and it hands them to Administración Técnica.
    pub n3_technical: Option<Staffing>,
    /// The security group (for `#seguridad`).
    pub security: Staffing,
    /// The Administración Técnica (CSAT) address.
    pub csat: String,
    /// Who hears about solutions at N1 (the N1 group's coordinator).
    pub n1: String,
    /// Every configured agent (for `#asignar`).
    pub agents: Vec<String>,
    /// For `#padre`: whether the named parent case exists (looked up by the caller).
    pub parent_exists: bool,
    /// For `#padre`: whether the actor's groups see the parent case (a case's solution reaches
    /// its children's requesters: nobody may hang their case on one they do not work).
    pub parent_visible: bool,
    /// For `#aprobar-error-conocido`: whether this case has a proposal waiting for approval.
    pub proposal_pending: bool,
    /// For `#aprobar-error-conocido`: whether the actor coordinates the case's N2 group.
    pub may_approve: bool,
    /// Whether the actor belongs to the security group (or is Administración Técnica): only
    /// they act on a security case.
    pub cleared_for_security: bool,
    // Related cases and duplicates (issue 14, point 5).
    /// For `#fusionar`: the case named, as the caller found it (`None`: no such case).
    pub merge_target: Option<MergeTarget>,
    /// Children of the case acted on: a parent is not merged away from them.
    pub children: usize,
    /// The case acted on was merged into this one: it only takes notes.
    pub merged_into: Option<String>,
}

/// The case a duplicate would merge into, as the caller found it.
#[derive(Debug, Clone)]
pub struct MergeTarget {
    pub number: String,
    pub case: Case,
    /// It was itself merged into this case.
    pub merged_into: Option<String>,
    /// Whether the actor's groups see it (merging shows it the duplicate's history).
    pub visible: bool,
}

/// Applies an agent's action. `staffing` is the case's current group (for N1 → N2 and reopening).
pub fn act(
    case: &Case,
    number: &str,
    actor: &Actor,
    action: &Action,
    staffing: &Staffing,
    roster: &Roster,
) -> Transition {
    let mut t = Transition::of(case);
    if let Some(why) = not_allowed(case, actor, &action.command, roster, &action.text) {
        refuse(&mut t, actor, &action.command, why);
        return t;
    }
    match &action.command {
        Command::Nota => note(&mut t, actor),
        Command::Solucion { .. } => solve(&mut t, actor, &action.text, roster),
        Command::Escalar | Command::EscalarN3Tecnico => {
            escalate(&mut t, &action.text, staffing, roster, None)
        }
        Command::EscalarCsat { without_xml } => {
            escalate(&mut t, &action.text, staffing, roster, without_xml.as_deref())
        }
        Command::Seguridad(category) => {
            mark_security(&mut t, actor, *category, &action.text, roster)
        }
        Command::Info => {
            let level = t.case.level;
            t.record(
                activity_at(level),
                Status::PendienteInformacion,
                level,
                "Pregunta del especialista enviada al solicitante.".into(),
            );
            t.reply_with(ReplyKind::PreguntaSolicitante, Recipient::Requester, &action.text);
        }
        Command::Asignar(address) => assign(&mut t, actor, address, roster),
        Command::Fusionar(target) => merge(&mut t, actor, number, target, roster),
        // The new case needs its number, given inside the store's transaction: see `relate`.
        Command::Relacionado { .. } => {}
        Command::Padre(parent) => link(&mut t, actor, number, parent, roster),
        Command::Cerrar => {
            let level = t.case.level;
            t.record(
                Activity::ControlPosterior,
                Status::Cerrado,
                level,
                "Cerrado por un agente.".into(),
            );
        }
        Command::Tipo(case_type) => {
            let detail =
                format!("Tipo del caso: {} → {}.", t.case.case_type.as_str(), case_type.as_str());
            t.case.case_type = *case_type;
            t.note(activity_at(t.case.level), detail);
        }
        Command::Causa => {
            t.case.root_cause = Some(action.text.clone());
            t.note(activity_at(t.case.level), "Causa raíz registrada.".into());
        }
        Command::AprobarErrorConocido => {
            t.note(
                Activity::ControlPosterior,
                "Error conocido aprobado: entra a la base y responde en primer contacto.".into(),
            );
        }
        Command::Reabrir => {
            let level = t.case.level;
            t.record(
                Activity::ControlPosterior,
                working_status(level),
                level,
                "Reabierto por un agente.".into(),
            );
            let to = holder(&t.case, staffing);
            if to != actor.address {
                t.reply(ReplyKind::NotificacionAgente, Recipient::Agent(to));
            }
        }
    }
    t
}

/// Why the procedure does not allow this command now, if it does not.
fn not_allowed(
    case: &Case,
    actor: &Actor,
    command: &Command,
    roster: &Roster,
    text: &str,
) -> Option<String> {
    let level = case.level;
    if let Some(target) = &roster.merged_into
        && *command != Command::Nota
    {
        return Some(format!(
            "este caso se fusionó en el caso {target}: escriba sobre ese caso (aquí solo caben notas)."
        ));
    }
    if case.security_category.is_some() && !roster.cleared_for_security {
        return Some(
            "es un evento de seguridad: solo el grupo de seguridad actúa sobre este caso.".into(),
        );
    }
    match command {
        Command::Causa if text.trim().is_empty() => {
            return Some("#causa necesita el texto de la causa raíz debajo del comando.".into());
        }
        Command::Relacionado { .. } if text.trim().is_empty() => {
            return Some(
                "#relacionado necesita debajo del comando la descripción del caso nuevo (lo que \
                 el solicitante pide ahora)."
                    .into(),
            );
        }
        Command::AprobarErrorConocido if !roster.proposal_pending => {
            return Some(
                "este caso no tiene un error conocido propuesto pendiente de aprobación.".into(),
            );
        }
        Command::AprobarErrorConocido if !roster.may_approve => {
            return Some(
                "solo el coordinador del grupo de nivel 2 del tema del caso aprueba errores conocidos."
                    .into(),
            );
        }
        Command::Solucion { .. }
            if case.case_type == crate::desk::CaseType::Problema
                && case.root_cause.is_none()
                && case.status.is_open() =>
        {
            return Some(
                "un problema se soluciona con su causa raíz: escriba primero #causa con la causa, \
                 y después #solucion con la solución o el procedimiento alterno."
                    .into(),
            );
        }
        _ => {}
    }
    if actor.role == Role::AdministracionTecnica
        && (level != Level::AdministracionTecnica
            || !matches!(command, Command::Nota | Command::Solucion { .. } | Command::Info))
    {
        return Some(
            "Administración Técnica responde con #solucion, #nota o #info sobre los casos que se le \
             escalaron; este caso no está en ese nivel o el comando no le corresponde."
                .into(),
        );
    }
    let open = case.status.is_open();
    match command {
        Command::Reabrir if open => Some("el caso ya está abierto.".into()),
        Command::Nota
        | Command::Reabrir
        | Command::Seguridad(_)
        | Command::Padre(_)
        | Command::Tipo(_)
        | Command::Causa
        | Command::AprobarErrorConocido
        | Command::Relacionado { .. } => None,
        Command::Cerrar if case.status == Status::Cerrado => {
            Some("el caso ya está cerrado.".into())
        }
        Command::Cerrar => None,
        _ if !open => Some(format!(
            "el caso está {}; escriba #reabrir en la primera línea si hay que trabajarlo de nuevo.",
            if case.status == Status::Cerrado { "cerrado" } else { "solucionado" }
        )),
        Command::Escalar | Command::EscalarN3Tecnico | Command::EscalarCsat { .. } => {
            escalation_refusal(case, command, roster)
        }
        _ => None,
    }
}

/// Where `#escalar` takes a case next: N1 → N2 → N3 (the functional filter) → the N3 technical
/// group, when the desk has one → Administración Técnica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    N2,
    N3Functional,
    N3Technical,
    AdministracionTecnica,
}

fn next_step(case: &Case, roster: &Roster) -> Option<Step> {
    match case.level {
        Level::N1 => Some(Step::N2),
        Level::N2 => Some(Step::N3Functional),
        Level::N3 if roster.n3_technical.is_some() && !in_technical_group(case, roster) => {
            Some(Step::N3Technical)
        }
        Level::N3 => Some(Step::AdministracionTecnica),
        Level::AdministracionTecnica => None,
    }
}

fn in_technical_group(case: &Case, roster: &Roster) -> bool {
    roster.n3_technical.as_ref().is_some_and(|g| case.group.as_deref() == Some(g.group.as_str()))
}

/// Why this escalation is not allowed now: the target is not the case's next step, or
/// Administración Técnica lacks the N2 diagnosis or the requester's XML (PR-IIT-0458).
fn escalation_refusal(case: &Case, command: &Command, roster: &Roster) -> Option<String> {
    let Some(step) = next_step(case, roster) else {
        return Some(
            "el caso ya está en Administración Técnica, el último nivel: no se puede escalar más."
                .into(),
        );
    };
    let at = level_name(case.level);
    match (command, step) {
        (Command::EscalarN3Tecnico, _) if roster.n3_technical.is_none() => {
            return Some(
                "esta mesa tiene un solo grupo de nivel 3 (no hay grupo técnico configurado): \
                 escriba #escalar para pasar el caso a Administración Técnica."
                    .into(),
            );
        }
        (Command::EscalarN3Tecnico, Step::AdministracionTecnica) => {
            return Some(
                "el caso ya está en el grupo técnico de nivel 3: escriba #escalar para pasarlo a \
                 Administración Técnica."
                    .into(),
            );
        }
        (Command::EscalarN3Tecnico, Step::N3Technical) => return None,
        (Command::EscalarN3Tecnico, _) => {
            return Some(format!(
                "#escalar n3-tecnico es para el filtro funcional de nivel 3, y el caso está en \
                 {at}: escriba #escalar para pasarlo al siguiente nivel."
            ));
        }
        (Command::EscalarCsat { .. }, Step::N3Technical) => {
            return Some(
                "el caso está en el filtro funcional de nivel 3: primero pasa al grupo técnico \
                 con #escalar n3-tecnico, y desde allí a Administración Técnica."
                    .into(),
            );
        }
        (Command::EscalarCsat { .. }, Step::N2 | Step::N3Functional) => {
            return Some(format!(
                "solo el nivel 3 escala a Administración Técnica, y el caso está en {at}: \
                 escriba #escalar para pasarlo al siguiente nivel."
            ));
        }
        _ => {}
    }
    if step != Step::AdministracionTecnica {
        return None;
    }
    if !case.diagnosed {
        return Some(
            "para escalar a Administración Técnica el caso necesita el diagnóstico de nivel 2 \
             (PR-IIT-0458). Pida al especialista de nivel 2 que lo escriba con #nota en la primera \
             línea de su respuesta, o devuélvale el caso con #asignar."
                .into(),
        );
    }
    let without_xml = matches!(command, Command::EscalarCsat { without_xml: Some(_) });
    if !case.evidence.supplied.contains(&Requirement::Xml) && !without_xml {
        return Some(
            "Administración Técnica necesita el XML del solicitante (PR-IIT-0458) y este caso no lo \
             tiene. Pídaselo al solicitante con #info; si el XML no aplica a este caso, escriba en \
             la primera línea «#escalar csat sin-xml: motivo» con el motivo."
                .into(),
        );
    }
    None
}

fn refuse(t: &mut Transition, actor: &Actor, command: &Command, why: String) {
    let activity = activity_at(t.case.level);
    t.note(activity, format!("Comando #{} rechazado: {why}", command.name()));
    t.reply_with(
        ReplyKind::RespuestaComando,
        Recipient::Agent(actor.address.clone()),
        &format!("No se aplicó #{}: {why}", command.name()),
    );
    t.refusal = Some(why);
}

/// A note; at N2 it is the diagnosis (activity 5).
fn note(t: &mut Transition, actor: &Actor) {
    let level = t.case.level;
    // An N2 specialist's note is the N2 diagnosis, also when written after the case moved on.
    let detail = match (level, actor.role) {
        (Level::N2, _) | (_, Role::Agent(Level::N2)) => {
            t.case.diagnosed = true;
            "Diagnóstico de nivel 2 registrado.".to_string()
        }
        (Level::AdministracionTecnica, Role::AdministracionTecnica) => {
            "Nota de Administración Técnica registrada.".into()
        }
        _ => format!("Nota interna registrada en {}.", level_name(level)),
    };
    t.note(activity_at(level), detail);
}

/// The decision at the case's level (activity 3, 6, 9 or 10), then activity 11: the solution to
/// the requester and a notice to every level the case passed through, down to N1.
fn solve(t: &mut Transition, actor: &Actor, text: &str, roster: &Roster) {
    let level = t.case.level;
    let decision = match level {
        Level::N1 => Activity::SolucionPrimerContacto,
        Level::N2 => Activity::DecisionNivel2,
        Level::N3 => Activity::DecisionNivel3,
        Level::AdministracionTecnica => Activity::AsignarAdministracionTecnica,
    };
    t.note(decision, format!("Solución dada en {}.", level_name(level)));
    t.record(
        Activity::EntregarSolucion,
        Status::Solucionado,
        level,
        "Solución enviada al solicitante por su mismo hilo; se avisa a los niveles por los que pasó."
            .into(),
    );
    t.reply_with(ReplyKind::Solucion, Recipient::Requester, text);
    let mut told: Vec<String> = vec![actor.address.clone()];
    let holders: Vec<String> = t.case.path.iter().rev().map(|hop| hop.holder.clone()).collect();
    for to in holders.into_iter().chain(std::iter::once(roster.n1.clone())) {
        if !to.is_empty() && !told.iter().any(|t| t.eq_ignore_ascii_case(&to)) {
            t.reply_with(ReplyKind::AvisoSolucion, Recipient::Agent(to.clone()), text);
            told.push(to);
        }
    }
}

/// N1 → N2 (activity 4), N2 → N3 (6, 7), N3 functional → N3 technical (8, 7), N3 →
/// Administración Técnica (8, 9, 10). `without_xml`: why the requester's XML does not apply.
fn escalate(
    t: &mut Transition,
    reason: &str,
    staffing: &Staffing,
    roster: &Roster,
    without_xml: Option<&str>,
) {
    match next_step(&t.case, roster) {
        Some(Step::N2) => {
            let holder = staffing.pick().map(|a| a.address.clone());
            let to = holder.clone().unwrap_or_else(|| staffing.coordinator.clone());
            t.case.group = Some(staffing.group.clone());
            t.case.agent = holder;
            t.record(
                Activity::AsignarNivel2,
                Status::EnAtencion,
                Level::N2,
                format!("Escalado a nivel 2, grupo {}.", staffing.group),
            );
            hand_over(t, Level::N2, Some(staffing.group.clone()), to, reason);
        }
        Some(Step::N3Functional) => {
            t.note(Activity::DecisionNivel2, "Nivel 2 decide escalar a nivel 3.".into());
            let agent = roster.n3.pick().map(|a| a.address.clone());
            let to = agent.clone().unwrap_or_else(|| roster.n3.coordinator.clone());
            t.case.group = Some(roster.n3.group.clone());
            t.case.agent = agent;
            let filter = if roster.n3_technical.is_some() { " (filtro funcional)" } else { "" };
            let detail = match &t.case.agent {
                Some(_) => format!("Asignado al grupo {}{filter} de nivel 3.", roster.n3.group),
                None => format!(
                    "Asignado al grupo {}{filter} de nivel 3; sin agentes activos: se avisa al \
                     coordinador.",
                    roster.n3.group
                ),
            };
            t.record(Activity::AsignarNivel3, Status::Escalado, Level::N3, detail);
            hand_over(t, Level::N3, Some(roster.n3.group.clone()), to, reason);
        }
        Some(Step::N3Technical) => to_n3_technical(t, reason, roster),
        Some(Step::AdministracionTecnica) => to_csat(t, reason, roster, without_xml),
        // Refused in `not_allowed`.
        None => {}
    }
}

/// Activity 7 again: the functional filter of N3 hands the case to the N3 technical group.
fn to_n3_technical(t: &mut Transition, reason: &str, roster: &Roster) {
    let Some(technical) = &roster.n3_technical else { return };
    let functional = t.case.group.clone().unwrap_or_else(|| roster.n3.group.clone());
    t.note(
        Activity::AtencionNivel3,
        format!(
            "Filtro funcional de nivel 3 ({functional}): el caso necesita el análisis técnico."
        ),
    );
    let agent = technical.pick().map(|a| a.address.clone());
    let to = agent.clone().unwrap_or_else(|| technical.coordinator.clone());
    t.case.group = Some(technical.group.clone());
    t.case.agent = agent;
    let detail = match &t.case.agent {
        Some(_) => format!("Asignado al grupo técnico {} de nivel 3.", technical.group),
        None => format!(
            "Asignado al grupo técnico {} de nivel 3; sin agentes activos: se avisa al \
             coordinador.",
            technical.group
        ),
    };
    t.record(Activity::AsignarNivel3, Status::Escalado, Level::N3, detail);
    hand_over(t, Level::N3, Some(technical.group.clone()), to, reason);
}

/// Activities 8–10: the package to Administración Técnica, with the XML or the reason why the
/// XML does not apply (recorded and sent in the package).
fn to_csat(t: &mut Transition, reason: &str, roster: &Roster, without_xml: Option<&str>) {
    t.note(Activity::AtencionNivel3, "Análisis de nivel 3 registrado.".into());
    t.note(Activity::DecisionNivel3, "Nivel 3 decide escalar a Administración Técnica.".into());
    t.case.group = None;
    t.case.agent = Some(roster.csat.clone());
    let (detail, package) = match without_xml {
        None => (
            "Paquete enviado a Administración Técnica (PR-IIT-0458) con el diagnóstico de nivel 2, \
             las validaciones, la evidencia y el XML."
                .to_string(),
            reason.to_string(),
        ),
        Some(why) => (
            format!(
                "Paquete enviado a Administración Técnica (PR-IIT-0458) con el diagnóstico de nivel \
                 2, las validaciones y la evidencia, sin el XML del solicitante. Motivo: {why}"
            ),
            format!("Sin el XML del solicitante. Motivo: {why}\n\n{reason}").trim().to_string(),
        ),
    };
    t.record(
        Activity::AsignarAdministracionTecnica,
        Status::Escalado,
        Level::AdministracionTecnica,
        detail,
    );
    t.case.path.push(Hop {
        level: Level::AdministracionTecnica,
        group: None,
        holder: roster.csat.clone(),
    });
    t.reply_with(
        ReplyKind::PaqueteAdministracionTecnica,
        Recipient::Agent(roster.csat.clone()),
        &package,
    );
}

/// `#seguridad X`: the case becomes a security event of category X and moves to the security
/// group, which alone sees and works it from now on (mail to anyone else about it says only its
/// number, see the pipeline's compose). An N1 case goes to N2 in that group (activity 4, as a
/// reported event does); later levels keep their level. Within the security group the same
/// command changes the category.
fn mark_security(t: &mut Transition, actor: &Actor, category: char, reason: &str, roster: &Roster) {
    let why = if reason.trim().is_empty() {
        Some(
            "#seguridad necesita el motivo: escríbalo después de la categoría o en las líneas de \
             abajo (qué se reportó y por qué es un evento de seguridad)."
                .to_string(),
        )
    } else if t.case.security_category == Some(category) {
        Some(format!("el caso ya es un evento de seguridad de categoría {category}."))
    } else {
        None
    };
    if let Some(why) = why {
        refuse(t, actor, &Command::Seguridad(category), why);
        return;
    }
    let name = crate::desk::classify::security_category_name(category);
    if let Some(before) = t.case.security_category {
        t.case.security_category = Some(category);
        let activity = activity_at(t.case.level);
        t.note(
            activity,
            format!("Categoría del evento de seguridad: {before} → {category} ({name}). Motivo: {reason}"),
        );
        return;
    }
    let from_n1 = t.case.level == Level::N1;
    let level = if from_n1 { Level::N2 } else { t.case.level };
    let status = if t.case.status.is_open() { working_status(level) } else { t.case.status };
    let security = &roster.security;
    let agent = security.pick().map(|a| a.address.clone());
    let to = agent.clone().unwrap_or_else(|| security.coordinator.clone());
    t.case.security_category = Some(category);
    t.case.group = Some(security.group.clone());
    t.case.agent = agent;
    let activity = if from_n1 { Activity::AsignarNivel2 } else { activity_at(level) };
    t.record(
        activity,
        status,
        level,
        format!(
            "Marcado como evento de seguridad, categoría {category} ({name}). Motivo: {reason}\n\
             Pasa al grupo {}; sus detalles quedan reservados a ese grupo.",
            security.group
        ),
    );
    hand_over(t, level, Some(security.group.clone()), to, reason);
}

fn hand_over(t: &mut Transition, level: Level, group: Option<String>, to: String, reason: &str) {
    t.case.path.push(Hop { level, group, holder: to.clone() });
    t.reply_with(ReplyKind::NotificacionAgente, Recipient::Agent(to), reason);
}

fn assign(t: &mut Transition, actor: &Actor, address: &str, roster: &Roster) {
    if !roster.agents.iter().any(|a| a.eq_ignore_ascii_case(address)) {
        let why = format!(
            "{address} no es un agente configurado; use el correo de un agente de la lista de agentes."
        );
        refuse(t, actor, &Command::Asignar(address.into()), why);
        return;
    }
    let level = t.case.level;
    t.case.agent = Some(address.to_string());
    t.case.path.push(Hop { level, group: t.case.group.clone(), holder: address.to_string() });
    t.note(activity_at(level), "Reasignado por un agente a otro agente del nivel.".into());
    t.reply_with(
        ReplyKind::NotificacionAgente,
        Recipient::Agent(address.to_string()),
        &format!("Caso asignado por {}.", actor.address),
    );
}

fn link(t: &mut Transition, actor: &Actor, number: &str, parent: &str, roster: &Roster) {
    let why = if parent.eq_ignore_ascii_case(number) {
        Some("un caso no puede ser padre de sí mismo.".to_string())
    } else if !roster.parent_exists {
        Some(format!("el caso {parent} no existe; revise el número (FE-AAAA-NNNNNN)."))
    } else if !roster.parent_visible {
        Some(format!(
            "el caso {parent} no lo atiende ninguno de sus grupos; pida la vinculación a quien lo \
             atiende."
        ))
    } else {
        None
    };
    if let Some(why) = why {
        refuse(t, actor, &Command::Padre(parent.into()), why);
        return;
    }
    t.case.parent = Some(parent.to_string());
    t.note(
        activity_at(t.case.level),
        format!("Vinculado como hijo del caso {parent} (afectación masiva)."),
    );
}

/// `#fusionar`: this case (a duplicate) closes as a stub pointing at `target`, whose history
/// takes its messages, documents and events; its requester learns the number to use.
fn merge(t: &mut Transition, actor: &Actor, number: &str, target: &str, roster: &Roster) {
    if let Some(why) = merge_refusal(&t.case, number, target, roster) {
        refuse(t, actor, &Command::Fusionar(target.into()), why);
        return;
    }
    let level = t.case.level;
    t.record(
        Activity::ControlPosterior,
        Status::Cerrado,
        level,
        format!(
            "Fusionado en el caso {target} (duplicado): sus mensajes, documentos e historial pasan \
             a ese caso; este número queda como referencia y lo que llegue por él va a {target}."
        ),
    );
    // The template reads the number to use from the reply's text.
    t.reply_with(ReplyKind::AvisoFusion, Recipient::Requester, target);
}

/// Why this case may not be merged into `target`, if it may not.
fn merge_refusal(case: &Case, number: &str, target: &str, roster: &Roster) -> Option<String> {
    if target.eq_ignore_ascii_case(number) {
        return Some("un caso no se fusiona consigo mismo.".into());
    }
    let Some(found) = &roster.merge_target else {
        return Some(format!("el caso {target} no existe; revise el número (FE-AAAA-NNNNNN)."));
    };
    if let Some(further) = &found.merged_into {
        return Some(format!(
            "el caso {target} ya se fusionó en el caso {further}; escriba #fusionar {further}."
        ));
    }
    if found.case.status == Status::Cerrado {
        return Some(format!(
            "el caso {target} está cerrado: reábralo con #reabrir antes de fusionar en él, o \
             fusione {target} en este caso."
        ));
    }
    if !found.visible {
        return Some(format!(
            "el caso {target} no lo atiende ninguno de sus grupos; pida la fusión a quien lo atiende."
        ));
    }
    if found.case.security_category.is_some() != case.security_category.is_some() {
        return Some(
            "un evento de seguridad solo se fusiona con otro evento de seguridad (y un caso \
             corriente con otro corriente)."
                .into(),
        );
    }
    if roster.children > 0 || found.case.parent.as_deref() == Some(number) {
        return Some(format!(
            "este caso es padre de {} caso(s) hijo(s): vincúlelos a {target} con #padre antes de \
             fusionar, o fusione {target} en este caso.",
            roster.children.max(1)
        ));
    }
    None
}

/// The case that takes a merged duplicate: a history row naming it, and its holder told
/// (unless the holder merged it).
pub fn absorb(target: &Case, duplicate: &str, actor: &Actor, staffing: &Staffing) -> Transition {
    let mut t = Transition::of(target);
    t.note(
        activity_at(target.level),
        format!(
            "Se fusionó en este caso el caso {duplicate} (duplicado): sus mensajes, documentos e \
             historial están ahora aquí."
        ),
    );
    let to = holder(target, staffing);
    if !to.is_empty() && !to.eq_ignore_ascii_case(&actor.address) {
        t.reply_with(
            ReplyKind::NotificacionAgente,
            Recipient::Agent(to),
            &format!("El caso {duplicate} se fusionó en este caso (duplicado)."),
        );
    }
    t
}

/// What `#relacionado` opens: the new case's number (given by the store) and what it is about.
#[derive(Debug, Clone)]
pub struct Related<'a> {
    pub parent_number: &'a str,
    pub number: &'a str,
    /// The agent's description: the new case's first content.
    pub text: &'a str,
    /// Another tema than the parent's, when the agent named one.
    pub tema: Option<Tema>,
}

/// "Crear Relacionado a": a new case, child of `parent`, same requester and channel. With the
/// parent's tema it stays with the agent who created it, at that agent's level; with another
/// tema it goes to that tema's N2 group (`staffing`). The requester hears the new number on the
/// new case's own thread; the holder (and the agent, if someone else holds it) are notified.
/// Returns the parent's transition and the new case's.
pub fn relate(
    parent: &Case,
    actor: &Actor,
    related: &Related<'_>,
    staffing: &Staffing,
) -> (Transition, Transition) {
    let mut up = Transition::of(parent);
    up.note(
        activity_at(parent.level),
        format!(
            "Caso relacionado {} creado como hijo de este caso, para el mismo solicitante.",
            related.number
        ),
    );
    let tema = related.tema.unwrap_or(parent.tema);
    let mut child = Transition::of(&new_related_case(parent, related.parent_number, tema));
    child.events.push(crate::desk::case::Event {
        activity: Activity::RecibirSolicitud,
        from_status: None,
        to_status: Status::Nuevo,
        from_level: None,
        to_level: Level::N1,
        detail: format!(
            "Caso relacionado con {} («Crear Relacionado a»), abierto por un agente con su \
             descripción; canal {}, tema {}.",
            related.parent_number,
            parent.channel.as_str(),
            tema.as_str()
        ),
    });
    let (level, group, agent) = match actor.role {
        Role::Agent(level) if tema == parent.tema => {
            let group = parent.group.clone().or_else(|| Some(staffing.group.clone()));
            (level, group, Some(actor.address.clone()))
        }
        _ => (Level::N2, Some(staffing.group.clone()), staffing.pick().map(|a| a.address.clone())),
    };
    let to = agent.clone().unwrap_or_else(|| staffing.coordinator.clone());
    child.case.group = group.clone();
    child.case.agent = agent;
    child.record(
        if level == Level::N2 { Activity::AsignarNivel2 } else { activity_at(level) },
        working_status(level),
        level,
        format!("Asignado en {} a quien lo atiende.", level_name(level)),
    );
    child.case.path.push(Hop { level, group, holder: to.clone() });
    child.reply_with(ReplyKind::AvisoCasoRelacionado, Recipient::Requester, related.text);
    let reason = format!("Caso relacionado con {}:\n{}", related.parent_number, related.text);
    for address in [to, actor.address.clone()] {
        let told = child.replies.iter().any(|r| r.to == Recipient::Agent(address.clone()));
        if !address.is_empty() && !told {
            child.reply_with(ReplyKind::NotificacionAgente, Recipient::Agent(address), &reason);
        }
    }
    (up, child)
}

/// The engine's state of a related case before it is assigned: the parent's requester, channel
/// and security category; nothing asked of the requester (the agent wrote the description).
fn new_related_case(parent: &Case, parent_number: &str, tema: Tema) -> Case {
    Case {
        status: Status::Nuevo,
        level: Level::N1,
        tema,
        channel: parent.channel,
        security_category: parent.security_category,
        group: None,
        agent: None,
        required: Vec::new(),
        evidence: Default::default(),
        first_contact: false,
        path: Vec::new(),
        diagnosed: false,
        parent: Some(parent_number.to_string()),
        external_ref: None,
        case_type: crate::desk::CaseType::default(),
        root_cause: None,
    }
}

/// An agent's message whose first line is not a command this desk knows: nothing changes, the
/// agent gets the list of valid commands.
pub fn not_understood(case: &Case, actor: &Actor, problem: &str) -> Transition {
    let mut t = Transition::of(case);
    t.note(activity_at(t.case.level), format!("Comando no reconocido: {problem}"));
    t.reply_with(
        ReplyKind::RespuestaComando,
        Recipient::Agent(actor.address.clone()),
        &format!("No se entendió el comando: {problem}."),
    );
    t.refusal = Some(problem.to_string());
    t
}

/// A message from an agent's address that may not command (see the pipeline): nothing changes,
/// its text stays as a note without effect, and the agent hears `why`. `written`: the command
/// its first line named, if any.
pub fn not_a_command(case: &Case, actor: &Actor, written: Option<&str>, why: &str) -> Transition {
    let mut t = Transition::of(case);
    let what = written.map_or("un mensaje de agente".to_string(), |c| format!("el comando {c}"));
    t.note(
        activity_at(t.case.level),
        format!("No se ejecutó {what}: {why} Su texto queda como nota, sin efecto."),
    );
    t.reply_with(
        ReplyKind::RespuestaComando,
        Recipient::Agent(actor.address.clone()),
        &format!(
            "No ejecutamos {what} sobre este caso: {why} Su texto quedó en el historial del caso \
             como nota, sin efecto. Gracias por su comprensión."
        ),
    );
    t.refusal = Some(why.to_string());
    t
}

/// Activity 12: the control window passed without an answer from the requester.
pub fn close_after_follow_up(case: &Case) -> Transition {
    let mut t = Transition::of(case);
    let level = t.case.level;
    t.record(
        Activity::ControlPosterior,
        Status::Cerrado,
        level,
        "Control posterior: el solicitante no respondió dentro del plazo; el caso se cierra."
            .into(),
    );
    t
}

/// A child of a mass incident gets its parent's solution on its own thread; `validate` adds the
/// "¿se resolvió?" message of the sample.
pub fn solve_as_child(child: &Case, parent: &str, text: &str, validate: bool) -> Transition {
    let mut t = Transition::of(child);
    let level = t.case.level;
    t.record(
        Activity::EntregarSolucion,
        Status::Solucionado,
        level,
        format!("Solución del caso padre {parent} enviada al solicitante por su mismo hilo."),
    );
    t.reply_with(ReplyKind::Solucion, Recipient::Requester, text);
    if validate {
        t.note(
            Activity::ControlPosterior,
            format!("Incluido en la muestra de validación del caso padre {parent}."),
        );
        t.reply(ReplyKind::ValidacionMasiva, Recipient::Requester);
    }
    t
}

/// A requester's answer to the validation message, as [`crate::desk::answer`] reads it,
/// recorded on the case (no reopening: it is an answer to a survey, read by the parent's
/// agents).
pub fn validation_answer(case: &Case, answer: Reading) -> Transition {
    let mut t = Transition::of(case);
    t.note(
        Activity::ControlPosterior,
        format!("Respuesta a la validación de la solución masiva: {}.", answer.label()),
    );
    t
}

pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::N1 => "nivel 1",
        Level::N2 => "nivel 2",
        Level::N3 => "nivel 3",
        Level::AdministracionTecnica => "Administración Técnica",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::case::{AgentLoad, Intake, open};
    use crate::desk::requirements::Evidence;
    use crate::desk::{Channel, Requirement, Tema};

    fn staffing(group: &str, coordinator: &str, agents: &[&str]) -> Staffing {
        Staffing {
            group: group.into(),
            coordinator: coordinator.into(),
            agents: agents
                .iter()
                .map(|a| AgentLoad { address: (*a).into(), open_cases: 0 })
                .collect(),
        }
    }

    fn n2() -> Staffing {
        staffing("n2_factura", "coord.n2@dian.gov.co", &["ana@dian.gov.co"])
    }

    fn roster() -> Roster {
        Roster {
            n3: staffing("n3", "coord.n3@dian.gov.co", &["jorge@dian.gov.co"]),
            n3_technical: None,
            security: staffing("seguridad", "seg@dian.gov.co", &["marta@dian.gov.co"]),
            csat: "csat@dian.gov.co".into(),
            n1: "n1@dian.gov.co".into(),
            agents: vec!["ana@dian.gov.co".into(), "jorge@dian.gov.co".into()],
            parent_exists: true,
            parent_visible: true,
            proposal_pending: false,
            may_approve: false,
            cleared_for_security: false,
            merge_target: None,
            children: 0,
            merged_into: None,
        }
    }

    fn at_n2() -> Case {
        let intake = Intake {
            tema: Tema::FacturaElectronica,
            channel: Channel::Correo,
            security_category: None,
            auto_generated: false,
            required: vec![Requirement::Descripcion],
            evidence: Evidence {
                supplied: [Requirement::Descripcion, Requirement::Xml].into_iter().collect(),
                reports_rejection: false,
            },
            known_errors: Vec::new(),
            answer: Reading::NoClara,
        };
        open(&intake, &n2()).case
    }

    /// A case at N2 whose requester sent no XML.
    fn at_n2_without_xml() -> Case {
        let mut case = at_n2();
        case.evidence.supplied.remove(&Requirement::Xml);
        case
    }

    /// Two N3 groups: the functional filter `n3` and the technical `n3_tecnico`.
    fn two_n3_groups() -> Roster {
        Roster {
            n3_technical: Some(staffing(
                "n3_tecnico",
                "coord.tecnico@dian.gov.co",
                &["tomas@dian.gov.co"],
            )),
            ..roster()
        }
    }

    fn run_with(
        case: &Case,
        actor: &Actor,
        command: Command,
        text: &str,
        r: &Roster,
    ) -> Transition {
        let action = Action { command, text: text.into() };
        act(case, "FE-2026-000001", actor, &action, &n2(), r)
    }

    fn hops(case: &Case) -> Vec<(Level, Option<String>, String)> {
        case.path.iter().map(|h| (h.level, h.group.clone(), h.holder.clone())).collect()
    }

    fn diagnosed_at_n3(r: &Roster, case: Case) -> Case {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let diagnosed = run_with(&case, &ana, Command::Nota, "Diagnóstico", r).case;
        run_with(&diagnosed, &ana, Command::Escalar, "Revisión", r).case
    }

    #[test]
    fn functional_filter_then_technical_then_csat() {
        let r = two_n3_groups();
        let functional = diagnosed_at_n3(&r, at_n2());
        assert_eq!(functional.group.as_deref(), Some("n3"));
        let jorge = agent("jorge@dian.gov.co", Level::N3);
        let technical =
            run_with(&functional, &jorge, Command::EscalarN3Tecnico, "Falla en la firma", &r);
        assert_eq!(technical.refusal, None);
        assert_eq!(activities(&technical), vec![8, 7]);
        assert_eq!((technical.case.level, technical.case.status), (Level::N3, Status::Escalado));
        assert_eq!(technical.case.group.as_deref(), Some("n3_tecnico"));
        assert_eq!(
            kinds_to(&technical),
            vec![(ReplyKind::NotificacionAgente, "tomas@dian.gov.co".into())]
        );
        let tomas = agent("tomas@dian.gov.co", Level::N3);
        let at_csat = run_with(&technical.case, &tomas, Command::Escalar, "Servicio caído", &r);
        assert_eq!(at_csat.case.level, Level::AdministracionTecnica);
        assert_eq!(
            hops(&at_csat.case),
            vec![
                (Level::N2, Some("n2_factura".into()), "ana@dian.gov.co".into()),
                (Level::N3, Some("n3".into()), "jorge@dian.gov.co".into()),
                (Level::N3, Some("n3_tecnico".into()), "tomas@dian.gov.co".into()),
                (Level::AdministracionTecnica, None, "csat@dian.gov.co".into()),
            ],
            "the path shows both N3 hops"
        );
    }

    #[test]
    fn plain_escalar_from_the_functional_filter_goes_to_the_technical_group() {
        let r = two_n3_groups();
        let functional = diagnosed_at_n3(&r, at_n2());
        let jorge = agent("jorge@dian.gov.co", Level::N3);
        let next = run_with(&functional, &jorge, Command::Escalar, "", &r);
        assert_eq!(next.case.group.as_deref(), Some("n3_tecnico"));
        assert_eq!(next.case.level, Level::N3);
        let skip =
            run_with(&functional, &jorge, Command::EscalarCsat { without_xml: None }, "", &r);
        assert!(skip.refusal.as_deref().is_some_and(|w| w.contains("#escalar n3-tecnico")));
        assert_eq!(skip.case.level, Level::N3);
    }

    #[test]
    fn n3_tecnico_is_refused_where_it_does_not_apply() {
        let jorge = agent("jorge@dian.gov.co", Level::N3);
        // One N3 group (the configuration before issue 14): no technical hop.
        let single = diagnosed_at_n3(&roster(), at_n2());
        let refused = run(&single, &jorge, Command::EscalarN3Tecnico, "");
        assert!(refused.refusal.as_deref().is_some_and(|w| w.contains("un solo grupo de nivel 3")));
        assert_eq!(refused.case.group.as_deref(), Some("n3"));
        // From N2.
        let ana = agent("ana@dian.gov.co", Level::N2);
        let r = two_n3_groups();
        let from_n2 = run_with(&at_n2(), &ana, Command::EscalarN3Tecnico, "", &r);
        assert!(from_n2.refusal.as_deref().is_some_and(|w| w.contains("filtro funcional")));
        // Already technical.
        let functional = diagnosed_at_n3(&r, at_n2());
        let technical = run_with(&functional, &jorge, Command::EscalarN3Tecnico, "", &r).case;
        let again = run_with(&technical, &jorge, Command::EscalarN3Tecnico, "", &r);
        assert!(
            again.refusal.as_deref().is_some_and(|w| w.contains("ya está en el grupo técnico"))
        );
    }

    #[test]
    fn csat_needs_the_requesters_xml_unless_the_agent_says_why_not() {
        let jorge = agent("jorge@dian.gov.co", Level::N3);
        let at_n3 = diagnosed_at_n3(&roster(), at_n2_without_xml());
        let refused = run(&at_n3, &jorge, Command::Escalar, "Falla del servicio");
        assert_eq!(refused.case.level, Level::N3);
        let why = refused.refusal.clone().unwrap_or_default();
        assert!(why.contains("XML del solicitante") && why.contains("sin-xml"), "{why}");
        assert_eq!(
            kinds_to(&refused),
            vec![(ReplyKind::RespuestaComando, "jorge@dian.gov.co".into())]
        );
        let explicit = run(&at_n3, &jorge, Command::EscalarCsat { without_xml: None }, "x");
        assert!(explicit.refusal.is_some(), "#escalar csat without the reason needs the XML too");
        let reason = "es una consulta de habilitación: no hay factura".to_string();
        let command = Command::EscalarCsat { without_xml: Some(reason.clone()) };
        let sent = run(&at_n3, &jorge, command, "Falla del servicio");
        assert_eq!(sent.refusal, None);
        assert_eq!(sent.case.level, Level::AdministracionTecnica);
        assert!(
            sent.events.iter().any(|e| e.detail.contains(&reason)),
            "the reason is in the history"
        );
        let package = sent.replies[0].text.clone().unwrap_or_default();
        assert_eq!(sent.replies[0].kind, ReplyKind::PaqueteAdministracionTecnica);
        assert!(package.contains(&reason) && package.contains("Falla del servicio"), "{package}");
        // With the XML, the plain command goes through.
        let with_xml = diagnosed_at_n3(&roster(), at_n2());
        assert_eq!(
            run(&with_xml, &jorge, Command::Escalar, "").case.level,
            Level::AdministracionTecnica
        );
    }

    #[test]
    fn csat_is_refused_below_n3() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let command = Command::EscalarCsat { without_xml: Some("no aplica".into()) };
        let refused = run(&at_n2(), &ana, command, "");
        assert!(refused.refusal.as_deref().is_some_and(|w| w.contains("solo el nivel 3")));
        assert_eq!(refused.case.level, Level::N2);
    }

    #[test]
    fn marking_a_security_event_moves_the_case_to_the_security_group() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let marked = run(&at_n2(), &ana, Command::Seguridad('h'), "Alguien entró con su usuario");
        assert_eq!(marked.refusal, None);
        assert_eq!(marked.case.security_category, Some('h'));
        assert_eq!(marked.case.group.as_deref(), Some("seguridad"));
        assert_eq!(marked.case.agent.as_deref(), Some("marta@dian.gov.co"));
        assert_eq!((marked.case.level, marked.case.status), (Level::N2, Status::EnAtencion));
        let detail = &marked.events.last().expect("event").detail;
        assert!(detail.contains("categoría h (violación de acceso)"), "{detail}");
        assert!(detail.contains("Alguien entró con su usuario"), "{detail}");
        assert_eq!(
            kinds_to(&marked),
            vec![(ReplyKind::NotificacionAgente, "marta@dian.gov.co".into())]
        );
        // From now on only the security group acts on it.
        let after = run(&marked.case, &ana, Command::Nota, "sigo revisando");
        assert!(after.refusal.as_deref().is_some_and(|w| w.contains("grupo de seguridad")));
        let cleared = Roster { cleared_for_security: true, ..roster() };
        let marta = agent("marta@dian.gov.co", Level::N2);
        let again = run_with(&marked.case, &marta, Command::Seguridad('h'), "otra vez", &cleared);
        assert!(again.refusal.as_deref().is_some_and(|w| w.contains("ya es un evento")));
        let recategorized =
            run_with(&marked.case, &marta, Command::Seguridad('b'), "Hubo fuga", &cleared);
        assert_eq!(recategorized.case.security_category, Some('b'));
        assert_eq!(recategorized.case.group.as_deref(), Some("seguridad"));
    }

    #[test]
    fn marking_needs_a_reason_and_works_on_closed_and_n1_cases() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let bare = run(&at_n2(), &ana, Command::Seguridad('a'), "  ");
        assert!(bare.refusal.as_deref().is_some_and(|w| w.contains("motivo")));
        assert_eq!(bare.case.security_category, None);
        let closed = run(&at_n2(), &ana, Command::Cerrar, "").case;
        let marked = run(&closed, &ana, Command::Seguridad('c'), "Se envió por error");
        assert_eq!(
            (marked.case.security_category, marked.case.status),
            (Some('c'), Status::Cerrado)
        );
        let mut waiting = at_n2();
        waiting.level = Level::N1;
        waiting.status = Status::PendienteInformacion;
        let moved = run(&waiting, &ana, Command::Seguridad('h'), "Suplantación");
        assert_eq!((moved.case.level, moved.case.status), (Level::N2, Status::EnAtencion));
        assert_eq!(activities(&moved), vec![4]);
    }

    fn agent(address: &str, level: Level) -> Actor {
        Actor { address: address.into(), role: Role::Agent(level) }
    }

    fn csat() -> Actor {
        Actor { address: "csat@dian.gov.co".into(), role: Role::AdministracionTecnica }
    }

    fn run(case: &Case, actor: &Actor, command: Command, text: &str) -> Transition {
        let action = Action { command, text: text.into() };
        act(case, "FE-2026-000001", actor, &action, &n2(), &roster())
    }

    fn activities(t: &Transition) -> Vec<u8> {
        t.events.iter().map(|e| e.activity.number()).collect()
    }

    fn kinds_to(t: &Transition) -> Vec<(ReplyKind, String)> {
        t.replies
            .iter()
            .map(|r| {
                let to = match &r.to {
                    Recipient::Requester => "solicitante".to_string(),
                    Recipient::Agent(a) => a.clone(),
                };
                (r.kind, to)
            })
            .collect()
    }

    #[test]
    fn the_whole_path_n2_n3_csat_and_back() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let diagnosed = run(&at_n2(), &ana, Command::Nota, "Falla en el servicio").case;
        assert!(diagnosed.diagnosed);
        let to_n3 = run(&diagnosed, &ana, Command::Escalar, "Necesita revisión técnica");
        assert_eq!(activities(&to_n3), vec![6, 7]);
        assert_eq!((to_n3.case.level, to_n3.case.status), (Level::N3, Status::Escalado));
        assert_eq!(
            kinds_to(&to_n3),
            vec![(ReplyKind::NotificacionAgente, "jorge@dian.gov.co".into())]
        );
        let jorge = agent("jorge@dian.gov.co", Level::N3);
        let to_csat = run(&to_n3.case, &jorge, Command::Escalar, "Error del servicio web");
        assert_eq!(activities(&to_csat), vec![8, 9, 10]);
        assert_eq!(to_csat.case.level, Level::AdministracionTecnica);
        assert_eq!(
            kinds_to(&to_csat),
            vec![(ReplyKind::PaqueteAdministracionTecnica, "csat@dian.gov.co".into())]
        );
        assert_eq!(to_csat.replies[0].text.as_deref(), Some("Error del servicio web"));
        let solved =
            run(&to_csat.case, &csat(), Command::Solucion { first_contact: false }, "Listo");
        assert_eq!(activities(&solved), vec![10, 11]);
        assert_eq!(solved.case.status, Status::Solucionado);
        assert_eq!(solved.case.level, Level::AdministracionTecnica, "solved where it stood");
        assert_eq!(
            kinds_to(&solved),
            vec![
                (ReplyKind::Solucion, "solicitante".into()),
                (ReplyKind::AvisoSolucion, "jorge@dian.gov.co".into()),
                (ReplyKind::AvisoSolucion, "ana@dian.gov.co".into()),
                (ReplyKind::AvisoSolucion, "n1@dian.gov.co".into()),
            ]
        );
        let closed = close_after_follow_up(&solved.case);
        assert_eq!((activities(&closed), closed.case.status), (vec![12], Status::Cerrado));
    }

    #[test]
    fn administracion_tecnica_needs_an_n2_diagnosis() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let at_n3 = run(&at_n2(), &ana, Command::Escalar, "").case;
        let jorge = agent("jorge@dian.gov.co", Level::N3);
        let refused = run(&at_n3, &jorge, Command::Escalar, "Pasa a CSAT");
        assert_eq!(refused.case.level, Level::N3);
        assert!(refused.refusal.as_deref().is_some_and(|w| w.contains("diagnóstico de nivel 2")));
        assert_eq!(
            kinds_to(&refused),
            vec![(ReplyKind::RespuestaComando, "jorge@dian.gov.co".into())]
        );
    }

    #[test]
    fn csat_acts_only_on_cases_escalated_to_it() {
        let refused = run(&at_n2(), &csat(), Command::Solucion { first_contact: false }, "x");
        assert!(refused.refusal.is_some());
        assert_eq!(refused.case.status, Status::EnAtencion);
    }

    #[test]
    fn a_question_waits_for_the_requester_and_the_answer_returns_to_the_agent() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let asked = run(&at_n2(), &ana, Command::Info, "¿Qué software usa?");
        assert_eq!(asked.case.status, Status::PendienteInformacion);
        assert_eq!(asked.case.level, Level::N2);
        assert_eq!(kinds_to(&asked), vec![(ReplyKind::PreguntaSolicitante, "solicitante".into())]);
        let intake = Intake {
            tema: Tema::FacturaElectronica,
            channel: Channel::Correo,
            security_category: None,
            auto_generated: false,
            required: Vec::new(),
            evidence: Evidence::default(),
            known_errors: Vec::new(),
            answer: Reading::NoClara,
        };
        let answered = crate::desk::case::follow_up(&asked.case, &intake, &n2());
        assert_eq!(answered.case.status, Status::EnAtencion);
        assert_eq!(
            kinds_to(&answered),
            vec![(ReplyKind::NotificacionAgente, "ana@dian.gov.co".into())]
        );
    }

    #[test]
    fn closed_cases_take_only_notes_and_reopening() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let closed = run(&at_n2(), &ana, Command::Cerrar, "").case;
        assert_eq!(closed.status, Status::Cerrado);
        assert!(run(&closed, &ana, Command::Escalar, "").refusal.is_some());
        let reopened = run(&closed, &ana, Command::Reabrir, "");
        assert_eq!(reopened.case.status, Status::EnAtencion);
        assert!(run(&reopened.case, &ana, Command::Reabrir, "").refusal.is_some());
    }

    #[test]
    fn assignment_only_to_configured_agents() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let moved = run(&at_n2(), &ana, Command::Asignar("jorge@dian.gov.co".into()), "");
        assert_eq!(moved.case.agent.as_deref(), Some("jorge@dian.gov.co"));
        let refused = run(&at_n2(), &ana, Command::Asignar("x@otro.com".into()), "");
        assert!(refused.refusal.is_some());
        assert_eq!(refused.case.agent.as_deref(), Some("ana@dian.gov.co"));
    }

    #[test]
    fn linking_to_a_parent() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let linked = run(&at_n2(), &ana, Command::Padre("FE-2026-000009".into()), "");
        assert_eq!(linked.case.parent.as_deref(), Some("FE-2026-000009"));
        let own = run(&at_n2(), &ana, Command::Padre("FE-2026-000001".into()), "");
        assert!(own.refusal.is_some());
    }

    #[test]
    fn a_parent_outside_the_agents_groups_is_refused() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let action =
            Action { command: Command::Padre("FE-2026-000009".into()), text: String::new() };
        let hidden = Roster { parent_visible: false, ..roster() };
        let t = act(&at_n2(), "FE-2026-000001", &ana, &action, &n2(), &hidden);
        assert_eq!(t.case.parent, None);
        assert!(t.refusal.as_deref().is_some_and(|w| w.contains("ninguno de sus grupos")));
        assert!(t.replies.iter().any(|r| r.kind == ReplyKind::RespuestaComando));
    }

    #[test]
    fn a_problem_is_solved_only_with_its_root_cause() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let problem = run(&at_n2(), &ana, Command::Tipo(crate::desk::CaseType::Problema), "").case;
        assert_eq!(problem.case_type, crate::desk::CaseType::Problema);
        let refused = run(&problem, &ana, Command::Solucion { first_contact: false }, "Reinicie");
        assert!(refused.refusal.as_deref().is_some_and(|w| w.contains("#causa")));
        assert!(run(&problem, &ana, Command::Causa, "  ").refusal.is_some());
        let caused = run(&problem, &ana, Command::Causa, "Certificado vencido").case;
        assert_eq!(caused.root_cause.as_deref(), Some("Certificado vencido"));
        let solved = run(&caused, &ana, Command::Solucion { first_contact: false }, "Renovarlo");
        assert_eq!(solved.case.status, Status::Solucionado);
        assert!(run(&solved.case, &ana, Command::AprobarErrorConocido, "").refusal.is_some());
    }

    fn target(number: &str, case: Case) -> MergeTarget {
        MergeTarget { number: number.into(), case, merged_into: None, visible: true }
    }

    fn merge_into(roster: Roster, number: &str) -> Transition {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let action = Action { command: Command::Fusionar(number.into()), text: String::new() };
        act(&at_n2(), "FE-2026-000001", &ana, &action, &n2(), &roster)
    }

    #[test]
    fn a_duplicate_merges_into_an_open_case_and_its_requester_hears_the_number() {
        let roster = Roster { merge_target: Some(target("FE-2026-000009", at_n2())), ..roster() };
        let t = merge_into(roster, "FE-2026-000009");
        assert_eq!(t.refusal, None);
        assert_eq!(t.case.status, Status::Cerrado);
        assert!(t.events.iter().any(|e| e.detail.contains("Fusionado en el caso FE-2026-000009")));
        assert_eq!(kinds_to(&t), vec![(ReplyKind::AvisoFusion, "solicitante".into())]);
        assert_eq!(t.replies[0].text.as_deref(), Some("FE-2026-000009"));
        let jorge = agent("jorge@dian.gov.co", Level::N2);
        let absorbed = absorb(&at_n2(), "FE-2026-000001", &jorge, &n2());
        assert!(absorbed.events[0].detail.contains("FE-2026-000001"));
        assert_eq!(
            kinds_to(&absorbed),
            vec![(ReplyKind::NotificacionAgente, "ana@dian.gov.co".into())],
            "the target's holder hears of the merge"
        );
        let ana = agent("ana@dian.gov.co", Level::N2);
        assert!(absorb(&at_n2(), "FE-2026-000001", &ana, &n2()).replies.is_empty());
    }

    #[test]
    fn merges_that_cannot_be_are_refused_with_the_reason() {
        let refusal = |roster: Roster, number: &str| {
            let t = merge_into(roster, number);
            assert_eq!(t.case.status, Status::EnAtencion, "nothing changes");
            assert_eq!(kinds_to(&t), vec![(ReplyKind::RespuestaComando, "ana@dian.gov.co".into())]);
            t.refusal.unwrap_or_default()
        };
        let open = || Some(target("FE-2026-000009", at_n2()));
        assert!(refusal(roster(), "FE-2026-000001").contains("consigo mismo"));
        assert!(refusal(roster(), "FE-2026-000009").contains("no existe"));
        let closed = Case { status: Status::Cerrado, ..at_n2() };
        let r = Roster { merge_target: Some(target("FE-2026-000009", closed)), ..roster() };
        assert!(refusal(r, "FE-2026-000009").contains("está cerrado"));
        let mut merged = target("FE-2026-000009", at_n2());
        merged.merged_into = Some("FE-2026-000004".into());
        let r = Roster { merge_target: Some(merged), ..roster() };
        assert!(refusal(r, "FE-2026-000009").contains("#fusionar FE-2026-000004"));
        let r = Roster { merge_target: open(), children: 2, ..roster() };
        assert!(refusal(r, "FE-2026-000009").contains("padre de 2"));
        let mut own_child = target("FE-2026-000009", at_n2());
        own_child.case.parent = Some("FE-2026-000001".into());
        let r = Roster { merge_target: Some(own_child), ..roster() };
        assert!(refusal(r, "FE-2026-000009").contains("padre"), "a cycle through the parent link");
        let mut hidden = target("FE-2026-000009", at_n2());
        hidden.visible = false;
        let r = Roster { merge_target: Some(hidden), ..roster() };
        assert!(refusal(r, "FE-2026-000009").contains("ninguno de sus grupos"));
        let mut security = target("FE-2026-000009", at_n2());
        security.case.security_category = Some('h');
        let r = Roster { merge_target: Some(security), ..roster() };
        assert!(refusal(r, "FE-2026-000009").contains("seguridad"));
    }

    #[test]
    fn a_merged_stub_takes_notes_only() {
        let ana = agent("ana@dian.gov.co", Level::N2);
        let stub = Roster { merged_into: Some("FE-2026-000009".into()), ..roster() };
        let action = Action { command: Command::Escalar, text: "x".into() };
        let t = act(&at_n2(), "FE-2026-000001", &ana, &action, &n2(), &stub);
        assert!(t.refusal.as_deref().is_some_and(|w| w.contains("FE-2026-000009")));
        let note = Action { command: Command::Nota, text: "x".into() };
        assert_eq!(act(&at_n2(), "FE-2026-000001", &ana, &note, &n2(), &stub).refusal, None);
    }

    #[test]
    fn a_related_case_is_a_child_held_by_the_agent_who_created_it() {
        let jorge = agent("jorge@dian.gov.co", Level::N2);
        let mut parent = at_n2();
        parent.status = Status::Cerrado;
        let related = Related {
            parent_number: "FE-2026-000001",
            number: "FE-2026-000002",
            text: "La nómina de marzo no transmite.",
            tema: None,
        };
        let (up, child) = relate(&parent, &jorge, &related, &n2());
        assert_eq!(up.case.status, Status::Cerrado, "the parent stays as it was");
        assert!(up.events[0].detail.contains("FE-2026-000002"));
        assert!(up.replies.is_empty());
        let c = &child.case;
        assert_eq!(c.parent.as_deref(), Some("FE-2026-000001"));
        assert_eq!((c.status, c.level, c.tema), (Status::EnAtencion, Level::N2, parent.tema));
        assert_eq!(c.agent.as_deref(), Some("jorge@dian.gov.co"));
        assert_eq!(c.channel, parent.channel);
        assert!(c.missing().is_empty(), "nothing is asked of the requester");
        assert!(child.events[0].detail.contains("FE-2026-000001"));
        assert_eq!(child.events[0].from_status, None, "the first row opens the case");
        assert_eq!(
            kinds_to(&child),
            vec![
                (ReplyKind::AvisoCasoRelacionado, "solicitante".into()),
                (ReplyKind::NotificacionAgente, "jorge@dian.gov.co".into()),
            ]
        );
        assert_eq!(child.replies[0].text.as_deref(), Some(related.text));
    }

    #[test]
    fn a_related_case_of_another_tema_goes_to_that_temas_group() {
        let jorge = agent("jorge@dian.gov.co", Level::N2);
        let nomina = staffing("n2_nomina", "coord.nomina@dian.gov.co", &["luis@dian.gov.co"]);
        let related = Related {
            parent_number: "FE-2026-000001",
            number: "FE-2026-000002",
            text: "Nómina.",
            tema: Some(Tema::NominaElectronica),
        };
        let (_, child) = relate(&at_n2(), &jorge, &related, &nomina);
        assert_eq!(child.case.group.as_deref(), Some("n2_nomina"));
        assert_eq!(child.case.agent.as_deref(), Some("luis@dian.gov.co"));
        assert_eq!(
            kinds_to(&child),
            vec![
                (ReplyKind::AvisoCasoRelacionado, "solicitante".into()),
                (ReplyKind::NotificacionAgente, "luis@dian.gov.co".into()),
                (ReplyKind::NotificacionAgente, "jorge@dian.gov.co".into()),
            ],
            "the agent who created it hears the number too"
        );
        let ana = agent("ana@dian.gov.co", Level::N2);
        let empty = Action { command: Command::Relacionado { tema: None }, text: " ".into() };
        let t = act(&at_n2(), "FE-2026-000001", &ana, &empty, &n2(), &roster());
        assert!(t.refusal.as_deref().is_some_and(|w| w.contains("descripción")));
    }

    #[test]
    fn a_child_gets_the_solution_and_maybe_the_validation() {
        let t = solve_as_child(&at_n2(), "FE-2026-000009", "Corregido", true);
        assert_eq!(t.case.status, Status::Solucionado);
        assert_eq!(
            kinds_to(&t),
            vec![
                (ReplyKind::Solucion, "solicitante".into()),
                (ReplyKind::ValidacionMasiva, "solicitante".into())
            ]
        );
        let answer = crate::desk::answer::read_words;
        assert_eq!(answer("Sí, ya quedó. Gracias"), Reading::Confirma);
        assert_eq!(answer("no, sigue igual"), Reading::Persiste);
        assert_eq!(answer("Buenas tardes"), Reading::NoClara);
    }
}
