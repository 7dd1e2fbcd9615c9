//! Aranda and PQSR are systems, not people (issue 14, point 3). Their notifications carry a
//! person's request: what they say about themselves is read here (the ticket number or radicado,
//! who sent the notification — Contact Center or a Seccional — and the person it names), and a
//! case opened from one is adapted so that no system is ever asked for requirements. Pure.

use crate::desk::Channel;
use crate::desk::case::{Activity, Recipient, ReplyKind, Transition};
use crate::text::fold;

/// What a notification of Aranda or PQSR says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemNotice {
    /// `Aranda 778812`, `PQSR 2026-000123`: the case's external reference.
    pub reference: Option<String>,
    /// `Contact Center` or `Seccional Cali` (or `Seccional` when it does not say which).
    pub origin: Option<String>,
    /// The person whose request it carries, when the notification names one.
    pub person: Option<NamedPerson>,
}

/// A person named in a system's notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedPerson {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl NamedPerson {
    /// `Juan Pérez <juan@correo.example>`, or whichever half is known.
    pub fn label(&self) -> String {
        match (&self.name, &self.email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (Some(name), None) => name.clone(),
            (None, Some(email)) => email.clone(),
            (None, None) => String::new(),
        }
    }
}

/// The system a channel stands for, as people name it; `None` for mail from people.
pub fn system_name(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Aranda => Some("Aranda"),
        Channel::Pqsr => Some("PQSR"),
        Channel::Correo | Channel::Rechazado => None,
    }
}

/// Words before an Aranda ticket number (folded).
const ARANDA_WORDS: &[&str] = &["caso", "ticket", "requerimiento", "incidente", "solicitud"];
/// Words before a PQSR radicado (folded).
const PQSR_WORDS: &[&str] = &["radicado", "radicacion", "pqsr", "peticion"];
/// What may stand between the word and the number: "No.", "Nro", "número", "#", ":".
const NUMBER_MARKS: &[&str] = &["no", "nro", "numero", "num", "n"];

/// Reads a notification of `channel` (its subject and body text). Nothing for mail from people.
pub fn read_notice(channel: Channel, subject: &str, body: &str) -> Option<SystemNotice> {
    let system = system_name(channel)?;
    let words = if channel == Channel::Aranda { ARANDA_WORDS } else { PQSR_WORDS };
    let number = reference_after(subject, words).or_else(|| reference_after(body, words));
    Some(SystemNotice {
        reference: number.map(|n| format!("{system} {n}")),
        origin: origin(&fold(&format!("{subject}\n{body}")), body),
        person: named_person(body),
    })
}

/// The first number after one of `words`: digits, or letters and digits joined by `-` with at
/// least three digits (`2026-000123`, `PQSR-2026-77`).
fn reference_after(text: &str, words: &[&str]) -> Option<String> {
    let tokens: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ':' | '#' | '[' | ']' | '(' | ')' | ','))
        .filter(|t| !t.is_empty())
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        if !words.contains(&fold(token.trim_end_matches('.')).as_str()) {
            continue;
        }
        let after = tokens[i + 1..]
            .iter()
            .map(|t| t.trim_end_matches(['.', ';']))
            .find(|t| !NUMBER_MARKS.contains(&fold(t).as_str()) && !t.is_empty());
        if let Some(candidate) = after.filter(|t| is_reference(t)) {
            return Some(candidate.to_uppercase());
        }
    }
    None
}

fn is_reference(token: &str) -> bool {
    let digits = token.chars().filter(char::is_ascii_digit).count();
    digits >= 3
        && token.len() <= 40
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && token.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Contact Center or which Seccional sent the notification. `folded` is the whole text folded;
/// the Seccional's name is taken as written from `body`.
fn origin(folded: &str, body: &str) -> Option<String> {
    if folded.contains("contact center") || folded.contains("centro de contacto") {
        return Some("Contact Center".into());
    }
    if !folded.contains("seccional") {
        return None;
    }
    let name = body.lines().find_map(|line| {
        let at = fold(line).find("seccional")?;
        // Folding keeps one char per char for Spanish text: the position maps back by chars.
        let start = fold(line)[..at].chars().count() + "seccional".len();
        let rest: String = line.chars().skip(start).collect();
        let rest = rest.trim_start_matches([':', ' ']);
        let rest = ["de impuestos y aduanas de ", "de impuestos de ", "de aduanas de ", "de "]
            .iter()
            .find_map(|p| {
                rest.get(..p.len()).filter(|h| h.eq_ignore_ascii_case(p)).map(|_| &rest[p.len()..])
            })
            .unwrap_or(rest);
        let name: String =
            rest.chars().take_while(|c| c.is_alphabetic() || *c == ' ').take(40).collect();
        let name = name.trim().to_string();
        (!name.is_empty()).then_some(name)
    });
    Some(name.map_or_else(|| "Seccional".into(), |n| format!("Seccional {n}")))
}

/// Labels of a line that names the person (folded, without the colon).
const NAME_LABELS: &[&str] = &[
    "solicitante",
    "nombre",
    "nombre del solicitante",
    "peticionario",
    "ciudadano",
    "contribuyente",
    "usuario",
    "contacto",
    "reportado por",
];
/// Labels of a line that gives the person's address (folded, without the colon).
const EMAIL_LABELS: &[&str] = &[
    "correo",
    "correo electronico",
    "correo del solicitante",
    "email",
    "e-mail",
    "correo de contacto",
    "correo de notificacion",
];

/// The person a notification names in its `Etiqueta: valor` lines, if any.
fn named_person(body: &str) -> Option<NamedPerson> {
    let mut person = NamedPerson::default();
    for line in body.lines() {
        let Some((label, value)) = line.split_once(':') else { continue };
        let label = fold(label.trim().trim_start_matches(['-', '*', '•']).trim());
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if person.email.is_none() && EMAIL_LABELS.contains(&label.as_str()) {
            person.email = email_in(value);
        } else if person.name.is_none() && NAME_LABELS.contains(&label.as_str()) {
            let (name, email) = match value.split_once('<') {
                Some((name, rest)) => (name.trim(), email_in(rest)),
                None if email_in(value).is_some() => ("", email_in(value)),
                None => (value, None),
            };
            let name = name.trim_matches(['"', '\'']).trim();
            if !name.is_empty() && name.chars().any(char::is_alphabetic) && name.len() <= 80 {
                person.name = Some(name.to_string());
            }
            if person.email.is_none() {
                person.email = email;
            }
        }
    }
    (person.name.is_some() || person.email.is_some()).then_some(person)
}

/// The e-mail address in `text` (`juan@correo.example`, `<juan@correo.example>`).
fn email_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '(' | ')'))
        .map(|t| t.trim_end_matches('.'))
        .find(|t| {
            t.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            })
        })
        .map(str::to_lowercase)
}

/// A case opened from a system's notification: its reference and origin recorded, and never a
/// request for requirements to the system itself. When requirements are missing, the request
/// goes in the reply to the system addressed to the person it names; when it names nobody, the
/// N1 holder (`n1`) gets the task of getting them, and the system only the acknowledgement.
pub fn adapt_opening(t: &mut Transition, channel: Channel, notice: &SystemNotice, n1: &str) {
    let Some(system) = system_name(channel) else { return };
    if t.case.external_ref.is_none() {
        t.case.external_ref = notice.reference.clone();
    }
    let from = notice.origin.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
    let reference = notice.reference.as_deref().unwrap_or("sin número");
    let person = if notice.person.is_some() { "nombra" } else { "no nombra" };
    t.note(
        Activity::RecibirSolicitud,
        format!(
            "Notificación de {system}{from}, referencia {reference}; {person} a la persona que \
             hace la solicitud."
        ),
    );
    let asks = |r: &crate::desk::case::Reply| {
        r.kind == ReplyKind::SolicitudInformacion && r.to == Recipient::Requester
    };
    if notice.person.is_some() || !t.replies.iter().any(asks) || n1.is_empty() {
        return;
    }
    t.replies.retain(|r| !asks(r));
    let missing: Vec<&str> = t.case.missing().iter().map(|r| r.as_str()).collect();
    let task = format!(
        "La notificación de {system} (referencia {reference}) no trae todo lo necesario y no \
         nombra a quien hace la solicitud: a {system} no se le piden requisitos. Consiga con el \
         solicitante: {}. Cuando los tenga, agréguelos al caso.",
        missing.join(", ")
    );
    t.note(Activity::VerificarRequisitos, format!("Tarea para nivel 1: {task}"));
    t.reply(ReplyKind::AcuseRecibo, Recipient::Requester);
    t.reply_with(ReplyKind::NotificacionAgente, Recipient::Agent(n1.to_string()), &task);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::desk::case::{Intake, Staffing, Status};
    use crate::desk::requirements::Evidence;
    use crate::desk::{Requirement, Tema};

    /// A case opened on `channel` that lacks its XML.
    pub(crate) fn opened_without_xml(channel: Channel) -> Transition {
        let intake = Intake {
            tema: Tema::FacturaElectronica,
            channel,
            security_category: None,
            auto_generated: false,
            required: vec![Requirement::Xml],
            // A reported rejection without its XML: the XML is missing.
            evidence: Evidence { reports_rejection: true, ..Evidence::default() },
            known_errors: Vec::new(),
            answer: crate::desk::answer::Reading::NoClara,
        };
        let staffing = Staffing {
            group: "n2_factura".into(),
            coordinator: "coord.factura@dian.gov.co".into(),
            agents: Vec::new(),
        };
        crate::desk::case::open(&intake, &staffing)
    }

    fn kinds(t: &Transition) -> Vec<(ReplyKind, Recipient)> {
        t.replies.iter().map(|r| (r.kind, r.to.clone())).collect()
    }

    #[test]
    fn a_system_that_names_nobody_is_acknowledged_and_n1_gets_the_task() {
        let mut t = opened_without_xml(Channel::Aranda);
        assert_eq!(kinds(&t), [(ReplyKind::SolicitudInformacion, Recipient::Requester)]);
        let notice = SystemNotice {
            reference: Some("Aranda 812377".into()),
            origin: Some("Seccional Bucaramanga".into()),
            person: None,
        };
        adapt_opening(&mut t, Channel::Aranda, &notice, "mesa.n1@dian.gov.co");
        assert_eq!(
            kinds(&t),
            [
                (ReplyKind::AcuseRecibo, Recipient::Requester),
                (ReplyKind::NotificacionAgente, Recipient::Agent("mesa.n1@dian.gov.co".into())),
            ]
        );
        let task = t.replies[1].text.as_deref().unwrap_or_default();
        assert!(task.contains("xml") && task.contains("Aranda 812377"), "{task}");
        assert_eq!(t.case.external_ref.as_deref(), Some("Aranda 812377"));
        assert_eq!(
            (t.case.status, t.case.level),
            (Status::PendienteInformacion, crate::desk::Level::N1)
        );
        assert!(
            t.events.iter().any(|e| e.detail.contains("(Seccional Bucaramanga)")),
            "{:?}",
            t.events
        );
    }

    #[test]
    fn a_system_that_names_a_person_carries_the_request_addressed_to_them() {
        let mut t = opened_without_xml(Channel::Pqsr);
        let notice = SystemNotice {
            reference: Some("PQSR 2026-000123".into()),
            origin: None,
            person: Some(NamedPerson { name: Some("Andrés Castaño".into()), email: None }),
        };
        adapt_opening(&mut t, Channel::Pqsr, &notice, "mesa.n1@dian.gov.co");
        assert_eq!(kinds(&t), [(ReplyKind::SolicitudInformacion, Recipient::Requester)]);
        assert_eq!(t.case.external_ref.as_deref(), Some("PQSR 2026-000123"));
    }

    #[test]
    fn mail_from_people_is_left_as_it_is() {
        let mut t = opened_without_xml(Channel::Correo);
        let before = t.clone();
        adapt_opening(&mut t, Channel::Correo, &SystemNotice::default(), "mesa.n1@dian.gov.co");
        assert_eq!(t, before);
    }

    fn fixture(name: &str) -> (String, String) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pipeline")
            .join(name);
        let raw = std::fs::read(path).expect("fixture");
        let message = mail_parser::MessageParser::default().parse(&raw).expect("mail");
        let subject = message.subject().unwrap_or_default().to_string();
        let body = message.body_text(0).map(|b| b.into_owned()).unwrap_or_default();
        (subject, body)
    }

    #[test]
    fn aranda_tickets_and_pqsr_radicados_are_read_from_subject_or_body() {
        let read = |channel, subject: &str, body: &str| {
            read_notice(channel, subject, body).and_then(|n| n.reference)
        };
        let table = [
            (Channel::Aranda, "Caso 778812: factura electrónica rechazada", "", "Aranda 778812"),
            (
                Channel::Aranda,
                "[Aranda #4455] Re: Soporte",
                "Se actualizó el caso #4455",
                "Aranda 4455",
            ),
            (Channel::Aranda, "Notificación", "Caso No. 45678 registrado", "Aranda 45678"),
            (Channel::Aranda, "Requerimiento Nro: RQ-2026-1234", "", "Aranda RQ-2026-1234"),
            (Channel::Pqsr, "Radicado 2026-000123", "", "PQSR 2026-000123"),
            (
                Channel::Pqsr,
                "Nueva PQSR",
                "Número de radicado: 202682140100012345.",
                "PQSR 202682140100012345",
            ),
        ];
        for (channel, subject, body, expected) in table {
            assert_eq!(
                read(channel, subject, body).as_deref(),
                Some(expected),
                "{subject} / {body}"
            );
        }
        assert_eq!(read(Channel::Aranda, "Caso abierto", "sin número"), None);
        assert_eq!(read(Channel::Aranda, "Caso 12", ""), None, "too short for a ticket");
        assert!(
            read_notice(Channel::Correo, "Caso 778812", "").is_none(),
            "people are not systems"
        );
    }

    #[test]
    fn contact_center_and_seccionales_are_told_apart() {
        let origin =
            |body: &str| read_notice(Channel::Aranda, "Caso 778812", body).and_then(|n| n.origin);
        assert_eq!(
            origin("Registrado por: Contact Center DIAN").as_deref(),
            Some("Contact Center")
        );
        assert_eq!(origin("Origen: CENTRO DE CONTACTO").as_deref(), Some("Contact Center"));
        assert_eq!(
            origin("Dirección Seccional de Impuestos de Cali\nFuncionario: Luis").as_deref(),
            Some("Seccional Cali")
        );
        assert_eq!(origin("Seccional: Medellín.").as_deref(), Some("Seccional Medellín"));
        assert_eq!(origin("la seccional").as_deref(), Some("Seccional"));
        assert_eq!(origin("Se registró el caso.").as_deref(), None);
    }

    #[test]
    fn the_person_named_is_read_from_labelled_lines() {
        let person = |body: &str| named_person(body);
        assert_eq!(
            person("Solicitante: Juan Pérez <Juan.Perez@Correo.example>"),
            Some(NamedPerson {
                name: Some("Juan Pérez".into()),
                email: Some("juan.perez@correo.example".into())
            })
        );
        assert_eq!(
            person("Nombre: María Gómez\nCorreo electrónico: maria@empresa.example."),
            Some(NamedPerson {
                name: Some("María Gómez".into()),
                email: Some("maria@empresa.example".into())
            })
        );
        assert_eq!(
            person("Se registró el caso 778812. Descripción: la factura fue rechazada."),
            None
        );
        assert_eq!(person("Correo: no informado"), None);
    }

    #[test]
    fn the_fixtures_read_as_their_systems_wrote_them() {
        let (subject, body) = fixture("25_aranda_notificacion.eml");
        let notice = read_notice(Channel::Aranda, &subject, &body).expect("notice");
        assert_eq!(notice.reference.as_deref(), Some("Aranda 778812"));
        assert_eq!(notice.person, None);
        let (subject, body) = fixture("32_aranda_contact_center.eml");
        let notice = read_notice(Channel::Aranda, &subject, &body).expect("notice");
        assert_eq!(notice.reference.as_deref(), Some("Aranda 812345"));
        assert_eq!(notice.origin.as_deref(), Some("Contact Center"));
        let person = notice.person.expect("named");
        assert_eq!(person.email.as_deref(), Some("gloria.bermudez@ferreteria-andina.example"));
        let (subject, body) = fixture("33_aranda_seccional.eml");
        let notice = read_notice(Channel::Aranda, &subject, &body).expect("notice");
        assert_eq!(notice.reference.as_deref(), Some("Aranda 812377"));
        assert_eq!(notice.origin.as_deref(), Some("Seccional Bucaramanga"));
        assert_eq!(notice.person, None);
        let (subject, body) = fixture("34_pqsr_radicado.eml");
        let notice = read_notice(Channel::Pqsr, &subject, &body).expect("notice");
        assert_eq!(notice.reference.as_deref(), Some("PQSR 202682140100045678"));
        assert_eq!(
            notice.person.and_then(|p| p.name).as_deref(),
            Some("Andrés Felipe Castaño Ruiz")
        );
    }
}
