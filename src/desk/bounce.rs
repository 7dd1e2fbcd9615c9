//! A bounce on its case: one of the case's mails was not delivered. The history says which mail
//! (its kind and date), to whom, and the remote server's words; the person who must act is told
//! by an [`ReplyKind::AvisoRebote`]: the agent holding the case (or the group's coordinator) when
//! the requester did not get our mail, the coordinator when an agent did not. Nothing ever goes
//! back to the address that bounced, and a bounce of a bounce notice is only noted: no loops.

use crate::desk::case::{self, Activity, Case, Recipient, ReplyKind, Staffing, Transition};

/// The mail that bounced, as the outbox kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedMail {
    pub kind: ReplyKind,
    pub to: String,
    /// When it was written, as people read it (the desk's zone): `07/12/2026 09:14`.
    pub written: String,
    /// An earlier bounce of the same mail was recorded: this one is only noted.
    pub already_bounced: bool,
}

/// What the bounce reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceReport {
    /// The remote server keeps trying (`Action: delayed`): a note, nobody is told.
    pub delayed: bool,
    /// The recipient's mailbox is full.
    pub mailbox_full: bool,
    /// The address the remote server named, if any.
    pub recipient: Option<String>,
    /// The remote server's words (status code and diagnostic).
    pub diagnostic: String,
}

/// The case's history note and, for a failed delivery, the notice to whoever must act.
pub fn bounced(
    case: &Case,
    mail: &BouncedMail,
    report: &BounceReport,
    staffing: &Staffing,
) -> Transition {
    let mut t = Transition::of(case);
    let to_requester = mail.kind.to_requester();
    let detail = history_detail(mail, report, to_requester);
    t.note(Activity::RecibirSolicitud, detail.clone());
    if report.delayed || mail.already_bounced || mail.kind == ReplyKind::AvisoRebote {
        return t;
    }
    let told =
        if to_requester { case::holder(case, staffing) } else { staffing.coordinator.clone() };
    let bounced_address = report.recipient.as_deref().unwrap_or(&mail.to);
    let same =
        |a: &str| a.eq_ignore_ascii_case(&mail.to) || a.eq_ignore_ascii_case(bounced_address);
    if !told.is_empty() && !same(&told) {
        t.reply_with(ReplyKind::AvisoRebote, Recipient::Agent(told), &detail);
    }
    t
}

/// One sentence for the history and the notice: which mail, to whom, what the server said.
fn history_detail(mail: &BouncedMail, report: &BounceReport, to_requester: bool) -> String {
    let what = format!("El correo «{}» del {}", kind_label(mail.kind), mail.written);
    let whom = if to_requester { "el solicitante" } else { "el agente" };
    let address = report.recipient.as_deref().unwrap_or(&mail.to);
    let why = &report.diagnostic;
    if report.delayed {
        return format!(
            "{what} a {address} está demorado: el servidor remoto aún no lo entrega y sigue \
             intentando. Diagnóstico remoto: {why}"
        );
    }
    let cause = if report.mailbox_full { " (su buzón está lleno)" } else { "" };
    let again = if mail.already_bounced { " Otro aviso de rebote del mismo correo." } else { "" };
    format!(
        "{what} rebotó: {whom} no lo recibió{cause}. Dirección: {address}. Diagnóstico remoto: \
         {why}.{again}"
    )
}

/// How people name each kind of mail.
pub fn kind_label(kind: ReplyKind) -> String {
    let label = match kind {
        ReplyKind::AcuseRecibo => "acuse de recibo",
        ReplyKind::SolicitudInformacion => "solicitud de información",
        ReplyKind::RespuestaErrorConocido => "respuesta de error conocido",
        ReplyKind::NotificacionAgente => "notificación al agente",
        ReplyKind::Solucion => "solución",
        ReplyKind::PreguntaSolicitante => "pregunta al solicitante",
        ReplyKind::AvisoSolucion => "aviso de solución",
        ReplyKind::PaqueteAdministracionTecnica => "paquete para Administración Técnica",
        ReplyKind::RespuestaComando => "respuesta a un comando",
        ReplyKind::ValidacionMasiva => "validación de afectación masiva",
        ReplyKind::RedireccionCanal => "indicación de canal",
        ReplyKind::AvisoRebote => "aviso de rebote",
        ReplyKind::ResumenNotificaciones => "resumen de notificaciones",
        other => return other.as_str().replace('_', " "),
    };
    label.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::case::{AgentLoad, Hop, Status};
    use crate::desk::requirements::Evidence;
    use crate::desk::{CaseType, Channel, Level, Tema};

    fn case(agent: Option<&str>) -> Case {
        Case {
            status: Status::EnAtencion,
            level: Level::N2,
            tema: Tema::FacturaElectronica,
            channel: Channel::Correo,
            security_category: None,
            group: Some("n2_factura".into()),
            agent: agent.map(String::from),
            required: Vec::new(),
            evidence: Evidence::default(),
            first_contact: false,
            path: vec![Hop {
                level: Level::N2,
                group: Some("n2_factura".into()),
                holder: agent.unwrap_or("coord@fe.test").into(),
            }],
            diagnosed: false,
            parent: None,
            external_ref: None,
            case_type: CaseType::default(),
            root_cause: None,
        }
    }

    fn staffing() -> Staffing {
        Staffing {
            group: "n2_factura".into(),
            coordinator: "coord@fe.test".into(),
            agents: vec![AgentLoad { address: "ana@fe.test".into(), open_cases: 0 }],
        }
    }

    fn mail(kind: ReplyKind, to: &str) -> BouncedMail {
        BouncedMail {
            kind,
            to: to.into(),
            written: "07/12/2026 09:14".into(),
            already_bounced: false,
        }
    }

    fn failed(recipient: &str) -> BounceReport {
        BounceReport {
            delayed: false,
            mailbox_full: false,
            recipient: Some(recipient.into()),
            diagnostic: "550 5.1.1 User unknown".into(),
        }
    }

    #[test]
    fn a_requester_bounce_is_noted_and_the_holding_agent_told() {
        let before = case(Some("ana@fe.test"));
        let mail = mail(ReplyKind::SolicitudInformacion, "rosa@correo.example");
        let t = bounced(&before, &mail, &failed("rosa@correo.example"), &staffing());
        assert_eq!(t.case, before, "status and level stay");
        assert_eq!(t.events.len(), 1);
        let detail = &t.events[0].detail;
        assert!(
            detail.contains("«solicitud de información» del 07/12/2026 09:14 rebotó"),
            "{detail}"
        );
        assert!(detail.contains("el solicitante no lo recibió"), "{detail}");
        assert!(detail.contains("550 5.1.1 User unknown"), "{detail}");
        assert_eq!(t.replies.len(), 1);
        assert_eq!(t.replies[0].kind, ReplyKind::AvisoRebote);
        assert_eq!(t.replies[0].to, Recipient::Agent("ana@fe.test".into()));
        assert_eq!(t.replies[0].text.as_deref(), Some(detail.as_str()));
    }

    #[test]
    fn without_an_agent_the_coordinator_is_told() {
        let mut before = case(None);
        before.path.clear();
        let t = bounced(
            &before,
            &mail(ReplyKind::AcuseRecibo, "r@x.example"),
            &failed("r@x.example"),
            &staffing(),
        );
        assert_eq!(t.replies[0].to, Recipient::Agent("coord@fe.test".into()));
    }

    #[test]
    fn an_agents_bounce_tells_the_coordinator() {
        let before = case(Some("ana@fe.test"));
        let t = bounced(
            &before,
            &mail(ReplyKind::NotificacionAgente, "ana@fe.test"),
            &failed("ana@fe.test"),
            &staffing(),
        );
        assert!(t.events[0].detail.contains("el agente no lo recibió"));
        assert_eq!(t.replies[0].to, Recipient::Agent("coord@fe.test".into()));
    }

    #[test]
    fn delays_repeats_and_bounced_notices_are_only_noted() {
        let before = case(Some("ana@fe.test"));
        let delayed = BounceReport { delayed: true, ..failed("r@x.example") };
        let t = bounced(&before, &mail(ReplyKind::Solucion, "r@x.example"), &delayed, &staffing());
        assert!(t.replies.is_empty());
        assert!(t.events[0].detail.contains("está demorado"), "{}", t.events[0].detail);

        let again =
            BouncedMail { already_bounced: true, ..mail(ReplyKind::Solucion, "r@x.example") };
        let t = bounced(&before, &again, &failed("r@x.example"), &staffing());
        assert!(t.replies.is_empty(), "one notice per mail");

        let notice = mail(ReplyKind::AvisoRebote, "ana@fe.test");
        let t = bounced(&before, &notice, &failed("ana@fe.test"), &staffing());
        assert!(t.replies.is_empty(), "a bounced notice is not noticed again: no loop");
    }

    #[test]
    fn nobody_is_told_at_the_address_that_bounced() {
        let before = case(Some("ana@fe.test"));
        let mut staffing = staffing();
        staffing.coordinator = "ana@fe.test".into();
        let t = bounced(
            &before,
            &mail(ReplyKind::AvisoSolucion, "ana@fe.test"),
            &failed("ana@fe.test"),
            &staffing,
        );
        assert!(t.replies.is_empty());
        assert_eq!(t.events.len(), 1);
    }
}
