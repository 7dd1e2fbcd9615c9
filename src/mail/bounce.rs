//! Bounces: mail that says one of ours was not delivered.
//!
//! Three shapes are recognised, strongest first:
//! - a delivery report (RFC 3464): `multipart/report; report-type=delivery-status` with a
//!   `message/delivery-status` part (per recipient: `Final-Recipient`, `Action`, `Status`,
//!   `Diagnostic-Code`) and the returned original as `message/rfc822` or
//!   `text/rfc822-headers`. Postfix, Gmail, Exchange Online and Sendmail write these;
//! - a non-standard bounce: an older Exchange/Outlook NDR ("Undeliverable: …", the original
//!   attached), qmail's "failure notice" (the original pasted below a line), from the mailer
//!   daemon or the postmaster or under a bounce subject;
//! - a "mailbox full" auto-reply ("buzón lleno", "cuota excedida", "over quota"), which is not a
//!   report at all but says the same: the mail was not read.
//!
//! Recognition only reads; whether the bounce is about one of our mails is decided by the
//! caller, which verifies the signed Message-IDs the bounce quotes ([`Bounce::quoted_ids`]).
//! Total and bounded: every scan stops at a named limit, and nothing here panics on input.

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::Inbound;
use crate::text::fold;

/// Bytes of a `message/delivery-status` part read (real ones are under 2 KiB).
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

/// Recipients kept from one report.
pub const MAX_RECIPIENTS: usize = 20;

/// Message-IDs kept from one bounce (the returned original's, the thread's, the text's).
pub const MAX_QUOTED_IDS: usize = 20;

/// Characters of the body text searched for diagnostics and quoted Message-IDs.
pub const MAX_TEXT_SCAN: usize = 64 * 1024;

/// Characters kept of one diagnostic (a remote server may write pages).
pub const MAX_DIAGNOSTIC_CHARS: usize = 400;

crate::names::named_enum! {
    /// What the bounce says happened to the mail.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum BounceKind {
        /// Not delivered, and the sending server gave up.
        Failed = "fallido",
        /// Not delivered yet: the sending server keeps trying (`Action: delayed`).
        Delayed = "demorado",
        /// The recipient's mailbox is full (an auto-reply or a report saying so).
        MailboxFull = "buzon_lleno",
    }
}

crate::names::named_enum! {
    /// How the bounce was written.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum BounceSource {
        /// An RFC 3464 delivery report.
        Dsn = "dsn",
        /// A mailer daemon's or postmaster's message in plain text (Exchange NDR, qmail).
        Ndr = "ndr",
        /// A person's auto-reply saying their mailbox is full.
        AutoReply = "respuesta_automatica",
    }
}

/// One recipient the report speaks of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BouncedRecipient {
    /// Lower-cased address (`Final-Recipient`, else `Original-Recipient`).
    pub address: String,
    /// `failed`, `delayed`, `delivered`, `relayed`, `expanded` (lower-cased); empty when the
    /// bounce is not a report.
    pub action: String,
    /// The enhanced status code (`5.1.1`), when given.
    pub status: Option<String>,
    /// The remote server's words (`550 5.1.1 … User unknown`), without the `smtp;` type.
    pub diagnostic: Option<String>,
}

/// A recognised bounce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    pub kind: BounceKind,
    pub source: BounceSource,
    /// The recipients that failed (or were delayed), in the report's order.
    pub recipients: Vec<BouncedRecipient>,
    /// Message-IDs (without angle brackets) the bounce quotes: the returned original's first,
    /// then the bounce's own In-Reply-To and References, then any found in its text.
    pub quoted_ids: Vec<String>,
}

impl Bounce {
    /// The first recipient the bounce names, if any.
    pub fn recipient(&self) -> Option<&str> {
        self.recipients.first().map(|r| r.address.as_str()).filter(|a| !a.is_empty())
    }

    /// The first status code given.
    pub fn status(&self) -> Option<&str> {
        self.recipients.iter().find_map(|r| r.status.as_deref())
    }

    /// The remote server's words for people; a status alone when that is all there is.
    pub fn diagnostic(&self) -> String {
        let words = self.recipients.iter().find_map(|r| r.diagnostic.as_deref());
        match (words, self.status()) {
            (Some(words), _) => words.to_string(),
            (None, Some(status)) => format!("estado {status} ({})", status_meaning(status)),
            (None, None) => "el servidor remoto no dio el motivo".to_string(),
        }
    }
}

/// What a bounce is, if `message` is one. `inbound` is the same message as [`super::parse`]
/// read it (sender, subject, text, thread).
pub fn recognise(message: &Message<'_>, inbound: &Inbound) -> Option<Bounce> {
    let mut quoted = returned_ids(message);
    quoted.extend(inbound.in_reply_to.iter().chain(&inbound.references).cloned());
    let text = scan_window(&inbound.body_text);
    quoted.extend(ids_in_text(text));
    let quoted = dedup_capped(quoted, MAX_QUOTED_IDS);
    if let Some(report) = delivery_report(message) {
        return from_report(report, quoted, text);
    }
    if is_daemon(&inbound.from) || has_bounce_subject(&inbound.subject) {
        return Some(non_standard(inbound, quoted, text));
    }
    let folded = fold(&format!("{}\n{}", inbound.subject, text));
    mailbox_full_line(&folded, text).map(|line| Bounce {
        kind: BounceKind::MailboxFull,
        source: BounceSource::AutoReply,
        recipients: vec![BouncedRecipient {
            address: inbound.from.clone(),
            action: String::new(),
            status: None,
            diagnostic: Some(line),
        }],
        quoted_ids: quoted,
    })
}

/// Actions of a report that say the mail was delivered (or passed on): no bounce.
const SUCCESS_ACTIONS: [&str; 3] = ["delivered", "relayed", "expanded"];

/// A report's recipients decide its kind: any failure is a failure, else any delay is a delay;
/// a report of success (delivered, relayed) is no bounce. A report whose actions cannot be read
/// (none, or garbage) is taken for a failure, its words read from the text.
fn from_report(report: Vec<BouncedRecipient>, quoted: Vec<String>, text: &str) -> Option<Bounce> {
    let with_action = |action: &str| -> Vec<BouncedRecipient> {
        report.iter().filter(|r| r.action.starts_with(action)).cloned().collect()
    };
    let (failed, delayed) = (with_action("failed"), with_action("delayed"));
    let succeeded = report.iter().any(|r| SUCCESS_ACTIONS.iter().any(|a| r.action.starts_with(a)));
    let (kind, mut recipients) = match (failed.is_empty(), delayed.is_empty()) {
        (false, _) => (BounceKind::Failed, failed),
        (true, false) => (BounceKind::Delayed, delayed),
        (true, true) if succeeded => return None,
        (true, true) => (BounceKind::Failed, report),
    };
    let from_text = recipient_from_text(text);
    match recipients.first_mut() {
        None => recipients.push(from_text),
        Some(first) if first.diagnostic.is_none() && first.status.is_none() => {
            first.status = from_text.status;
            first.diagnostic = from_text.diagnostic;
            if first.address.is_empty() {
                first.address = from_text.address;
            }
        }
        Some(_) => {}
    }
    let kind = if kind == BounceKind::Failed && says_mailbox_full(&recipients) {
        BounceKind::MailboxFull
    } else {
        kind
    };
    Some(Bounce { kind, source: BounceSource::Dsn, recipients, quoted_ids: quoted })
}

/// An NDR or qmail bounce: the recipient, status and words are read from its text.
fn non_standard(inbound: &Inbound, quoted: Vec<String>, text: &str) -> Bounce {
    let folded_subject = fold(&inbound.subject);
    let delayed = ["delayed", "delay)", "demorado", "retrasado", "warning: message"]
        .iter()
        .any(|w| folded_subject.contains(w));
    let mut recipient = recipient_from_text(text);
    if recipient.address.is_empty() {
        recipient.address = first_foreign_address(text, inbound);
    }
    let recipients = vec![recipient];
    let kind = if delayed {
        BounceKind::Delayed
    } else if says_mailbox_full(&recipients) {
        BounceKind::MailboxFull
    } else {
        BounceKind::Failed
    };
    Bounce { kind, source: BounceSource::Ndr, recipients, quoted_ids: quoted }
}

// ---------------------------------------------------------------------------------------------
// RFC 3464

/// The per-recipient fields of the message's `message/delivery-status` part, if it has one.
fn delivery_report(message: &Message<'_>) -> Option<Vec<BouncedRecipient>> {
    let part = message.parts.iter().find(|part| is_delivery_status(part))?;
    let bytes = part.contents();
    let bytes = &bytes[..bytes.len().min(MAX_REPORT_BYTES)];
    Some(parse_report(&String::from_utf8_lossy(bytes)))
}

fn is_delivery_status(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("message")
            && ct.subtype().is_some_and(|s| {
                s.eq_ignore_ascii_case("delivery-status")
                    || s.eq_ignore_ascii_case("global-delivery-status")
            })
    })
}

/// The recipient blocks of a delivery-status body: blocks are separated by empty lines, the
/// first is about the message (`Reporting-MTA`), each later one about one recipient.
pub fn parse_report(body: &str) -> Vec<BouncedRecipient> {
    let mut recipients = Vec::new();
    for block in blocks(body) {
        let mut recipient = BouncedRecipient::default();
        let mut original = None;
        for (name, value) in fields(block) {
            match name.to_ascii_lowercase().as_str() {
                "final-recipient" => recipient.address = address_of(&value),
                "original-recipient" => original = Some(address_of(&value)),
                "action" => recipient.action = value.trim().to_ascii_lowercase(),
                "status" => recipient.status = status_code(&value),
                "diagnostic-code" => recipient.diagnostic = Some(diagnostic_text(&value)),
                _ => {}
            }
        }
        if recipient.address.is_empty()
            && let Some(original) = original
        {
            recipient.address = original;
        }
        if !recipient.action.is_empty() || !recipient.address.is_empty() {
            recipients.push(recipient);
        }
        if recipients.len() == MAX_RECIPIENTS {
            break;
        }
    }
    recipients
}

/// Paragraphs of a report (CRLF or LF, blank lines may hold spaces).
fn blocks(body: &str) -> impl Iterator<Item = Vec<&str>> {
    let mut lines = body.lines().map(|l| l.trim_end_matches('\r')).peekable();
    std::iter::from_fn(move || {
        while lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        let mut block = Vec::new();
        while let Some(line) = lines.next_if(|l| !l.trim().is_empty()) {
            block.push(line);
        }
        (!block.is_empty()).then_some(block)
    })
}

/// `Name: value` fields of one block, folded lines joined.
fn fields(block: Vec<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

/// `rfc822; gerencia@tienda.example` → `gerencia@tienda.example`.
fn address_of(value: &str) -> String {
    let address = value.split_once(';').map_or(value, |(_, a)| a);
    clean(address.trim().trim_start_matches('<').trim_end_matches('>')).to_lowercase()
}

/// `smtp; 550 5.1.1 …` → `550 5.1.1 …`, cut to [`MAX_DIAGNOSTIC_CHARS`].
fn diagnostic_text(value: &str) -> String {
    let words = match value.split_once(';') {
        Some((kind, words)) if !kind.contains(' ') => words,
        _ => value,
    };
    cut(&clean(words.trim()), MAX_DIAGNOSTIC_CHARS)
}

/// The first enhanced status code (`5.1.1`, `4.2.2`) in a text.
fn status_code(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.')).find_map(|token| {
        let token = token.trim_matches('.');
        let parts: Vec<&str> = token.split('.').collect();
        let valid = parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts[1..].iter().all(|p| (1..=3).contains(&p.len()));
        valid.then(|| token.to_string())
    })
}

/// What the class and subject of a status code mean, for a report without words.
fn status_meaning(status: &str) -> &'static str {
    match status.get(..3).unwrap_or_default() {
        "5.1" | "4.1" => "dirección del destinatario",
        "5.2" | "4.2" => "buzón del destinatario",
        "5.3" | "4.3" => "sistema de correo del destinatario",
        "5.4" | "4.4" => "red o enrutamiento",
        "5.7" | "4.7" => "política de seguridad del destinatario",
        _ if status.starts_with('4') => "falla temporal",
        _ => "falla permanente",
    }
}

// ---------------------------------------------------------------------------------------------
// The returned original

/// The Message-IDs of the original the bounce returns (`message/rfc822` or
/// `text/rfc822-headers`).
fn returned_ids(message: &Message<'_>) -> Vec<String> {
    let mut ids = Vec::new();
    for part in &message.parts {
        match &part.body {
            PartType::Message(original) => ids.extend(original.message_id().map(clean_id)),
            PartType::Text(text) if is_returned_headers(part) => {
                let headers = format!("{}\r\n\r\n", text.trim_end());
                ids.extend(
                    MessageParser::new()
                        .parse_headers(headers.as_bytes())
                        .and_then(|h| h.message_id().map(clean_id)),
                );
            }
            _ => {}
        }
        if ids.len() >= MAX_QUOTED_IDS {
            break;
        }
    }
    ids
}

fn is_returned_headers(part: &MessagePart<'_>) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("text")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("rfc822-headers"))
    })
}

/// `<id>` tokens of `Message-ID:` lines in the text (qmail pastes the original below a line).
fn ids_in_text(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.trim().split_once(':')?;
            let name = name.trim();
            let wanted = name.eq_ignore_ascii_case("message-id")
                || name.eq_ignore_ascii_case("in-reply-to")
                || name.eq_ignore_ascii_case("references");
            wanted.then_some(value)
        })
        .flat_map(|value| value.split('<').skip(1).filter_map(|rest| rest.split_once('>')))
        .map(|(id, _)| clean_id(id))
        .filter(|id| id.contains('@') && !id.contains(char::is_whitespace))
        .take(MAX_QUOTED_IDS)
        .collect()
}

fn clean_id(id: &str) -> String {
    clean(id.trim().trim_start_matches('<').trim_end_matches('>').trim())
}

// ---------------------------------------------------------------------------------------------
// Text of bounces that are no report

/// Mail from the mailer daemon or a postmaster (Exchange Online: `postmaster@…`; its older
/// versions `MicrosoftExchange…@…`).
fn is_daemon(from: &str) -> bool {
    let local = from.split('@').next().unwrap_or_default().to_ascii_lowercase();
    from.is_empty()
        || local == "mailer-daemon"
        || local == "postmaster"
        || local.starts_with("microsoftexchange")
}

/// Subjects bounces start with ([`fold`]ed). Only at the very start: "RV: Undeliverable: …"
/// is a person forwarding one, to be read as such.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliverable:",
    "undelivered mail",
    "undeliverable mail",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "failure notice",
    "mail delivery failed",
    "mail delivery failure",
    "returned mail:",
    "mail system error",
    "no se puede entregar:",
    "no se pudo entregar",
    "mensaje no entregado",
    "correo no entregado",
    "notificacion de estado de entrega",
    "error en la entrega",
    "delayed mail",
    "warning: message",
];

fn has_bounce_subject(subject: &str) -> bool {
    let folded = fold(subject.trim());
    BOUNCE_SUBJECTS.iter().any(|start| folded.starts_with(start))
}

/// The words of a full mailbox ([`fold`]ed).
const MAILBOX_FULL: &[&str] = &[
    "buzon lleno",
    "buzon esta lleno",
    "buzon de correo esta lleno",
    "buzon del destinatario esta lleno",
    "cuota excedida",
    "excedio su cuota",
    "excede la cuota",
    "supera la cuota",
    "sin espacio en el buzon",
    "mailbox full",
    "mailbox is full",
    "mailbox quota",
    "over quota",
    "overquota",
    "quota exceeded",
    "exceeded storage",
    "insufficient system storage",
    "user is over",
];

/// The line of `text` that says the mailbox is full, when `folded` (subject and text) says so.
fn mailbox_full_line(folded: &str, text: &str) -> Option<String> {
    if !MAILBOX_FULL.iter().any(|w| folded.contains(w)) {
        return None;
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| MAILBOX_FULL.iter().any(|w| fold(line).contains(w)))
        .unwrap_or("el buzón del destinatario está lleno");
    Some(cut(&clean(line), MAX_DIAGNOSTIC_CHARS))
}

fn says_mailbox_full(recipients: &[BouncedRecipient]) -> bool {
    recipients.iter().any(|r| {
        r.status.as_deref().is_some_and(|s| s.ends_with(".2.2"))
            || r.diagnostic.as_deref().is_some_and(|d| {
                let d = fold(d);
                MAILBOX_FULL.iter().any(|w| d.contains(w))
            })
    })
}

/// What a plain-text bounce says of its recipient: the line with a status code (Exchange:
/// "Remote Server returned '550 5.1.10 …'"; qmail: "Remote host said: 550 …"; Postfix's own
/// text: "said: 550 5.1.1 …"), and the address on or above it.
fn recipient_from_text(text: &str) -> BouncedRecipient {
    let lines: Vec<&str> = text
        .lines()
        .take(400)
        .map(str::trim)
        .take_while(|line| !ORIGINAL_MARKERS.iter().any(|m| fold(line).starts_with(m)))
        .collect();
    let coded = lines
        .iter()
        .position(|line| status_code(line).is_some())
        .or_else(|| lines.iter().position(|line| line.split_whitespace().any(is_smtp_reply_code)));
    let Some(at) = coded else { return BouncedRecipient::default() };
    // Postfix folds its words over lines; take the paragraph from the coded line on.
    let words: Vec<&str> =
        lines[at..].iter().take_while(|l| !l.is_empty()).take(4).copied().collect();
    let address = lines[..=at].iter().rev().take(6).find_map(|l| address_in(l)).unwrap_or_default();
    BouncedRecipient {
        address,
        action: String::new(),
        status: status_code(&words.join(" ")),
        diagnostic: Some(cut(&clean(&words.join(" ")), MAX_DIAGNOSTIC_CHARS)),
    }
}

/// Where a plain-text bounce starts pasting the original ([`fold`]ed): its headers are not the
/// bounce's words.
const ORIGINAL_MARKERS: &[&str] = &[
    "--- below this line is a copy",
    "------ this is a copy of the message",
    "original message headers",
    "encabezados del mensaje original",
    "----- original message",
];

/// `550`, `452`: an SMTP reply code of a failure.
fn is_smtp_reply_code(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_digit());
    let digits: Vec<u32> = word.chars().filter_map(|c| c.to_digit(10)).collect();
    word.len() == 3 && digits.len() == 3 && matches!(digits[..], [4 | 5, 0..=5, _])
}

/// The first `local@domain` of a line.
fn address_in(line: &str) -> Option<String> {
    line.split(|c: char| c.is_whitespace() || "<>()[]\"',;:".contains(c))
        .map(|w| w.trim_end_matches('.'))
        .find(|w| is_address(w))
        .map(str::to_lowercase)
}

/// The first address in the text that is neither the bounce's sender nor its recipients (the
/// buzón): Exchange writes "Your message to x@y couldn't be delivered".
fn first_foreign_address(text: &str, inbound: &Inbound) -> String {
    text.lines()
        .take(400)
        .filter_map(address_in)
        .find(|a| *a != inbound.from && !inbound.recipients.contains(a))
        .unwrap_or_default()
}

fn is_address(word: &str) -> bool {
    word.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.contains('@') && word.len() <= 254
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/// At most [`MAX_TEXT_SCAN`] characters of the text, cut at a character boundary.
fn scan_window(text: &str) -> &str {
    match text.char_indices().nth(MAX_TEXT_SCAN) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn dedup_capped(ids: Vec<String>, cap: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids.into_iter().filter(|id| !id.is_empty()) {
        if !out.contains(&id) {
            out.push(id);
        }
        if out.len() == cap {
            break;
        }
    }
    out
}

/// Control characters (NUL among them: PostgreSQL refuses it) become spaces, runs of spaces one.
fn clean(text: &str) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_block_per_recipient_with_folded_diagnostics() {
        let body = "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; A@B.example\r\n\
                    Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <a@b.example>:\r\n \
                    User unknown\r\n\r\nOriginal-Recipient: rfc822;c@d.example\r\nAction: delayed\r\n\
                    Status: 4.4.1\r\n";
        let report = parse_report(body);
        assert_eq!(report.len(), 2);
        assert_eq!(report[0].address, "a@b.example");
        assert_eq!(report[0].action, "failed");
        assert_eq!(report[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(report[0].diagnostic.as_deref(), Some("550 5.1.1 <a@b.example>: User unknown"));
        assert_eq!(report[1].address, "c@d.example", "Original-Recipient when Final is missing");
        assert_eq!(report[1].action, "delayed");
    }

    #[test]
    fn status_codes_are_read_only_when_well_formed() {
        assert_eq!(status_code("5.1.1").as_deref(), Some("5.1.1"));
        assert_eq!(status_code("said: 550 5.2.2 quota").as_deref(), Some("5.2.2"));
        assert_eq!(status_code("version 1.2.3 and 6.1.1"), None);
        assert_eq!(status_code("192.168.1.1"), None);
    }

    #[test]
    fn hostile_reports_stay_bounded() {
        let many = "Final-Recipient: rfc822; x@y.example\nAction: failed\n\n".repeat(5_000);
        assert_eq!(parse_report(&many).len(), MAX_RECIPIENTS);
        let long = format!("Action: failed\nDiagnostic-Code: smtp; {}", "x".repeat(100_000));
        let diagnostic = parse_report(&long)[0].diagnostic.clone().expect("diagnostic");
        assert!(diagnostic.chars().count() <= MAX_DIAGNOSTIC_CHARS + 1);
        assert!(parse_report("").is_empty());
        assert!(parse_report("\0\0:\n\n::;;\n \t\n").is_empty());
        assert_eq!(address_of("rfc822;\0a@b.example"), "a@b.example");
    }

    #[test]
    fn bounce_subjects_only_at_the_start() {
        assert!(has_bounce_subject("Undeliverable: [FE-2026-000001] Factura"));
        assert!(has_bounce_subject("No se puede entregar: Factura"));
        assert!(!has_bounce_subject("RV: Undeliverable: Factura"));
        assert!(!has_bounce_subject("Factura no entregada al cliente"));
    }
}
