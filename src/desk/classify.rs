//! Classification of an inbound message: machine-written or not, security event, tema, channel
//! and the case it refers to. Pure functions over already-parsed data.

use crate::config::Config;
use crate::desk::{Channel, Tema};
use crate::dian::{Document, DocumentKind};
use crate::text::{contains_phrase, fold};

/// Machine-written: the headers say so (RFC 3834 and the usual vendor headers, read by
/// `mail::AutoHeaders::mark_automatic`), the sender is a mail daemon, or the subject is an
/// out-of-office one. Such mail is never answered automatically.
pub fn is_auto_generated(headers_mark_automatic: bool, from: &str, subject: &str) -> bool {
    let local = from.split('@').next().unwrap_or_default();
    let daemon = from.is_empty()
        || local.eq_ignore_ascii_case("mailer-daemon")
        || local.eq_ignore_ascii_case("postmaster");
    headers_mark_automatic || daemon || is_auto_reply_subject(subject)
}

/// How out-of-office replies begin when their headers say nothing, [`fold`]ed. A prefix ending
/// in ':' needs the colon: "Respuesta automática de la DIAN" is a person's complaint, while
/// Outlook writes "Respuesta automática: <asunto>".
const AUTO_REPLY_PREFIXES: &[&str] = &[
    "respuesta automatica:",
    "respuesta automatica de ausencia",
    "respuesta de ausencia",
    "fuera de la oficina",
    "fuera de oficina",
    "estoy fuera de la oficina",
    "out of office",
    "out of the office",
    "automatic reply:",
    "auto reply:",
    "auto-reply:",
    "autoreply:",
    "autorespuesta:",
    "auto:",
];

/// An out-of-office subject. Only at the very start (after gateway tags such as "[Externo]"):
/// "RE: Respuesta automática: …" is a person answering one, and must be read.
pub fn is_auto_reply_subject(subject: &str) -> bool {
    let folded = fold(subject);
    let mut rest = folded.trim_start();
    while let Some(after) =
        rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(_, after)| after)
    {
        rest = after.trim_start();
    }
    AUTO_REPLY_PREFIXES.iter().any(|prefix| rest.starts_with(prefix))
}

/// Phrases that report each security-event category of the procedure (a–h), checked in order;
/// the first category with a match wins. Only explicit reports count: a plain "el sistema
/// falla" is a support request, not a security event.
const SECURITY_PHRASES: &[(char, &[&str])] = &[
    (
        'h',
        &[
            "acceso no autorizado",
            "ingreso no autorizado",
            "accedio sin autorizacion",
            "ingresaron sin autorizacion",
            "ingreso sin autorizacion",
            "suplantacion",
            "suplantaron",
            "usurpacion de identidad",
            "credenciales robadas",
            "credenciales comprometidas",
            "robaron la contrasena",
            "robo de contrasena",
            "cuenta hackeada",
            "hackearon",
        ],
    ),
    (
        'b',
        &[
            "fuga de informacion",
            "filtracion de datos",
            "filtracion de informacion",
            "datos expuestos",
            "informacion expuesta",
            "informacion de otro contribuyente",
            "datos de otro contribuyente",
            "ransomware",
            "secuestro de datos",
            "denegacion de servicio",
        ],
    ),
    (
        'e',
        &[
            "robo de equipo",
            "robo del computador",
            "robo del token",
            "perdida del token",
            "acceso fisico no autorizado",
        ],
    ),
    (
        'f',
        &[
            "cambio no autorizado",
            "cambio no controlado",
            "modificaron sin autorizacion",
            "cambios sin autorizacion",
        ],
    ),
    (
        'd',
        &[
            "incumplimiento de la politica",
            "violacion de la politica",
            "incumplimiento de politicas",
            "compartio su contrasena",
            "compartieron la contrasena",
        ],
    ),
    ('c', &["error humano", "enviamos por error informacion", "se envio por error a otro"]),
    (
        'a',
        &[
            "control ineficaz",
            "control no funciono",
            "vulnerabilidad",
            "phishing",
            "correo fraudulento",
            "malware",
            "virus informatico",
        ],
    ),
    (
        'g',
        &[
            "mal funcionamiento del hardware",
            "falla de seguridad del software",
            "incidente de seguridad",
            "evento de seguridad",
        ],
    ),
];

/// The security-event category (a–h) the text reports, if any. `folded` is [`fold`]ed text.
pub fn security_category(folded: &str) -> Option<char> {
    SECURITY_PHRASES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains_phrase(folded, p)))
        .map(|(category, _)| *category)
}

/// The tema: (1) explicit topic words, (2) the documents attached, (3) general words, else otro.
/// `folded` is the [`fold`]ed subject and own words.
pub fn tema(config: &Config, folded: &str, documents: &[Document]) -> Tema {
    if mentions_radian_event(folded) {
        return Tema::Radian;
    }
    let explicit =
        config.temas.iter().find(|t| t.keywords.iter().any(|w| contains_phrase(folded, &fold(w))));
    if let Some(found) = explicit {
        return found.tema;
    }
    if let Some(by_documents) = tema_from_documents(documents) {
        return by_documents;
    }
    config
        .temas
        .iter()
        .find(|t| t.general_keywords.iter().any(|w| contains_phrase(folded, &fold(w))))
        .map_or(Tema::Otro, |t| t.tema)
}

fn tema_from_documents(documents: &[Document]) -> Option<Tema> {
    let has = |pred: &dyn Fn(&Document) -> bool| documents.iter().any(pred);
    if has(&|d| {
        matches!(d.kind, DocumentKind::NominaIndividual | DocumentKind::NominaIndividualAjuste)
    }) {
        Some(Tema::NominaElectronica)
    } else if has(&|d| {
        matches!(d.kind, DocumentKind::DocumentoSoporte | DocumentKind::NotaAjusteDocumentoSoporte)
    }) {
        Some(Tema::DocumentoSoporte)
    } else if has(&|d| d.is_radian_event()) {
        Some(Tema::Radian)
    } else if has(&|d| {
        matches!(
            d.kind,
            DocumentKind::Invoice
                | DocumentKind::CreditNote
                | DocumentKind::DebitNote
                | DocumentKind::AttachedDocument
        )
    }) {
        Some(Tema::FacturaElectronica)
    } else {
        None
    }
}

/// "evento 033", "eventos 030 y 031": a RADIAN event code (030–046) right after the word.
fn mentions_radian_event(folded: &str) -> bool {
    let words: Vec<&str> =
        folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    words.iter().enumerate().any(|(i, word)| {
        (*word == "evento" || *word == "eventos")
            && words[i + 1..].iter().take(3).any(|next| {
                next.len() == 3 && next.parse::<u16>().is_ok_and(|code| (30..=46).contains(&code))
            })
    })
}

/// Aranda or PQSR when the sender matches their patterns, else the buzón's own channel.
pub fn channel(config: &Config, buzon_channel: Channel, from: &str) -> Channel {
    let matches =
        |patterns: &[String]| patterns.iter().any(|p| glob_matches(&p.to_lowercase(), from));
    if matches(&config.canales.aranda) {
        Channel::Aranda
    } else if matches(&config.canales.pqsr) {
        Channel::Pqsr
    } else {
        buzon_channel
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else { return rest.is_empty() };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The first `[PREFIX-YYYY-NNNNNN]` tag of a subject, anywhere in a "RE: RV: FW:" chain.
pub fn case_ref(subject: &str, prefix: &str) -> Option<String> {
    // A tag holds no `[`: each `]` closes at most the last `[` before it, so one pass will do.
    let mut rest = subject;
    while let Some(close) = rest.find(']') {
        if let Some(open) = rest[..close].rfind('[') {
            let inner = rest[open + 1..close].trim();
            if is_case_number(inner, prefix) {
                return Some(inner.to_ascii_uppercase());
            }
        }
        rest = &rest[close + 1..];
    }
    None
}

/// `FE-2026-000123`: prefix, a four-digit year, six digits.
pub fn is_case_number(text: &str, prefix: &str) -> bool {
    let mut parts = text.split('-');
    let (Some(p), Some(year), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    p.eq_ignore_ascii_case(prefix)
        && year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && seq.len() == 6
        && seq.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::builtin().expect("built-in config")
    }

    #[test]
    fn daemons_and_marked_headers_are_machines() {
        assert!(is_auto_generated(true, "news@b.example", "Boletín"));
        assert!(is_auto_generated(false, "MAILER-DAEMON@mx.example", ""));
        assert!(is_auto_generated(false, "postmaster@mx.example", "Undeliverable"));
        assert!(is_auto_generated(false, "", ""));
        assert!(is_auto_generated(false, "rosa@correo.example", "Respuesta automática: Factura"));
        assert!(!is_auto_generated(false, "rosa@correo.example", "Factura"));
    }

    #[test]
    fn out_of_office_subjects() {
        let table = [
            ("Respuesta automática: [FE-2026-000042] Factura rechazada", true),
            ("RESPUESTA AUTOMATICA: Factura", true),
            ("respuesta automática:Factura", true),
            ("Respuesta automática de ausencia", true),
            ("Fuera de la oficina", true),
            ("Fuera de la Oficina hasta el 3 de diciembre", true),
            ("Out of Office: Factura rechazada", true),
            ("OUT OF THE OFFICE", true),
            ("Automatic reply: [FE-2026-000042] Factura", true),
            ("Autoreply: Factura", true),
            ("Auto-Reply: Factura", true),
            ("AUTO: Juan Pérez está fuera de la oficina", true),
            ("[Externo] Respuesta automática: Factura", true),
            ("  Out of office", true),
            // People: replies and forwards of an auto-reply, and requests that merely start alike.
            ("Re: Respuesta sobre la factura", false),
            ("RE: Respuesta automática: Factura", false),
            ("RV: Fuera de la oficina", false),
            ("Fuera de línea el servicio de validación", false),
            ("Respuesta automática de la DIAN con rechazo FAD06", false),
            ("Respuesta a la solicitud de información", false),
            ("Automático el envío de eventos RADIAN?", false),
            ("Autorización de numeración", false),
            ("Ausencia del evento 033", false),
            ("Factura rechazada (Out of office no aplica)", false),
            ("", false),
        ];
        for (subject, expected) in table {
            assert_eq!(is_auto_reply_subject(subject), expected, "{subject:?}");
        }
    }

    #[test]
    fn security_categories() {
        assert_eq!(
            security_category(&fold("Reportamos un ACCESO NO AUTORIZADO al portal")),
            Some('h')
        );
        assert_eq!(security_category(&fold("Hubo una fuga de información de clientes")), Some('b'));
        assert_eq!(security_category(&fold("Nos robaron el token (robo del token)")), Some('e'));
        assert_eq!(security_category(&fold("La factura no se valida, el sistema falla")), None);
    }

    #[test]
    fn explicit_words_beat_documents_and_general_words() {
        let c = config();
        assert_eq!(
            tema(&c, &fold("Consulta sobre el set de pruebas de la factura"), &[]),
            Tema::Habilitacion
        );
        assert_eq!(tema(&c, &fold("Título valor y endoso"), &[]), Tema::Radian);
        assert_eq!(tema(&c, &fold("No veo el evento 033 de la factura"), &[]), Tema::Radian);
        assert_eq!(
            tema(&c, &fold("Problema con la Solución Gratuita"), &[]),
            Tema::FacturadorGratuito
        );
        assert_eq!(tema(&c, &fold("el CUNE no coincide"), &[]), Tema::NominaElectronica);
        assert_eq!(
            tema(&c, &fold("compras a no obligados a facturar"), &[]),
            Tema::DocumentoSoporte
        );
        assert_eq!(tema(&c, &fold("Mi nota crédito"), &[]), Tema::FacturaElectronica);
        assert_eq!(tema(&c, &fold("Consulta general sobre el RUT"), &[]), Tema::Otro);
    }

    #[test]
    fn documents_decide_before_general_words() {
        let c = config();
        let mut event = Document::new(DocumentKind::ApplicationResponse, "ar.xml");
        event.response_code = Some("031".into());
        assert_eq!(tema(&c, &fold("XML de la factura"), &[event.clone()]), Tema::Radian);
        event.response_code = Some("04".into());
        assert_eq!(tema(&c, &fold("XML de la factura"), &[event]), Tema::FacturaElectronica);
        let payroll = Document::new(DocumentKind::NominaIndividual, "n.xml");
        assert_eq!(tema(&c, &fold("adjunto XML"), &[payroll]), Tema::NominaElectronica);
    }

    #[test]
    fn channel_by_sender_pattern() {
        let c = config();
        assert_eq!(channel(&c, Channel::Correo, "notifica@aranda.dian.gov.co"), Channel::Aranda);
        assert_eq!(channel(&c, Channel::Correo, "pqsr@dian.gov.co"), Channel::Pqsr);
        assert_eq!(channel(&c, Channel::Correo, "rosa@correo.example"), Channel::Correo);
        assert!(glob_matches("*@x.example", "a@x.example"));
        assert!(!glob_matches("*@x.example", "a@x.example.evil"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
    }

    #[test]
    fn case_ref_anywhere_in_reply_chains() {
        assert_eq!(
            case_ref("RE: RV: FW: [FE-2026-000042] Factura", "FE").as_deref(),
            Some("FE-2026-000042")
        );
        assert_eq!(case_ref("Re: [fe-2026-000042]", "FE").as_deref(), Some("FE-2026-000042"));
        assert_eq!(
            case_ref("[Externo] RE: [FE-2026-000042]", "FE").as_deref(),
            Some("FE-2026-000042")
        );
        assert_eq!(case_ref("FE-2026-000042 sin corchetes", "FE"), None);
        assert_eq!(case_ref("[FE-2026-42]", "FE"), None);
    }
}
