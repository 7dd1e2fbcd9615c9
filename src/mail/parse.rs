//! MIME → [`Inbound`] with mail-parser.
//!
//! Parsing is total: only bytes that are not an e-mail at all become [`Unreadable`] (no header
//! block, binary garbage in the header area, or nobody to answer). Everything else becomes an
//! [`Inbound`]; damaged attachments and a broken MIME structure are recorded as
//! [`AttachmentProblem`]s so the reply can ask for them again, and whatever text is readable is
//! still used.
//!
//! The walk, in order: envelope headers → structure checks (a declared boundary that never
//! appears is recovered by re-parsing with the boundary the parts really use) → body text (HTML
//! reduced to text when there is no plain part) → attachments, where forwarded
//! `message/rfc822` parts (and `.eml` files attached as plain bytes) contribute their text and,
//! under `reenviado/`, their files, ZIPs are replaced by their entries
//! ([`super::attachments`]) and Outlook's `winmail.dat` by the files inside it ([`super::tnef`]).
//!
//! Old clients still send 8-bit Latin-1 without saying so: a text part with no `charset`, or a
//! raw 8-bit Subject or From name. mail-parser reads those as lossy UTF-8 ("habilitaci�n"), so
//! such text is read again with the bytes that are not UTF-8 taken as Windows-1252
//! ([`utf8_or_cp1252`]). A declared charset and an RFC 2047 encoded word are always honoured.

use std::borrow::Cow;

use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use super::attachments::{self, ZipBudget};
use super::prescan::{self, Excess, Structure};
use super::tnef;
use super::{AttachmentLimits, AttachmentProblem, AutoHeaders, FileEntry, Inbound, quote};

/// Forwards nested deeper than this are not walked: mail-parser nests un-encoded
/// `message/rfc822` parts without limit, and this walk is recursive.
pub const MAX_FORWARD_DEPTH: usize = 8;

/// Bytes at the start of a message inspected for binary garbage and a header line.
const HEADER_SCAN_BYTES: usize = 64 * 1024;

/// Source of the problem recorded when the MIME structure itself is damaged.
pub const STRUCTURE_SOURCE: &str = "estructura MIME";

/// Source of the problem recorded when the text body itself could not be decoded.
pub const BODY_SOURCE: &str = "texto del mensaje";

/// Path prefix of the files of a forwarded message: `reenviado/factura.xml`.
pub const FORWARD_PREFIX: &str = "reenviado/";

/// File extensions taken from a message whatever their declared type (`application/octet-stream`
/// is what many clients declare for an XML or a ZIP).
const WANTED_EXTENSIONS: [&str; 11] =
    ["xml", "zip", "pdf", "png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"];

/// What `String::from_utf8_lossy` puts where bytes were not UTF-8: the mark of text that
/// mail-parser could not decode.
const REPLACEMENT: char = '\u{fffd}';

/// The bytes are not an e-mail at all (no header block, binary garbage, no sender to answer).
/// Such a message is quarantined for an operator, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreadable {
    /// Spanish, for the operator.
    pub reason: String,
}

/// Parses one raw message into everything mesa-fe needs from it. Never panics, and linear in
/// the size of the message: a structure over the limits of [`prescan`] is never handed to
/// mail-parser as it is, but cut down to what can be read safely ([`safe_copy`]), with a
/// problem saying what was left out.
pub fn parse(raw: &[u8], limits: &AttachmentLimits) -> Result<Inbound, Unreadable> {
    check_looks_like_mail(raw)?;
    let structure = prescan::scan(raw);
    if structure.within_limits() {
        return parse_scanned(raw, limits).map(Inbound::without_nul);
    }
    let (safe, problem) = safe_copy(raw, &structure);
    let mut inbound = parse_scanned(&safe, limits)?;
    inbound.problems.insert(0, problem);
    Ok(inbound.without_nul())
}

/// Parses bytes whose structure [`prescan`] found within its limits.
fn parse_scanned(raw: &[u8], limits: &AttachmentLimits) -> Result<Inbound, Unreadable> {
    let message = MessageParser::default().parse(raw).ok_or_else(|| unreadable(NO_HEADERS))?;
    let inbound = read_message(&message, limits);
    dismantle(message);
    inbound
}

fn read_message(message: &Message<'_>, limits: &AttachmentLimits) -> Result<Inbound, Unreadable> {
    let (from, from_name) = sender(message).ok_or_else(|| unreadable(NO_SENDER))?;
    let mut inbound = envelope(message, from, from_name);
    let content = Content::read(message, limits);
    inbound.body_text = content.body_text();
    inbound.own_words = content.own_words();
    inbound.files = content.files;
    inbound.problems = content.problems;
    inbound.bounce = super::bounce::recognise(message, &inbound);
    Ok(inbound)
}

/// Drops a parsed tree one forward at a time: mail-parser's own drop recurses once per nested
/// forward. (The pre-scan already bounds that depth; this keeps a miscount from being a crash.)
fn dismantle(message: Message<'_>) {
    let mut pending = vec![message];
    while let Some(mut message) = pending.pop() {
        for part in message.parts.drain(..) {
            if let PartType::Message(nested) = part.body {
                pending.push(nested);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Is it an e-mail at all?

const EMPTY: &str = "El mensaje está vacío: no hay nada que leer.";
const BINARY: &str = "No es un correo electrónico: el bloque de cabeceras contiene datos \
                      binarios (bytes nulos o de control).";
const NO_HEADER_BLOCK: &str = "No es un correo electrónico: la primera línea no es una \
                               cabecera («Nombre: valor»), así que no hay bloque de cabeceras.";
const NO_HEADERS: &str = "No es un correo electrónico: no se encontró ninguna cabecera.";
const NO_SENDER: &str = "El correo no tiene dirección de remitente: From, Sender y Return-Path \
                         faltan o no traen una dirección, así que no hay a quién responder.";

fn unreadable(reason: &str) -> Unreadable {
    Unreadable { reason: reason.to_string() }
}

/// Refuses what mail-parser would still turn into a "message": it skips lines that are not
/// headers and accepts any bytes, so a PNG or a plain note would come back as `Some`.
fn check_looks_like_mail(raw: &[u8]) -> Result<(), Unreadable> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(unreadable(EMPTY));
    }
    let head = header_area(raw);
    if looks_binary(head) {
        return Err(unreadable(BINARY));
    }
    if !first_line_is_header(head) {
        return Err(unreadable(NO_HEADER_BLOCK));
    }
    Ok(())
}

/// The header block (up to the first empty line), at most [`HEADER_SCAN_BYTES`].
fn header_area(raw: &[u8]) -> &[u8] {
    let scan = &raw[..raw.len().min(HEADER_SCAN_BYTES)];
    let end = (1..scan.len())
        .find(|&i| scan[i - 1] == b'\n' && (scan[i] == b'\n' || scan[i..].starts_with(b"\r\n")));
    &scan[..end.unwrap_or(scan.len())]
}

/// NUL bytes, more than 1 % control characters, or more than 30 % non-ASCII bytes. UTF-8
/// headers (RFC 6532) and stray Latin-1 names stay well under that; random bytes do not.
fn looks_binary(head: &[u8]) -> bool {
    let control = |b: &&u8| (**b < 0x20 && !matches!(**b, b'\t' | b'\r' | b'\n')) || **b == 0x7f;
    let controls = head.iter().filter(control).count();
    let high = head.iter().filter(|b| **b >= 0x80).count();
    head.contains(&0) || controls * 100 > head.len() || high * 100 > head.len() * 30
}

/// The first line is `Name: value` with an RFC 5322 field name (printable ASCII, no colon).
fn first_line_is_header(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return false;
    };
    let name = line[..colon].trim_ascii_end();
    !name.is_empty() && name.iter().all(|b| (33..=126).contains(b))
}

// ---------------------------------------------------------------------------------------------
// Envelope

/// From, else Sender, else Return-Path: the first that holds a usable address, lower-cased.
fn sender(message: &Message<'_>) -> Option<(String, Option<String>)> {
    named_sender(message).or_else(|| {
        ids(message.return_path())
            .into_iter()
            .find(|a| is_address(a))
            .map(|a| (a.to_lowercase(), None))
    })
}

/// From, else Sender: the first usable address with its display name, a raw 8-bit name read
/// as Windows-1252.
fn named_sender(message: &Message<'_>) -> Option<(String, Option<String>)> {
    let (from, name) =
        [message.from(), message.sender()].into_iter().flatten().find_map(first_usable)?;
    let name = match name {
        Some(name) if name.contains(REPLACEMENT) => {
            Some(eight_bit_name(message, &from).unwrap_or(name))
        }
        name => name,
    };
    Some((from, name))
}

/// The display name of `from` in a From or Sender header written in raw 8-bit bytes.
fn eight_bit_name(message: &Message<'_>, from: &str) -> Option<String> {
    ["From", "Sender"].into_iter().find_map(|name| {
        let header = eight_bit_header(message, name)?;
        let reread = MessageParser::default().parse(header.as_bytes())?;
        let (address, name) =
            [reread.from(), reread.sender()].into_iter().flatten().find_map(first_usable)?;
        (address == from).then_some(name).flatten()
    })
}

/// The decoded subject, trimmed; a raw 8-bit subject read as Windows-1252.
fn subject(message: &Message<'_>) -> String {
    let subject = message.subject().unwrap_or_default();
    let repaired = subject
        .contains(REPLACEMENT)
        .then(|| eight_bit_header(message, "Subject"))
        .flatten()
        .and_then(|header| {
            let reread = MessageParser::default().parse(header.as_bytes())?;
            reread.subject().map(str::to_string)
        });
    repaired.as_deref().unwrap_or(subject).trim().to_string()
}

/// The top-level header `name` (the last one, as mail-parser reads it) rewritten as a one-header
/// message for mail-parser to parse again, when its raw bytes are not UTF-8 and carry no RFC 2047
/// encoded word (whose own charset governs): the bytes that are not UTF-8 become Windows-1252.
fn eight_bit_header(message: &Message<'_>, name: &str) -> Option<String> {
    let header =
        message.root_part().headers().iter().rev().find(|h| h.name().eq_ignore_ascii_case(name))?;
    let value = raw_slice(message, header.offset_start(), header.offset_end())?;
    if std::str::from_utf8(value).is_ok() || value.windows(2).any(|w| w == b"=?") {
        return None;
    }
    Some(format!("{name}: {}\r\n\r\n", utf8_or_cp1252(value).trim()))
}

/// The first address of a list (or of its groups) that looks like `local@domain`, with its name.
fn first_usable(address: &Address<'_>) -> Option<(String, Option<String>)> {
    address.iter().find_map(|addr| {
        let email = addr.address()?.trim();
        let name = addr.name().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
        is_address(email).then(|| (email.to_lowercase(), name))
    })
}

/// A bare local part ("MAILER-DAEMON") cannot be answered, so a domain is required.
fn is_address(text: &str) -> bool {
    text.rsplit_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !text.contains(char::is_whitespace)
    })
}

fn envelope(message: &Message<'_>, from: String, from_name: Option<String>) -> Inbound {
    let reply_to = message.reply_to().and_then(first_usable).map(|(a, _)| a);
    Inbound {
        message_id: message.message_id().map(clean_id).filter(|id| !id.is_empty()),
        reply_to: reply_to.filter(|a| *a != from),
        recipients: recipients(message),
        subject: subject(message),
        date: message
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0)),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        thread_index: thread_index(message),
        auto: auto_headers(message),
        authentication_results: raw_values(message, "Authentication-Results"),
        leading_headers: leading_fields(message),
        from,
        from_name,
        ..Inbound::default()
    }
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string()
}

/// Longest `Thread-Index` kept (Outlook's grow by 5 bytes a reply; 700 base64 characters is
/// over a hundred replies): a longer one is not Outlook's and is not extended.
const MAX_THREAD_INDEX_CHARS: usize = 700;

/// The `Thread-Index` as sent, without folding whitespace; only base64 characters are accepted.
fn thread_index(message: &Message<'_>) -> Option<String> {
    let raw = raw_values(message, "Thread-Index").into_iter().next()?;
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let base64 = compact.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
    (base64 && !compact.is_empty() && compact.len() <= MAX_THREAD_INDEX_CHARS).then_some(compact)
}

/// Message-IDs of an id header, without brackets, empty ones dropped.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<&str> = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    list.into_iter().map(clean_id).filter(|id| !id.is_empty()).collect()
}

/// Lower-cased addresses of every `To` and `Cc` header, without repeats, in order.
fn recipients(message: &Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let headers =
        message.header_values(HeaderName::To).chain(message.header_values(HeaderName::Cc));
    for address in headers.filter_map(HeaderValue::as_address) {
        for addr in address.iter().filter_map(|a| a.address()) {
            let addr = addr.trim().to_lowercase();
            if !addr.is_empty() && seen.insert(addr.clone()) {
                out.push(addr);
            }
        }
    }
    out
}

fn auto_headers(message: &Message<'_>) -> AutoHeaders {
    let first = |name: &str| raw_values(message, name).into_iter().next();
    let has = |name: &str| !raw_values(message, name).is_empty();
    AutoHeaders {
        // RFC 3834 allows parameters ("auto-replied; owner-email=…"): the keyword is what counts.
        auto_submitted: first("Auto-Submitted")
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_lowercase()),
        precedence: first("Precedence").map(|v| v.trim().to_lowercase()),
        x_autoreply: has("X-Autoreply"),
        x_autorespond: has("X-Autorespond"),
        x_auto_response_suppress: has("X-Auto-Response-Suppress"),
        list_id: has("List-Id"),
        list_unsubscribe: has("List-Unsubscribe"),
        multipart_report: message.root_part().is_content_type("multipart", "report"),
        null_return_path: raw_values(message, "Return-Path")
            .iter()
            .any(|v| v.chars().filter(|c| !c.is_whitespace()).eq("<>".chars())),
    }
}

/// Every value of a top-level header as written (unfolded, trimmed), in order.
/// Header fields kept in order for [`Inbound::leading_headers`]: the MTAs' trace and results sit
/// at the top, well within this many.
const LEADING_FIELDS: usize = 64;

/// The first header fields, in order: (name, unfolded raw value).
fn leading_fields(message: &Message<'_>) -> Vec<(String, String)> {
    message
        .root_part()
        .headers()
        .iter()
        .take(LEADING_FIELDS)
        .map(|h| {
            let value = raw_slice(message, h.offset_start(), h.offset_end())
                .map(|bytes| {
                    String::from_utf8_lossy(bytes).replace(['\r', '\n'], "").trim().to_string()
                })
                .unwrap_or_default();
            (h.name().to_string(), value)
        })
        .collect()
}

fn raw_values(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .root_part()
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| raw_slice(message, h.offset_start(), h.offset_end()))
        .map(|bytes| String::from_utf8_lossy(bytes).replace(['\r', '\n'], "").trim().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Over the limits of the pre-scan

/// Source of the problem recorded when the top-level header block was cut down.
pub const HEADERS_SOURCE: &str = "encabezados del correo";

/// Top-level fields kept when a message is cut down: what the envelope, the threading, the
/// automatic-mail checks and the agent-command checks read, plus what says how the body is
/// encoded.
const KEPT_FIELDS: [&str; 19] = [
    "from",
    "sender",
    "return-path",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "list-id",
    "authentication-results",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// Fields that describe the body: replaced by the first text part's when only that is kept.
const BODY_FIELDS: [&str; 3] = ["mime-version", "content-type", "content-transfer-encoding"];

/// Most fields kept, and most bytes of one kept field: real values are far shorter, and a
/// hostile one (a From with a million addresses) only needs its start to be read.
const MAX_KEPT_FIELDS: usize = 200;
const MAX_KEPT_FIELD_BYTES: usize = 16 * 1024;

/// A small, flat copy of a message over a limit, and the problem that tells the requester what
/// was left out. Only the top-level header block over a limit: that block cut down to the kept
/// fields, the rest of the message as it is. Anything else: the kept fields and the first text
/// part, with no attachment.
fn safe_copy(raw: &[u8], structure: &Structure) -> (Vec<u8>, AttachmentProblem) {
    let top = &raw[structure.top.clone()];
    if let (None, Some(excess)) = (structure.excess, structure.top_excess) {
        let mut copy = kept_fields(top, excess != Excess::Addresses, true);
        copy.extend_from_slice(b"\r\n");
        copy.extend_from_slice(&raw[structure.top.end..]);
        if prescan::scan(&copy).within_limits() {
            return (copy, problem(HEADERS_SOURCE, top_block_text(excess)));
        }
    }
    let excess = structure.excess.or(structure.top_excess).unwrap_or(Excess::Parts);
    let keep_addresses = structure.top_excess != Some(Excess::Addresses);
    let mut copy = kept_fields(top, keep_addresses, false);
    match &structure.first_text {
        Some(text) => {
            copy.extend_from_slice(&body_fields(&raw[text.headers.clone()]));
            copy.extend_from_slice(&raw[text.body.clone()]);
        }
        None => copy.extend_from_slice(b"\r\n"),
    }
    (copy, problem(STRUCTURE_SOURCE, structure_text(excess)))
}

fn problem(source: &str, problem: String) -> AttachmentProblem {
    AttachmentProblem { source: source.to_string(), problem }
}

/// The fields of `block` in [`KEPT_FIELDS`] (To and Cc too when `addresses`; the body's own
/// fields only when `body`), each cut to [`MAX_KEPT_FIELD_BYTES`].
fn kept_fields(block: &[u8], addresses: bool, body: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut kept = 0;
    for field in fields(block) {
        let name = field_name(field);
        let wanted = KEPT_FIELDS.iter().any(|k| name.eq_ignore_ascii_case(k.as_bytes()))
            || (addresses
                && (name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"cc")));
        let describes_body = BODY_FIELDS.iter().any(|k| name.eq_ignore_ascii_case(k.as_bytes()));
        if !wanted || (describes_body && !body) || kept == MAX_KEPT_FIELDS {
            continue;
        }
        kept += 1;
        out.extend_from_slice(truncate_field(field).trim_ascii_end());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The Content-Type and Content-Transfer-Encoding of a part's header block, and its empty line.
fn body_fields(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields(block) {
        let name = field_name(field);
        if BODY_FIELDS[1..].iter().any(|k| name.eq_ignore_ascii_case(k.as_bytes())) {
            out.extend_from_slice(truncate_field(field).trim_ascii_end());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The fields of a header block, each with its folded lines.
fn fields(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = block;
    std::iter::from_fn(move || {
        let rest_trimmed = rest.trim_ascii_start();
        if rest_trimmed.is_empty() {
            return None;
        }
        let mut end = 0;
        for line in rest.split_inclusive(|b| *b == b'\n') {
            let continuation = end > 0 && matches!(line.first(), Some(b' ' | b'\t'));
            if end > 0 && !continuation {
                break;
            }
            end += line.len();
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(field)
    })
}

/// The last field `name` of a header block (the one mail-parser reads), with its folded lines,
/// cut to [`MAX_KEPT_FIELD_BYTES`]: one field read without parsing the whole block.
pub fn last_field<'b>(block: &'b [u8], name: &str) -> Option<&'b [u8]> {
    fields(block)
        .filter(|field| field_name(field).eq_ignore_ascii_case(name.as_bytes()))
        .last()
        .map(truncate_field)
}

fn field_name(field: &[u8]) -> &[u8] {
    field.split(|b| *b == b':').next().unwrap_or_default().trim_ascii()
}

/// At most [`MAX_KEPT_FIELD_BYTES`], cut at a line break when there is one.
fn truncate_field(field: &[u8]) -> &[u8] {
    if field.len() <= MAX_KEPT_FIELD_BYTES {
        return field;
    }
    let head = &field[..MAX_KEPT_FIELD_BYTES];
    match head.iter().rposition(|b| *b == b'\n') {
        Some(at) if at > 0 => &head[..at],
        _ => head,
    }
}

fn top_block_text(excess: Excess) -> String {
    match excess {
        Excess::Addresses => format!(
            "El correo trae más de {} direcciones en sus encabezados (Para, CC), más de las que \
             la mesa de ayuda admite; no se leyeron sus destinatarios, y el resto del correo se \
             leyó normalmente. Por favor escríbanos con solo los destinatarios necesarios.",
            prescan::MAX_ADDRESSES
        ),
        _ => format!(
            "El correo trae más de {} campos de encabezado, más de los que la mesa de ayuda \
             admite; solo se leyeron los necesarios (remitente, asunto, fecha e identificadores) \
             y el resto del correo se leyó normalmente. Si algo falta en nuestra respuesta, \
             envíe el correo de nuevo desde su programa de correo habitual.",
            prescan::MAX_HEADER_FIELDS
        ),
    }
}

fn structure_text(excess: Excess) -> String {
    const READ: &str = "por seguridad no se abrieron sus adjuntos: solo se leyeron sus \
                        encabezados y su primer texto.";
    match excess {
        Excess::Depth => format!(
            "El correo trae partes o mensajes reenviados unos dentro de otros más allá del límite \
             de {} niveles; {READ} Por favor envíe el XML (o el ZIP) adjunto directamente en un \
             correo nuevo, no dentro de reenvíos de reenvíos.",
            prescan::MAX_NESTING_DEPTH
        ),
        Excess::Parts => format!(
            "El correo tiene más de {} partes MIME (adjuntos y secciones), el límite de la mesa \
             de ayuda; {READ} Por favor envíe solo los documentos necesarios (por ejemplo el XML \
             o el ZIP) en un correo nuevo, o repártalos en varios correos.",
            prescan::MAX_PARTS
        ),
        Excess::HeaderFields => format!(
            "Una parte del correo trae más de {} campos de encabezado (o el correo entero más de \
             {}), más de lo que la mesa de ayuda admite; {READ} Por favor envíe los documentos \
             adjuntos directamente en un correo nuevo.",
            prescan::MAX_HEADER_FIELDS,
            prescan::MAX_TOTAL_HEADER_FIELDS
        ),
        Excess::Addresses => format!(
            "Un mensaje reenviado dentro del correo trae más de {} direcciones en sus \
             encabezados, más de las que la mesa de ayuda admite; {READ} Por favor envíe los \
             documentos adjuntos directamente en un correo nuevo.",
            prescan::MAX_ADDRESSES
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Content: body, forwards, files

const BOUNDARY_MISSING: &str = "El correo llegó con la estructura MIME dañada: el separador de \
                                partes que declara no aparece en el mensaje. Se leyó lo que fue \
                                posible, pero pueden faltar el texto o los adjuntos. Por favor \
                                envíe el correo de nuevo.";
const UNCLOSED: &str = "El correo llegó incompleto: sus partes MIME no terminan como deben (falta \
                        el separador de cierre), así que el último adjunto puede estar cortado. \
                        Por favor envíe el correo de nuevo.";
const BODY_DAMAGED: &str = "El texto del correo llegó dañado (su codificación está incompleta) y \
                            puede leerse incompleto. Por favor envíe el correo de nuevo.";
const ATTACHMENT_DAMAGED: &str = "El adjunto llegó dañado: su codificación dentro del correo está \
                                  incompleta o corrupta y no se pudo leer. Por favor adjúntelo \
                                  de nuevo.";
const ATTACHMENT_EMPTY: &str = "El adjunto llegó vacío (0 bytes). Por favor adjúntelo de nuevo.";
const FORWARD_DAMAGED: &str = "El mensaje reenviado como adjunto está dañado y no se pudo leer. \
                               Por favor reenvíelo o adjunte directamente sus archivos.";
const OUTLOOK_MSG: &str = "El mensaje de Outlook adjunto (.msg) no se puede leer en la mesa de \
                           ayuda. Por favor reenvíelo como adjunto en formato .eml o adjunte \
                           directamente sus archivos (por ejemplo el XML).";

fn too_many_forwards() -> String {
    format!(
        "El correo trae mensajes reenviados unos dentro de otros más allá del límite de \
         {MAX_FORWARD_DEPTH} niveles; no se leyeron los más internos. Por favor reenvíe \
         directamente el mensaje original."
    )
}

/// A message forwarded as an attachment: its text, with and without a header block.
struct Forward {
    /// "---------- Mensaje reenviado ----------", De/Fecha/Asunto, then the body.
    full: String,
    body: String,
}

/// What the walk over the MIME tree collects.
struct Content<'l> {
    limits: &'l AttachmentLimits,
    budget: ZipBudget,
    body: String,
    forwards: Vec<Forward>,
    files: Vec<FileEntry>,
    problems: Vec<AttachmentProblem>,
    structure_noted: bool,
}

impl<'l> Content<'l> {
    /// Reads the body and the attachments, recovering a missing boundary first.
    fn read(message: &Message<'_>, limits: &'l AttachmentLimits) -> Self {
        let mut content = Content {
            limits,
            budget: ZipBudget::new(limits),
            body: String::new(),
            forwards: Vec::new(),
            files: Vec::new(),
            problems: Vec::new(),
            structure_noted: false,
        };
        let rebuilt = missing_boundary(message).then(|| rebuild_with_found_boundary(message));
        // The rebuilt bytes have a structure of their own, unseen by the pre-scan of the message.
        let recovered = rebuilt
            .as_ref()
            .and_then(|raw| raw.as_deref())
            .filter(|raw| prescan::scan(raw).within_limits())
            .and_then(|raw| MessageParser::default().parse(raw));
        if rebuilt.is_some() {
            content.structure_problem(BOUNDARY_MISSING);
        }
        let tree = recovered.as_ref().unwrap_or(message);
        content.body = content.body_of(tree);
        content.walk(tree, "", 0);
        if let Some(recovered) = recovered {
            dismantle(recovered);
        }
        content
    }

    /// The whole readable text: the body, then each forwarded message.
    fn body_text(&self) -> String {
        let mut text = self.body.clone();
        for forward in &self.forwards {
            push_paragraph(&mut text, &forward.full);
        }
        text
    }

    /// The own words of the body; when the body has none (a bare forward), the forwarded
    /// message's own words, since that forward *is* the request.
    fn own_words(&self) -> String {
        let own = quote::own_words(&self.body);
        match self.forwards.first() {
            Some(forward) if own.is_empty() => quote::own_words(&forward.body),
            _ => own,
        }
    }

    /// The text bodies of one message joined; a broken multipart with nothing parsed inside
    /// still yields its raw text, which is better than nothing.
    fn body_of(&mut self, message: &Message<'_>) -> String {
        let mut text = String::new();
        for part in message.text_body.iter().filter_map(|id| message.part(*id)) {
            let piece = match &part.body {
                PartType::Text(plain) => undeclared_8bit(message, part, plain).into_owned(),
                PartType::Html(html) => html_to_text(&undeclared_8bit(message, part, html)),
                _ => continue,
            };
            if part.is_encoding_problem {
                self.problem(BODY_SOURCE, BODY_DAMAGED.to_string());
            }
            push_paragraph(&mut text, &tidy(&piece));
        }
        if text.is_empty()
            && let PartType::Text(raw) = &message.root_part().body
            && missing_boundary(message)
        {
            text = tidy(&undeclared_8bit(message, message.root_part(), raw));
        }
        text
    }

    /// Takes every attachment of `message`; `prefix` is `reenviado/` per forward level.
    fn walk(&mut self, message: &Message<'_>, prefix: &str, depth: usize) {
        if has_unclosed_multipart(message) {
            self.structure_problem(UNCLOSED);
        }
        for (index, id) in message.attachments.iter().enumerate() {
            if let Some(part) = message.part(*id) {
                self.attachment(message, part, index + 1, prefix, depth);
            }
        }
    }

    fn attachment(
        &mut self,
        message: &Message<'_>,
        part: &MessagePart<'_>,
        number: usize,
        prefix: &str,
        depth: usize,
    ) {
        let name = file_name(part);
        let label = name.clone().unwrap_or_else(|| format!("parte-{number}"));
        let source = format!("{prefix}{label}");
        let content_type = declared_type(part);
        match &part.body {
            PartType::Message(nested) => self.forward(nested, &source, prefix, depth),
            // mail-parser hands back a forward it could not parse as raw bytes or text.
            _ if is_forward_type(content_type.as_deref()) && part.is_encoding_problem => {
                self.problem(&source, FORWARD_DAMAGED.to_string());
            }
            _ if has_extension(name.as_deref(), "eml") => {
                self.eml_file(message, part, &source, prefix, depth);
            }
            _ if has_extension(name.as_deref(), "msg") => {
                self.problem(&source, OUTLOOK_MSG.to_string());
            }
            _ if is_wanted(content_type.as_deref(), name.as_deref()) => {
                let content_type = content_type
                    .unwrap_or_else(|| attachments::guess_content_type(&label).to_string());
                self.file(message, part, source, content_type);
            }
            _ => {}
        }
    }

    /// A forwarded message: its text joins the body text, its files come under `reenviado/`.
    fn forward(&mut self, nested: &Message<'_>, source: &str, prefix: &str, depth: usize) {
        if depth >= MAX_FORWARD_DEPTH {
            return self.problem(source, too_many_forwards());
        }
        let body = self.body_of(nested);
        self.forwards.push(Forward { full: forward_text(nested, &body), body });
        self.walk(nested, &format!("{prefix}{FORWARD_PREFIX}"), depth + 1);
    }

    /// A saved message (`.eml`) attached as plain bytes, as some clients forward: read as the
    /// forward it is, within the same structure limits as the message itself.
    fn eml_file(
        &mut self,
        message: &Message<'_>,
        part: &MessagePart<'_>,
        source: &str,
        prefix: &str,
        depth: usize,
    ) {
        let bytes = original_bytes(message, part);
        let parsed = (!part.is_encoding_problem
            && check_looks_like_mail(&bytes).is_ok()
            && prescan::scan(&bytes).within_limits())
        .then(|| MessageParser::default().parse(&bytes))
        .flatten();
        match parsed {
            Some(nested) => {
                self.forward(&nested, source, prefix, depth);
                dismantle(nested);
            }
            None => self.problem(source, FORWARD_DAMAGED.to_string()),
        }
    }

    /// One wanted file: damaged or empty ones become problems, ZIPs become their entries.
    fn file(
        &mut self,
        message: &Message<'_>,
        part: &MessagePart<'_>,
        source: String,
        ctype: String,
    ) {
        if part.is_encoding_problem {
            return self.problem(&source, ATTACHMENT_DAMAGED.to_string());
        }
        let bytes = original_bytes(message, part);
        if bytes.is_empty() {
            return self.problem(&source, ATTACHMENT_EMPTY.to_string());
        }
        if attachments::is_zip(&ctype, &source) {
            self.zip(&source, &bytes);
        } else if tnef::is_tnef(&ctype, &source) {
            self.tnef(&source, &bytes);
        } else {
            let inline = part
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"))
                || (part.content_id().is_some() && part.content_disposition().is_none());
            self.files.push(FileEntry { source, content_type: ctype, bytes, inline });
        }
    }

    fn zip(&mut self, source: &str, bytes: &[u8]) {
        let (files, problems) =
            attachments::unpack_zip(source, bytes, self.limits, &mut self.budget);
        self.files.extend(files);
        self.problems.extend(problems);
    }

    /// Outlook's `winmail.dat`: replaced by the wanted files inside it, ZIPs unpacked, under the
    /// same budget as every other container of the message.
    fn tnef(&mut self, source: &str, bytes: &[u8]) {
        let (files, problems) = tnef::unpack_tnef(source, bytes, self.limits, &mut self.budget);
        self.problems.extend(problems);
        for file in files {
            if attachments::is_zip(&file.content_type, &file.source) {
                self.zip(&file.source, &file.bytes);
            } else if is_wanted(Some(&file.content_type), Some(&file.source)) {
                self.files.push(file);
            }
        }
    }

    /// One structure problem per message is enough for the requester.
    fn structure_problem(&mut self, problem: &str) {
        if !self.structure_noted {
            self.structure_noted = true;
            self.problem(STRUCTURE_SOURCE, problem.to_string());
        }
    }

    fn problem(&mut self, source: &str, problem: String) {
        let problem = AttachmentProblem { source: source.to_string(), problem };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }
}

fn push_paragraph(text: &mut String, piece: &str) {
    if piece.is_empty() {
        return;
    }
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(piece);
}

/// The text a forwarded message adds to `body_text`, marked so that [`quote::own_words`] treats
/// it as history when the requester wrote something above it.
fn forward_text(nested: &Message<'_>, body: &str) -> String {
    let mut text = String::from("---------- Mensaje reenviado ----------\n");
    if let Some((from, name)) = named_sender(nested) {
        let shown = name.map_or_else(|| from.clone(), |n| format!("{n} <{from}>"));
        text.push_str(&format!("De: {shown}\n"));
    }
    if let Some(date) = nested.date() {
        text.push_str(&format!("Fecha: {}\n", date.to_rfc822()));
    }
    if nested.subject().is_some() {
        text.push_str(&format!("Asunto: {}\n", subject(nested)));
    }
    text.push('\n');
    text.push_str(body);
    text.trim_end().to_string()
}

// ---------------------------------------------------------------------------------------------
// Parts

/// The attachment's name for people: the last path component, control characters dropped.
fn file_name(part: &MessagePart<'_>) -> Option<String> {
    let raw = part.attachment_name()?;
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(200).collect();
    let clean = clean.trim().to_string();
    (!clean.is_empty()).then_some(clean)
}

/// Declared `type/subtype`, lower-cased.
fn declared_type(part: &MessagePart<'_>) -> Option<String> {
    let ct = part.content_type()?;
    let full = match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub),
        None => ct.ctype().to_string(),
    };
    Some(full.to_ascii_lowercase())
}

/// Whether the file name ends in `.ext` (any case).
fn has_extension(name: Option<&str>, ext: &str) -> bool {
    name.and_then(|n| n.rsplit_once('.')).is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext))
}

fn is_forward_type(content_type: Option<&str>) -> bool {
    matches!(content_type, Some("message/rfc822" | "message/global"))
}

/// Images, PDFs, XML and ZIPs by declared type, or by name whatever the type says.
fn is_wanted(content_type: Option<&str>, name: Option<&str>) -> bool {
    let by_type = content_type.is_some_and(|ct| {
        ct.starts_with("image/")
            || ct == "application/pdf"
            || ct.ends_with("/xml")
            || attachments::is_zip(ct, "")
            || tnef::is_tnef(ct, "")
    });
    let by_name = name.is_some_and(|n| {
        let lower = n.to_ascii_lowercase();
        lower.rsplit_once('.').is_some_and(|(_, ext)| WANTED_EXTENSIONS.contains(&ext))
            || tnef::is_tnef("", n)
    });
    by_type || by_name
}

/// The bytes as the sender attached them. mail-parser turns every `text/*` part (`text/xml`
/// included) into UTF-8, lossily when no charset is declared, which would alter an XML's bytes
/// and contradict its own `encoding=` declaration; so for text parts only the transfer encoding
/// is undone again, by re-parsing the raw body as `application/octet-stream`.
fn original_bytes(message: &Message<'_>, part: &MessagePart<'_>) -> Vec<u8> {
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => bytes.to_vec(),
        PartType::Text(_) | PartType::Html(_) => {
            undecoded_text(message, part).unwrap_or_else(|| part.contents().to_vec())
        }
        _ => Vec::new(),
    }
}

fn undecoded_text(message: &Message<'_>, part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let body = raw_slice(message, part.raw_body_offset(), part.raw_end_offset())?;
    super::prescan::decode(body, part.encoding)
}

/// The bytes between two offsets of `message` (a header's or a part's). mail-parser is not
/// consistent here: a forward it had to decode (base64) counts offsets in its own
/// `raw_message()`, but a forward that was not transfer-encoded gets only its own slice of the
/// enclosing bytes as `raw_message()` while its offsets still count from the start of the
/// enclosing message. Such a forward ends past its own bytes, and its offsets are shifted back
/// by where its headers start.
fn raw_slice<'m>(message: &'m Message<'_>, start: u32, end: u32) -> Option<&'m [u8]> {
    let raw = message.raw_message();
    let root = message.root_part();
    let base = match root.raw_end_offset() as usize > raw.len() {
        true => root.raw_header_offset() as usize,
        false => 0,
    };
    let start = (start as usize).checked_sub(base)?;
    let end = (end as usize).checked_sub(base)?;
    raw.get(start..end)
}

// ---------------------------------------------------------------------------------------------
// MIME structure

/// The root declares a multipart but mail-parser found none of its boundaries.
fn missing_boundary(message: &Message<'_>) -> bool {
    let root = message.root_part();
    root.content_type().is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
        && !matches!(root.body, PartType::Multipart(_))
}

/// A multipart whose closing delimiter line `--boundary--` never appears: the message was cut.
/// One pass collects every closing line, so the cost does not grow with the number of parts.
fn has_unclosed_multipart(message: &Message<'_>) -> bool {
    let boundaries: Vec<&str> = message
        .parts
        .iter()
        .filter(|p| matches!(p.body, PartType::Multipart(_)))
        .filter_map(|p| p.content_type().and_then(|ct| ct.attribute("boundary")))
        .collect();
    if boundaries.is_empty() {
        return false;
    }
    let closed: std::collections::HashSet<&[u8]> = message
        .raw_message()
        .split(|b| *b == b'\n')
        .filter_map(|line| line.trim_ascii_end().strip_prefix(b"--")?.strip_suffix(b"--"))
        .collect();
    boundaries.iter().any(|b| !closed.contains(b.as_bytes()))
}

/// When the declared boundary never appears but the body is visibly made of parts
/// (`--something` followed by `Content-…` headers), a copy of the body under a header that
/// declares the boundary really used. `None` when no such boundary can be found.
fn rebuild_with_found_boundary(message: &Message<'_>) -> Option<Vec<u8>> {
    let root = message.root_part();
    let body = message.raw_message().get(root.raw_body_offset() as usize..)?;
    let boundary = find_boundary(body)?;
    let subtype = root.content_type().and_then(|ct| ct.subtype()).unwrap_or("mixed");
    let header = format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n");
    let mut raw = header.into_bytes();
    raw.extend_from_slice(body);
    Some(raw)
}

fn find_boundary(body: &[u8]) -> Option<String> {
    let scan = String::from_utf8_lossy(&body[..body.len().min(HEADER_SCAN_BYTES)]);
    let lines: Vec<&str> = scan.lines().collect();
    lines.windows(2).find_map(|pair| {
        let token = pair[0].strip_prefix("--")?.trim_end();
        let valid = (1..=70).contains(&token.len())
            && !token.contains(|c: char| c.is_whitespace() || c == '"');
        let followed_by_header = pair[1].to_ascii_lowercase().starts_with("content-");
        (valid && followed_by_header).then(|| token.to_string())
    })
}

// ---------------------------------------------------------------------------------------------
// Text

/// Tags after which a reader expects a new line. mail-parser's `html_to_text` only breaks on
/// `<br>` and `</p>`, which glues an Outlook "De: … Enviado: …" block to the text above it and
/// defeats [`quote::own_words`]; a `<br>` is inserted before each of these opening tags first.
const BLOCK_TAGS: [&str; 16] = [
    "div",
    "p",
    "tr",
    "li",
    "hr",
    "blockquote",
    "table",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
];

/// How far past a `<` the look-ahead of [`space_lost_after`] goes: tags are short, and a bound
/// keeps a page of unclosed `<` linear.
const TAG_LOOKAHEAD_BYTES: usize = 1024;

/// HTML reduced to readable text (tags dropped, entities decoded, blocks on their own lines).
fn html_to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(&prepare_html(html))
}

/// Works around two habits of mail-parser's converter: blocks do not start new lines, and the
/// first word of a line followed by tags and a space (`<b>De:</b> Mesa`) loses that space
/// ("De:Mesa"). A `<br>` goes before block tags; a space goes between such a word and its tags.
fn prepare_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    while let Some(pos) = rest.find('<') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        let after_word = out.chars().next_back().is_some_and(|c| !c.is_whitespace() && c != '>');
        if starts_block_tag(rest) {
            out.push_str("<br>");
        } else if after_word && space_lost_after(rest.as_bytes()) {
            out.push(' ');
        }
        out.push('<');
    }
    out.push_str(rest);
    out
}

/// Whether the run of tags starting here (just after its `<`) is followed by whitespace.
fn space_lost_after(tag: &[u8]) -> bool {
    let mut tail = &tag[..tag.len().min(TAG_LOOKAHEAD_BYTES)];
    loop {
        let Some(end) = tail.iter().position(|b| *b == b'>') else {
            return false;
        };
        tail = &tail[end + 1..];
        match tail.split_first() {
            Some((b'<', next)) => tail = next,
            Some((first, _)) => return first.is_ascii_whitespace(),
            None => return false,
        }
    }
}

/// Opening tags only: `</p>` already breaks, and breaking on both ends would double every line.
fn starts_block_tag(name: &str) -> bool {
    let end = name.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(name.len());
    BLOCK_TAGS.iter().any(|block| name[..end].eq_ignore_ascii_case(block))
}

/// `decoded`, the text mail-parser made of a text part, read again when it could not be: the
/// part declares no charset and its transfer-decoded bytes are not UTF-8 (8-bit Latin-1 from an
/// old client). Valid UTF-8 and declared charsets are left as mail-parser decoded them.
fn undeclared_8bit<'t>(
    message: &Message<'_>,
    part: &MessagePart<'_>,
    decoded: &'t str,
) -> Cow<'t, str> {
    let declares_charset = part.content_type().is_some_and(|ct| ct.attribute("charset").is_some());
    if declares_charset || !decoded.contains(REPLACEMENT) {
        return Cow::Borrowed(decoded);
    }
    match undecoded_text(message, part) {
        Some(bytes) if std::str::from_utf8(&bytes).is_err() => Cow::Owned(utf8_or_cp1252(&bytes)),
        _ => Cow::Borrowed(decoded),
    }
}

/// Bytes as text: UTF-8 where they are valid UTF-8, every other byte as Windows-1252. Text in
/// Latin-1 or Windows-1252 is almost never valid UTF-8 (an accented letter is followed by an
/// ASCII one), so such text comes out whole, and a UTF-8 text with a stray Latin-1 line keeps
/// both.
pub(super) fn utf8_or_cp1252(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 4);
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        text.extend(chunk.invalid().iter().map(|b| cp1252(*b)));
    }
    text
}

/// Windows-1252 code points of the bytes 0x80–0x9F, where it differs from Latin-1 (which has
/// invisible C1 controls there). The five unassigned bytes keep their C1 control, as the WHATWG
/// Encoding Standard decodes them.
#[rustfmt::skip]
const CP1252_80_9F: [char; 32] = [
    '\u{20ac}', '\u{0081}', '\u{201a}', '\u{0192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02c6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008d}', '\u{017d}', '\u{008f}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02dc}', '\u{2122}', '\u{0161}', '\u{203a}', '\u{0153}', '\u{009d}', '\u{017e}', '\u{0178}',
];

/// One Windows-1252 byte: Latin-1 except 0x80–0x9F.
fn cp1252(byte: u8) -> char {
    match byte {
        0x80..=0x9f => CP1252_80_9F[usize::from(byte - 0x80)],
        _ => char::from(byte),
    }
}

/// LF line ends, no trailing spaces, no-break spaces as spaces, at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.replace('\u{a0}', " ").lines() {
        let line = line.trim_end();
        blank_run = if line.is_empty() { blank_run + 1 } else { 0 };
        if blank_run < 2 {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_area_stops_at_the_blank_line() {
        assert_eq!(header_area(b"A: 1\r\nB: 2\r\n\r\nbody"), b"A: 1\r\nB: 2\r\n");
        assert_eq!(header_area(b"A: 1\n\nbody"), b"A: 1\n");
        assert_eq!(header_area(b"A: 1"), b"A: 1");
    }

    #[test]
    fn first_line_must_be_a_field() {
        assert!(first_line_is_header(b"From: a@b.example"));
        assert!(first_line_is_header(b"Subject : obsolete spacing"));
        assert!(!first_line_is_header(b"Hola, necesito ayuda"));
        assert!(!first_line_is_header(b"Nota importante: hola"));
        assert!(!first_line_is_header(b": x"));
    }

    #[test]
    fn binary_detection_tolerates_utf8_headers() {
        assert!(!looks_binary("Subject: Facturación electrónica ñandú\r\n".as_bytes()));
        assert!(looks_binary(b"Subject: a\0b"));
        assert!(looks_binary(&[0x1b; 10]));
        assert!(looks_binary(&[0xff; 100]));
    }

    #[test]
    fn html_blocks_get_their_own_lines() {
        let html = "<div>Hola</div><div><b>De:</b> Mesa</div><p>Texto&nbsp;final</p>";
        assert_eq!(tidy(&html_to_text(html)), "Hola\nDe: Mesa\nTexto final");
    }

    #[test]
    fn html_inline_tags_keep_word_spacing() {
        let html = "<div><b>De:</b> Mesa <i>de</i> Servicio</div><div>R<b>í</b>os</div>";
        assert_eq!(tidy(&html_to_text(html)), "De: Mesa de Servicio\nRíos");
    }

    #[test]
    fn html_mid_word_tags_are_left_alone() {
        assert_eq!(prepare_html("a<b>c</b>d"), "a<b>c</b>d");
        assert_eq!(prepare_html("sin etiquetas"), "sin etiquetas");
    }

    #[test]
    fn tidy_collapses_blank_runs() {
        assert_eq!(tidy("a  \r\n\r\n\r\n\r\nb\n"), "a\n\nb");
    }

    #[test]
    fn boundary_found_only_before_headers() {
        let body = b"preamble\r\n--xyz\r\nContent-Type: text/plain\r\n\r\nhola\r\n";
        assert_eq!(find_boundary(body).as_deref(), Some("xyz"));
        assert_eq!(find_boundary(b"--no es\r\nseparador\r\n"), None);
    }

    #[test]
    fn wanted_files() {
        assert!(is_wanted(Some("application/octet-stream"), Some("Factura.XML")));
        assert!(is_wanted(Some("text/xml"), None));
        assert!(is_wanted(Some("image/png"), None));
        assert!(is_wanted(Some("application/x-zip-compressed"), None));
        assert!(!is_wanted(Some("application/msword"), Some("carta.docx")));
        assert!(!is_wanted(Some("text/plain"), Some("notas.txt")));
    }

    /// The table agrees with the decoder mail-parser applies to a declared `windows-1252`,
    /// except on the five unassigned bytes, which mail-parser turns into U+FFFD.
    #[test]
    fn cp1252_agrees_with_mail_parser_on_assigned_bytes() {
        let declared = mail_parser::decoders::charsets::map::charset_decoder(b"windows-1252")
            .expect("mail-parser knows windows-1252");
        for byte in 0..=u8::MAX {
            let expected = match declared(&[byte]) {
                theirs if theirs == REPLACEMENT.to_string() => char::from(byte).to_string(),
                theirs => theirs,
            };
            assert_eq!(cp1252(byte).to_string(), expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn invalid_utf8_is_read_as_cp1252_and_valid_utf8_is_kept() {
        assert_eq!(utf8_or_cp1252(b"habilitaci\xf3n"), "habilitación");
        assert_eq!(utf8_or_cp1252(b"\x93urgente\x94 \x80"), "“urgente” €");
        assert_eq!(utf8_or_cp1252("ya válido".as_bytes()), "ya válido");
        assert_eq!(utf8_or_cp1252(b"mezcla \xc3\xb1 y \xf1"), "mezcla ñ y ñ");
    }

    #[test]
    fn addresses_need_a_domain() {
        assert!(is_address("a@b.example"));
        assert!(!is_address("MAILER-DAEMON"));
        assert!(!is_address("@b"));
        assert!(!is_address("a b@c"));
    }
}
