//! The case state machine: activities 1–4 of the procedure (intake, minimum requirements,
//! first-contact solution, assignment to N2) and the information round-trip.
//!
//! Pure: the caller gives what the message brought ([`Intake`]) and who can take the case
//! ([`Staffing`]); the engine returns the new [`Case`], the [`Event`]s to record (the procedure's
//! log) and the [`Reply`]s to queue. The store writes all of it in one transaction. Later
//! activities (5–12) are new functions over the same types.

use serde::{Deserialize, Serialize};

use crate::desk::answer::Reading;
use crate::desk::requirements::Evidence;
use crate::desk::{Channel, Level, Requirement, Tema};

crate::names::named_enum! {
    /// Status of a case, as agents and reports name it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Status {
        Nuevo = "nuevo",
        PendienteInformacion = "pendiente_informacion",
        EnAtencion = "en_atencion",
        Escalado = "escalado",
        Solucionado = "solucionado",
        Cerrado = "cerrado",
    }
}

impl Status {
    /// Still needs someone's work (counts towards an agent's load).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Solucionado | Status::Cerrado)
    }

    /// The name people read (reports, the console, the mails).
    pub fn label(self) -> &'static str {
        match self {
            Status::Nuevo => "Nuevo",
            Status::PendienteInformacion => "Pendiente de información",
            Status::EnAtencion => "En atención",
            Status::Escalado => "Escalado",
            Status::Solucionado => "Solucionado",
            Status::Cerrado => "Cerrado",
        }
    }
}

/// The procedure's activities (numbers as in the procedure document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activity {
    RecibirSolicitud = 1,
    VerificarRequisitos = 2,
    SolucionPrimerContacto = 3,
    AsignarNivel2 = 4,
    DiagnosticoNivel2 = 5,
    DecisionNivel2 = 6,
    AsignarNivel3 = 7,
    AtencionNivel3 = 8,
    DecisionNivel3 = 9,
    AsignarAdministracionTecnica = 10,
    EntregarSolucion = 11,
    ControlPosterior = 12,
}

impl Activity {
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// The engine's view of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub status: Status,
    pub level: Level,
    pub tema: Tema,
    pub channel: Channel,
    pub security_category: Option<char>,
    /// Group that holds the case (set by activity 4).
    pub group: Option<String>,
    /// Agent assigned (absent when the group had no active agent: its coordinator is told).
    pub agent: Option<String>,
    /// The tema's minimum requirements when the case was opened.
    pub required: Vec<Requirement>,
    pub evidence: Evidence,
    /// Solved at first contact from the known-error base (feeds the CT-CAC-0127 guide).
    pub first_contact: bool,
    /// The levels the case went through and who held it at each, in order: the solution notice
    /// goes back along this path.
    pub path: Vec<Hop>,
    /// An N2 specialist wrote a diagnosis (`#nota` at N2): required to reach Administración
    /// Técnica.
    pub diagnosed: bool,
    /// Parent case number (mass incident).
    pub parent: Option<String>,
    /// Ticket number of another system (Administración Técnica, Aranda, PQSR).
    pub external_ref: Option<String>,
    pub case_type: crate::desk::CaseType,
    /// Root cause of a problema (`#causa`), required to solve it.
    pub root_cause: Option<String>,
}

/// One level a case passed through and who was told to work it there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub level: Level,
    pub group: Option<String>,
    /// The agent, or the group's coordinator when nobody was active, or Administración Técnica.
    pub holder: String,
}

impl Case {
    pub fn missing(&self) -> Vec<Requirement> {
        self.evidence.missing(&self.required)
    }
}

/// What one message brought to the engine, already classified.
#[derive(Debug, Clone)]
pub struct Intake {
    pub tema: Tema,
    pub channel: Channel,
    pub security_category: Option<char>,
    pub auto_generated: bool,
    /// The tema's requirements (from configuration).
    pub required: Vec<Requirement>,
    pub evidence: Evidence,
    /// Rejection codes found whose known-error entry has a first-contact answer.
    pub known_errors: Vec<String>,
    /// How the message reads as an answer to the case's solution ([`crate::desk::answer`]):
    /// what a reply to a solved or closed case does.
    pub answer: Reading,
}

/// An agent who may take the case, with the open cases they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoad {
    pub address: String,
    pub open_cases: i64,
}

/// Who can take a case at N2: the target group and its active agents.
#[derive(Debug, Clone)]
pub struct Staffing {
    /// The tema's N2 group, or the security group for a security event.
    pub group: String,
    pub coordinator: String,
    /// Active agents of the group in configuration order.
    pub agents: Vec<AgentLoad>,
}

impl Staffing {
    /// Least-loaded active agent; ties go to the first in configuration order.
    pub fn pick(&self) -> Option<&AgentLoad> {
        self.agents.iter().min_by_key(|a| a.open_cases)
    }
}

/// One row of the procedure's log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub activity: Activity,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub from_level: Option<Level>,
    pub to_level: Level,
    /// Spanish, for the case history.
    pub detail: String,
}

crate::names::named_enum! {
    /// Kinds of automatic mail a transition queues; each has its templates `KIND.txt.j2` and
    /// `KIND.html.j2` (see config/templates/LEEME.md).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ReplyKind {
        AcuseRecibo = "acuse_recibo",
        SolicitudInformacion = "solicitud_informacion",
        RespuestaErrorConocido = "respuesta_error_conocido",
        NotificacionAgente = "notificacion_agente",
        /// The solution, to the requester on the case's own thread (activity 11).
        Solucion = "solucion",
        /// An agent's question (`#info`), to the requester.
        PreguntaSolicitante = "pregunta_solicitante",
        /// "The case was solved", to every level the case passed through, down to N1.
        AvisoSolucion = "aviso_solucion",
        /// The package for Administración Técnica (PR-IIT-0458), with the XML and evidence.
        PaqueteAdministracionTecnica = "paquete_administracion_tecnica",
        /// To an agent whose command was refused or not understood.
        RespuestaComando = "respuesta_comando",
        /// "¿Se resolvió?", to a sample of the children of a mass incident.
        ValidacionMasiva = "validacion_masiva",
        /// To an N2 coordinator: many cases with the same rejection in a short time.
        SugerenciaMasiva = "sugerencia_masiva",
        /// To a group's coordinator: a service-level target of a case passed.
        AvisoSla = "aviso_sla",
        /// To an N2 coordinator: a solved problema proposes a known error to approve.
        PropuestaErrorConocido = "propuesta_error_conocido",
        /// To a sender who may not write to the buzón (the aliados buzón is for registered
        /// providers): which channel fits them.
        RedireccionCanal = "redireccion_canal",
        /// To a group's coordinator: a sender passed the hourly cap of new cases, and its mail now
        /// joins its latest case (once per sender and hour).
        AvisoTopeCasos = "aviso_tope_casos",
        /// To an agent: many notifications within a minute, listed in one mail instead.
        ResumenNotificaciones = "resumen_notificaciones",
        /// To the requester, on a new case's own thread: an agent opened it as related to their
        /// earlier case (`#relacionado`), with its new number.
        AvisoCasoRelacionado = "aviso_caso_relacionado",
        /// To the requester of a duplicate merged into another case (`#fusionar`): the number
        /// to use from now on.
        AvisoFusion = "aviso_fusion",
        /// To the agent holding a case (or the group's coordinator): a mail of the case bounced,
        /// its recipient did not get it (the remote server's diagnostic included).
        AvisoRebote = "aviso_rebote",
        /// To a requester who has not answered the desk's request for information (once per
        /// waiting period).
        RecordatorioInformacion = "recordatorio_informacion",
        /// To a requester whose case closed without their answer.
        CierreSinRespuesta = "cierre_sin_respuesta",
        /// To the agent or coordinator holding a case that closed without the requester's answer.
        AvisoCierreSinRespuesta = "aviso_cierre_sin_respuesta",
    }
}

impl ReplyKind {
    /// Mail to the requester (counts towards the per-sender cap of automatic answers).
    pub fn to_requester(self) -> bool {
        matches!(
            self,
            ReplyKind::AcuseRecibo
                | ReplyKind::SolicitudInformacion
                | ReplyKind::RespuestaErrorConocido
                | ReplyKind::Solucion
                | ReplyKind::PreguntaSolicitante
                | ReplyKind::ValidacionMasiva
                | ReplyKind::RedireccionCanal
                | ReplyKind::AvisoCasoRelacionado
                | ReplyKind::AvisoFusion
                | ReplyKind::RecordatorioInformacion
                | ReplyKind::CierreSinRespuesta
        )
    }

    /// Mail to an agent about one case, whose reply may carry that agent's command. A digest
    /// lists many cases: a reply to it would be ambiguous, so it commands none.
    pub fn takes_commands(self) -> bool {
        !self.to_requester() && self != ReplyKind::ResumenNotificaciones
    }

    /// Mail to the requester whose substance a person wrote (an agent's solution or question):
    /// it goes out as that person's letter, without the automatic-mail marks (the
    /// `Auto-Submitted` header, the "mensaje automático" note). Everything else the desk writes
    /// on its own keeps them.
    pub fn written_by_person(self) -> bool {
        matches!(self, ReplyKind::Solucion | ReplyKind::PreguntaSolicitante)
    }

    /// Mail to agents about one case that threads on the agents' conversation of that case
    /// (one per case in their mail client). A digest or a mass-incident suggestion speaks of
    /// many cases: it stands alone.
    pub fn in_agent_thread(self) -> bool {
        self.takes_commands() && self != ReplyKind::SugerenciaMasiva
    }

    /// Mail that carries the requester's XML and evidence as attachments.
    pub fn forwards_files(self) -> bool {
        matches!(self, ReplyKind::NotificacionAgente | ReplyKind::PaqueteAdministracionTecnica)
    }
}

/// Who a reply goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Recipient {
    Requester,
    Agent(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    pub kind: ReplyKind,
    pub to: Recipient,
    /// What this mail says beyond the case's data: a solution, a question, an escalation reason,
    /// why a command was refused.
    pub text: Option<String>,
}

/// What a message (or an agent's action) did to a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub case: Case,
    pub events: Vec<Event>,
    pub replies: Vec<Reply>,
    /// Why the engine refused an agent's command (the case is unchanged).
    pub refusal: Option<String>,
}

impl Transition {
    /// No change yet.
    pub fn of(case: &Case) -> Transition {
        Transition { case: case.clone(), events: Vec::new(), replies: Vec::new(), refusal: None }
    }

    pub(crate) fn record(
        &mut self,
        activity: Activity,
        to_status: Status,
        to_level: Level,
        detail: String,
    ) {
        self.events.push(Event {
            activity,
            from_status: Some(self.case.status),
            to_status,
            from_level: Some(self.case.level),
            to_level,
            detail,
        });
        self.case.status = to_status;
        self.case.level = to_level;
    }

    pub(crate) fn reply(&mut self, kind: ReplyKind, to: Recipient) {
        self.replies.push(Reply { kind, to, text: None });
    }

    pub(crate) fn reply_with(&mut self, kind: ReplyKind, to: Recipient, text: &str) {
        self.replies.push(Reply { kind, to, text: Some(text.to_string()) });
    }

    /// The same status and level, one more event.
    pub(crate) fn note(&mut self, activity: Activity, detail: String) {
        let (status, level) = (self.case.status, self.case.level);
        self.record(activity, status, level, detail);
    }
}

/// Activities 1–4 for a message that opens a case.
pub fn open(intake: &Intake, staffing: &Staffing) -> Transition {
    let mut t = received(intake);
    if !intake.auto_generated {
        check_and_route(&mut t, &intake.known_errors, staffing);
    }
    t
}

/// Activity 1 alone: the new case as the message brought it.
fn received(intake: &Intake) -> Transition {
    let case = Case {
        status: Status::Nuevo,
        level: Level::N1,
        tema: intake.tema,
        channel: intake.channel,
        security_category: intake.security_category,
        group: None,
        agent: None,
        required: intake.required.clone(),
        evidence: intake.evidence.clone(),
        first_contact: false,
        path: Vec::new(),
        diagnosed: false,
        parent: None,
        external_ref: None,
        case_type: crate::desk::CaseType::default(),
        root_cause: None,
    };
    let mut t = Transition::of(&case);
    t.events.push(Event {
        activity: Activity::RecibirSolicitud,
        from_status: None,
        to_status: Status::Nuevo,
        from_level: None,
        to_level: Level::N1,
        detail: format!(
            "Solicitud recibida por el canal {}; tema {}.",
            intake.channel.as_str(),
            intake.tema.as_str()
        ),
    });
    t
}

/// The case as a follow-up leaves its tema: while the case is still at intake (nuevo or waiting
/// for information) and was typed `otro`, a follow-up that names a topic re-types it, with that
/// tema's requirements. Later, the tema is the agents' to change.
pub fn refine_tema(case: &Case, intake: &Intake) -> Case {
    let mut refined = case.clone();
    let at_intake = matches!(case.status, Status::Nuevo | Status::PendienteInformacion);
    if at_intake && case.tema == Tema::Otro && intake.tema != Tema::Otro && !intake.auto_generated {
        refined.tema = intake.tema;
        refined.required = intake.required.clone();
    }
    refined
}

/// A message from a sender who may not write to the buzón (the aliados buzón is for registered
/// providers): the case is kept closed on the `rechazado` channel, and the sender learns which
/// channel fits them.
pub fn redirect(intake: &Intake, reason: &str) -> Transition {
    let mut t = received(intake);
    t.case.channel = Channel::Rechazado;
    t.record(
        Activity::RecibirSolicitud,
        Status::Cerrado,
        Level::N1,
        format!(
            "No se abre caso de proveedor: {reason}. Se le indica el canal que le corresponde."
        ),
    );
    t.reply(ReplyKind::RedireccionCanal, Recipient::Requester);
    t
}

/// A message on an existing case (matched by thread or subject tag).
pub fn follow_up(case: &Case, intake: &Intake, staffing: &Staffing) -> Transition {
    let refined = refine_tema(case, intake);
    let mut t = Transition::of(case);
    if case.channel == Channel::Rechazado {
        t.note(
            Activity::RecibirSolicitud,
            "Otro mensaje de un remitente que no puede escribir a este buzón: se guarda sin responder.".into(),
        );
        return t;
    }
    if refined.tema != case.tema {
        let detail =
            format!("Tema reclasificado: {} → {}.", case.tema.as_str(), refined.tema.as_str());
        t.case = refined;
        let (status, level) = (t.case.status, t.case.level);
        t.record(Activity::VerificarRequisitos, status, level, detail);
    }
    if intake.auto_generated {
        let (status, level) = (t.case.status, t.case.level);
        t.record(
            Activity::RecibirSolicitud,
            status,
            level,
            "Respuesta automática registrada; no se contesta.".into(),
        );
        return t;
    }
    t.case.evidence.merge(&intake.evidence);
    match case.status {
        Status::Nuevo => check_and_route(&mut t, &intake.known_errors, staffing),
        Status::PendienteInformacion if case.level == Level::N1 => {
            check_and_route(&mut t, &intake.known_errors, staffing)
        }
        Status::PendienteInformacion => {
            let level = t.case.level;
            t.record(
                activity_at(level),
                working_status(level),
                level,
                "El solicitante respondió a la pregunta del especialista.".into(),
            );
            notify_holder(&mut t, staffing);
        }
        Status::EnAtencion | Status::Escalado => {
            let (status, level) = (t.case.status, t.case.level);
            t.record(
                activity_at(level),
                status,
                level,
                "El solicitante agregó información al caso.".into(),
            );
            notify_holder(&mut t, staffing);
        }
        Status::Solucionado | Status::Cerrado => after_solution(&mut t, intake.answer, staffing),
    }
    t
}

/// Activity 12, a requester's reply to a solved case (in its control window) or a closed one:
/// a confirmation closes the solved case (what control posterior waits for); the problem
/// persisting reopens it where it was solved; anything unclear stays as it is and the agent who
/// solved it is told. On a closed case nothing reopens: a new problem there becomes a related
/// case ([`open_related`], by the caller, which has the new number).
fn after_solution(t: &mut Transition, answer: Reading, staffing: &Staffing) {
    let solved = t.case.status == Status::Solucionado;
    match (answer, solved) {
        (Reading::Automatica, _) => t.note(
            Activity::ControlPosterior,
            "Respuesta automática a la solución registrada; no se contesta.".into(),
        ),
        (Reading::Confirma, true) => {
            let level = t.case.level;
            t.record(
                Activity::ControlPosterior,
                Status::Cerrado,
                level,
                "Confirmación del solicitante: la solución resolvió su solicitud. Se cierra el caso."
                    .into(),
            );
        }
        (Reading::Confirma, false) => t.note(
            Activity::ControlPosterior,
            "El solicitante agradeció o confirmó la solución del caso ya cerrado: se registra, sin \
             reabrir."
                .into(),
        ),
        (Reading::Persiste, true) => reopen(t, staffing),
        (Reading::Persiste | Reading::NoClara, _) => tell_solver(t, solved, staffing),
    }
}

/// The reply is recorded, the case stays as it is, and whoever solved it reads the message.
fn tell_solver(t: &mut Transition, solved: bool, staffing: &Staffing) {
    let (detail, text) = if solved {
        (
            "El solicitante respondió a la solución sin decir si quedó resuelto: el caso sigue \
             solucionado y se avisa a quien lo solucionó.",
            "El solicitante respondió a la solución sin decir si quedó resuelto. El caso sigue \
             solucionado; si hay que trabajarlo de nuevo, responda a este correo con #reabrir.",
        )
    } else {
        (
            "El solicitante escribió en el hilo del caso cerrado: se registra sin reabrir y se \
             avisa al último agente.",
            "El solicitante escribió en el hilo de este caso, ya cerrado. Sigue cerrado; si hay \
             que trabajarlo de nuevo, responda a este correo con #reabrir.",
        )
    };
    t.note(Activity::ControlPosterior, detail.into());
    let to = holder(&t.case, staffing);
    t.reply_with(ReplyKind::NotificacionAgente, Recipient::Agent(to), text);
}

/// A new problem written on the thread of a closed case: a new case, child of the old one
/// (`parent`), opened as any request is, whose history names the old case.
pub fn open_related(intake: &Intake, staffing: &Staffing, old: &str) -> Transition {
    let mut t = open(intake, staffing);
    t.case.parent = Some(old.to_string());
    if let Some(received) = t.events.first_mut() {
        received.detail.push_str(&format!(
            " Caso relacionado con {old} (hijo de ese caso): el solicitante escribió un problema \
             nuevo en el hilo de {old}, ya cerrado."
        ));
    }
    t
}

/// The history row of the closed case that a new problem on its thread turned into `new`.
pub fn related_opened(old: &Case, new: &str) -> Event {
    Event {
        activity: Activity::ControlPosterior,
        from_status: Some(old.status),
        to_status: old.status,
        from_level: Some(old.level),
        to_level: old.level,
        detail: format!(
            "El solicitante escribió un problema nuevo en el hilo de este caso cerrado: se abrió \
             el caso relacionado {new} (hijo de este)."
        ),
    }
}

/// Activity 2, then 3 (known error) or 4 (N2), or a request for the missing items.
fn check_and_route(t: &mut Transition, known_errors: &[String], staffing: &Staffing) {
    let missing = t.case.missing();
    let is_security = t.case.security_category.is_some();
    if !known_errors.is_empty() && !is_security {
        t.record(
            Activity::VerificarRequisitos,
            t.case.status,
            Level::N1,
            requirements_detail(&missing),
        );
        t.case.first_contact = true;
        t.record(
            Activity::SolucionPrimerContacto,
            Status::Solucionado,
            Level::N1,
            format!("Error conocido con solución en primer contacto: {}.", known_errors.join(", ")),
        );
        t.record(
            Activity::EntregarSolucion,
            Status::Solucionado,
            Level::N1,
            "Respuesta de error conocido enviada al solicitante.".into(),
        );
        t.reply(ReplyKind::RespuestaErrorConocido, Recipient::Requester);
        return;
    }
    if !missing.is_empty() && !is_security {
        t.record(
            Activity::VerificarRequisitos,
            Status::PendienteInformacion,
            Level::N1,
            requirements_detail(&missing),
        );
        t.reply(ReplyKind::SolicitudInformacion, Recipient::Requester);
        return;
    }
    t.record(
        Activity::VerificarRequisitos,
        t.case.status,
        Level::N1,
        requirements_detail(&missing),
    );
    t.record(
        Activity::SolucionPrimerContacto,
        t.case.status,
        Level::N1,
        "Sin error conocido que lo resuelva en primer contacto.".into(),
    );
    t.reply(ReplyKind::AcuseRecibo, Recipient::Requester);
    assign_n2(t, staffing);
}

fn requirements_detail(missing: &[Requirement]) -> String {
    if missing.is_empty() {
        "Requisitos mínimos completos.".into()
    } else {
        let names: Vec<&str> = missing.iter().map(|r| r.as_str()).collect();
        format!("Faltan requisitos mínimos: {}.", names.join(", "))
    }
}

/// Activity 4: the group's least-loaded active agent, or the coordinator when nobody is active.
fn assign_n2(t: &mut Transition, staffing: &Staffing) {
    t.case.group = Some(staffing.group.clone());
    t.case.agent = staffing.pick().map(|a| a.address.clone());
    let detail = match &t.case.agent {
        Some(_) => {
            format!("Asignado al grupo {} (agente con menos casos abiertos).", staffing.group)
        }
        None => format!(
            "Asignado al grupo {}; sin agentes activos: se avisa al coordinador.",
            staffing.group
        ),
    };
    t.record(Activity::AsignarNivel2, Status::EnAtencion, Level::N2, detail);
    let holder = t.case.agent.clone().unwrap_or_else(|| staffing.coordinator.clone());
    t.case.path.push(Hop { level: Level::N2, group: Some(staffing.group.clone()), holder });
    notify_holder(t, staffing);
}

/// Whoever holds the case now: its agent, else the holder recorded for its level, else the
/// group's coordinator.
pub(crate) fn holder(case: &Case, staffing: &Staffing) -> String {
    case.agent
        .clone()
        .or_else(|| {
            case.path.iter().rev().find(|h| h.level == case.level).map(|h| h.holder.clone())
        })
        .unwrap_or_else(|| staffing.coordinator.clone())
}

fn notify_holder(t: &mut Transition, staffing: &Staffing) {
    let to = holder(&t.case, staffing);
    t.reply(ReplyKind::NotificacionAgente, Recipient::Agent(to));
}

/// A message from a sender past the hourly cap of new cases: it joins the sender's latest case
/// instead of opening one. An open case takes it as a follow-up, but its agent is mailed only
/// when the case changes hands (a flood must not become a flood of notifications); a solved or
/// closed case records it without reopening. The coordinator is told (the store keeps that to
/// once per sender and hour).
pub fn over_case_cap(case: &Case, intake: &Intake, staffing: &Staffing, cap: u32) -> Transition {
    let mut t = Transition::of(case);
    if case.status.is_open() {
        t = follow_up(case, intake, staffing);
        if t.case.level == case.level && t.case.agent == case.agent {
            t.replies.retain(|r| r.kind != ReplyKind::NotificacionAgente);
        }
    }
    let detail = format!(
        "El remitente ya abrió {cap} casos en la última hora (tope de casos por remitente): \
         este correo se agrega a este caso en lugar de abrir otro."
    );
    t.note(Activity::RecibirSolicitud, detail.clone());
    if !staffing.coordinator.is_empty() {
        t.reply_with(
            ReplyKind::AvisoTopeCasos,
            Recipient::Agent(staffing.coordinator.clone()),
            &detail,
        );
    }
    t
}

/// The status of a case being worked at `level`.
pub(crate) fn working_status(level: Level) -> Status {
    match level {
        Level::N1 => Status::Nuevo,
        Level::N2 => Status::EnAtencion,
        Level::N3 | Level::AdministracionTecnica => Status::Escalado,
    }
}

/// Activity 12: a requester's reply after the solution reopens the case. A first-contact answer
/// that did not solve it goes on to N2; otherwise it returns to the level that solved it.
fn reopen(t: &mut Transition, staffing: &Staffing) {
    let level = t.case.level;
    if level == Level::N1 {
        t.record(
            Activity::ControlPosterior,
            Status::Nuevo,
            Level::N1,
            "El solicitante respondió a la solución: se reabre.".into(),
        );
        t.case.first_contact = false;
        assign_n2(t, staffing);
    } else {
        t.record(
            Activity::ControlPosterior,
            working_status(level),
            level,
            "El solicitante respondió a la solución: se reabre en el nivel que la dio.".into(),
        );
        notify_holder(t, staffing);
    }
}

pub(crate) fn activity_at(level: Level) -> Activity {
    match level {
        Level::N1 => Activity::VerificarRequisitos,
        Level::N2 => Activity::DiagnosticoNivel2,
        Level::N3 => Activity::AtencionNivel3,
        Level::AdministracionTecnica => Activity::AsignarAdministracionTecnica,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Requirement::*;

    fn staffing() -> Staffing {
        Staffing {
            group: "n2_factura".into(),
            coordinator: "coord@dian.gov.co".into(),
            agents: vec![
                AgentLoad { address: "ana@dian.gov.co".into(), open_cases: 3 },
                AgentLoad { address: "luis@dian.gov.co".into(), open_cases: 1 },
                AgentLoad { address: "eva@dian.gov.co".into(), open_cases: 1 },
            ],
        }
    }

    fn intake(supplied: &[Requirement], reports_rejection: bool) -> Intake {
        Intake {
            tema: Tema::FacturaElectronica,
            channel: Channel::Correo,
            security_category: None,
            auto_generated: false,
            required: vec![Descripcion, Nit, Documento, Xml],
            evidence: Evidence { supplied: supplied.iter().copied().collect(), reports_rejection },
            known_errors: Vec::new(),
            answer: Reading::NoClara,
        }
    }

    fn activities(t: &Transition) -> Vec<u8> {
        t.events.iter().map(|e| e.activity.number()).collect()
    }

    #[test]
    fn complete_request_goes_to_least_loaded_n2_agent() {
        let t = open(&intake(&[Descripcion, Nit, Documento], false), &staffing());
        assert_eq!(activities(&t), vec![1, 2, 3, 4]);
        assert_eq!(t.case.status, Status::EnAtencion);
        assert_eq!(t.case.level, Level::N2);
        assert_eq!(t.case.agent.as_deref(), Some("luis@dian.gov.co"));
        let kinds: Vec<ReplyKind> = t.replies.iter().map(|r| r.kind).collect();
        assert_eq!(kinds, vec![ReplyKind::AcuseRecibo, ReplyKind::NotificacionAgente]);
    }

    #[test]
    fn missing_items_ask_the_requester_and_wait() {
        let t = open(&intake(&[Descripcion], true), &staffing());
        assert_eq!(activities(&t), vec![1, 2]);
        assert_eq!(t.case.status, Status::PendienteInformacion);
        assert_eq!(t.case.level, Level::N1);
        assert_eq!(t.case.missing(), vec![Documento, Nit, Xml]);
        assert_eq!(
            t.replies,
            vec![Reply {
                kind: ReplyKind::SolicitudInformacion,
                to: Recipient::Requester,
                text: None
            }]
        );
    }

    #[test]
    fn information_round_trip_moves_the_case_on() {
        let waiting = open(&intake(&[Descripcion], true), &staffing()).case;
        let partial = follow_up(&waiting, &intake(&[Nit], false), &staffing());
        assert_eq!(partial.case.status, Status::PendienteInformacion);
        assert_eq!(partial.case.missing(), vec![Documento, Xml]);
        assert_eq!(partial.replies[0].kind, ReplyKind::SolicitudInformacion);
        let done = follow_up(&partial.case, &intake(&[Documento, Xml], false), &staffing());
        assert_eq!(activities(&done), vec![2, 3, 4]);
        assert_eq!(done.case.status, Status::EnAtencion);
        assert_eq!(done.case.level, Level::N2);
    }

    #[test]
    fn known_error_is_solved_at_first_contact() {
        let mut input = intake(&[Descripcion, Nit, Documento, Xml], true);
        input.known_errors = vec!["FAD06".into()];
        let t = open(&input, &staffing());
        assert_eq!(activities(&t), vec![1, 2, 3, 11]);
        assert_eq!(t.case.status, Status::Solucionado);
        assert!(t.case.first_contact);
        assert_eq!(
            t.replies,
            vec![Reply {
                kind: ReplyKind::RespuestaErrorConocido,
                to: Recipient::Requester,
                text: None
            }]
        );
    }

    #[test]
    fn reply_after_first_contact_answer_reopens_to_n2() {
        let mut input = intake(&[Descripcion, Nit, Documento, Xml], true);
        input.known_errors = vec!["FAD06".into()];
        let solved = open(&input, &staffing()).case;
        let persists = Intake { answer: Reading::Persiste, ..intake(&[], false) };
        let t = follow_up(&solved, &persists, &staffing());
        assert_eq!(activities(&t), vec![12, 4]);
        assert_eq!(t.case.status, Status::EnAtencion);
        assert!(!t.case.first_contact);
    }

    #[test]
    fn security_event_skips_requests_and_goes_to_its_group() {
        let mut input = intake(&[Descripcion], false);
        input.security_category = Some('h');
        let mut security = staffing();
        security.group = "seguridad".into();
        let t = open(&input, &security);
        assert_eq!(t.case.status, Status::EnAtencion);
        assert_eq!(t.case.group.as_deref(), Some("seguridad"));
    }

    #[test]
    fn no_active_agent_notifies_the_coordinator() {
        let mut empty = staffing();
        empty.agents.clear();
        let t = open(&intake(&[Descripcion, Nit, Documento], false), &empty);
        assert_eq!(t.case.agent, None);
        assert!(t.replies.contains(&Reply {
            kind: ReplyKind::NotificacionAgente,
            to: Recipient::Agent("coord@dian.gov.co".into()),
            text: None
        }));
    }

    #[test]
    fn auto_generated_follow_up_changes_nothing_and_answers_nothing() {
        let case = open(&intake(&[Descripcion, Nit, Documento], false), &staffing()).case;
        let mut input = intake(&[], false);
        input.auto_generated = true;
        let t = follow_up(&case, &input, &staffing());
        assert!(t.replies.is_empty());
        assert_eq!(t.case, case);
        assert_eq!(activities(&t), vec![1]);
    }

    #[test]
    fn a_follow_up_naming_the_topic_retypes_an_otro_case() {
        let mut vague = intake(&[Descripcion], false);
        vague.tema = Tema::Otro;
        vague.required = vec![Descripcion, Nit];
        let waiting = open(&vague, &staffing()).case;
        assert_eq!(waiting.status, Status::PendienteInformacion);
        let mut payroll = intake(&[Nit, Documento, Xml], false);
        payroll.tema = Tema::NominaElectronica;
        let t = follow_up(&waiting, &payroll, &staffing());
        assert_eq!(t.case.tema, Tema::NominaElectronica);
        assert_eq!(t.case.required, payroll.required);
        assert!(t.events[0].detail.contains("otro → nomina_electronica"), "{:?}", t.events);
        assert_eq!(t.case.status, Status::EnAtencion);
    }

    #[test]
    fn an_assigned_case_keeps_its_tema() {
        let case = open(&intake(&[Descripcion, Nit, Documento], false), &staffing()).case;
        let mut other = intake(&[], false);
        other.tema = Tema::Radian;
        assert_eq!(follow_up(&case, &other, &staffing()).case.tema, Tema::FacturaElectronica);
    }

    #[test]
    fn follow_up_on_assigned_case_notifies_the_agent() {
        let case = open(&intake(&[Descripcion, Nit, Documento], false), &staffing()).case;
        let t = follow_up(&case, &intake(&[Xml], false), &staffing());
        assert_eq!(activities(&t), vec![5]);
        assert_eq!(
            t.replies,
            vec![Reply {
                kind: ReplyKind::NotificacionAgente,
                to: Recipient::Agent("luis@dian.gov.co".into()),
                text: None
            }]
        );
        assert!(t.case.evidence.supplied.contains(&Xml));
    }

    /// A case solved at N2 by Luis, in its control window.
    fn solved_at_n2() -> Case {
        let mut case = open(&intake(&[Descripcion, Nit, Documento], false), &staffing()).case;
        case.status = Status::Solucionado;
        case
    }

    fn answer(reading: Reading) -> Intake {
        Intake { answer: reading, ..intake(&[], false) }
    }

    #[test]
    fn a_confirmation_closes_the_solved_case_and_mails_nobody() {
        let t = follow_up(&solved_at_n2(), &answer(Reading::Confirma), &staffing());
        assert_eq!(t.case.status, Status::Cerrado);
        assert_eq!(activities(&t), vec![12]);
        assert!(t.events[0].detail.contains("Confirmación del solicitante"), "{:?}", t.events);
        assert!(t.replies.is_empty());
    }

    #[test]
    fn the_problem_persisting_reopens_where_it_was_solved() {
        let t = follow_up(&solved_at_n2(), &answer(Reading::Persiste), &staffing());
        assert_eq!((t.case.status, t.case.level), (Status::EnAtencion, Level::N2));
        assert_eq!(t.replies[0].to, Recipient::Agent("luis@dian.gov.co".into()));
    }

    #[test]
    fn an_unclear_answer_stays_solved_and_tells_the_solver() {
        let t = follow_up(&solved_at_n2(), &answer(Reading::NoClara), &staffing());
        assert_eq!(t.case.status, Status::Solucionado);
        assert_eq!(activities(&t), vec![12]);
        assert_eq!(t.replies.len(), 1);
        assert_eq!(t.replies[0].kind, ReplyKind::NotificacionAgente);
        assert_eq!(t.replies[0].to, Recipient::Agent("luis@dian.gov.co".into()));
        assert!(t.replies[0].text.as_deref().is_some_and(|x| x.contains("#reabrir")));
    }

    #[test]
    fn a_closed_case_never_reopens_from_a_reply() {
        let mut closed = solved_at_n2();
        closed.status = Status::Cerrado;
        for reading in [Reading::Confirma, Reading::Persiste, Reading::NoClara, Reading::Automatica]
        {
            let t = follow_up(&closed, &answer(reading), &staffing());
            assert_eq!(t.case.status, Status::Cerrado, "{reading:?}");
            let told = t.replies.iter().any(|r| r.kind == ReplyKind::NotificacionAgente);
            assert_eq!(
                told,
                matches!(reading, Reading::Persiste | Reading::NoClara),
                "{reading:?}"
            );
        }
        let t = follow_up(&solved_at_n2(), &answer(Reading::Automatica), &staffing());
        assert_eq!((t.case.status, t.replies.len()), (Status::Solucionado, 0));
    }

    #[test]
    fn a_related_case_is_a_child_and_both_histories_name_the_other() {
        let t = open_related(&intake(&[Descripcion, Nit, Documento], false), &staffing(), "FE-1");
        assert_eq!(t.case.parent.as_deref(), Some("FE-1"));
        assert_eq!(t.case.status, Status::EnAtencion);
        assert!(t.events[0].detail.contains("relacionado con FE-1"), "{:?}", t.events[0]);
        let mut old = solved_at_n2();
        old.status = Status::Cerrado;
        let event = related_opened(&old, "FE-2");
        assert_eq!(
            (event.to_status, event.activity),
            (Status::Cerrado, Activity::ControlPosterior)
        );
        assert!(event.detail.contains("FE-2"));
    }
}
