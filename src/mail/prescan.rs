//! A linear pass over a message's MIME structure before mail-parser builds its tree.
//!
//! mail-parser nests un-encoded `message/rfc822` parts without limit and drops (and, for
//! transfer-encoded forwards, copies) the nested tree recursively: 50,000 forwards inside each
//! other in 3.5 MB overflow a thread's stack. Its parser and our walk are also cheap per part,
//! not per byte, so a few MB of parts inside parts or of addresses cost minutes. This pass finds,
//! in one read of the bytes and without recursion, how deep the structure goes, how many parts
//! and header fields it has, and how many addresses a header block lists; [`super::parse`] lets
//! mail-parser see the original bytes only when every count is within its limit.
//!
//! It follows mail-parser's own rules, so that its counts are the tree mail-parser would build:
//! a delimiter is `--boundary` anywhere (not only at a line start), only the innermost boundary
//! is looked for, an un-encoded `message/rfc822` or `message/global` body is a header block
//! right away, a part of a `multipart/digest` without a type is a message, and a
//! transfer-encoded forward is decoded and scanned in turn (mail-parser decodes at most
//! [`MAX_NESTED_ENCODED`] levels). Counts are shared by all levels.

use std::ops::Range;

use mail_parser::{
    Encoding, GetHeader, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType,
};
use memchr::memmem;

/// Deepest nesting of multiparts and forwarded messages (0 = a message of one part). Real mail
/// stays under 10 (a forward of a forward, each multipart/mixed → alternative → related); a
/// chain of [`super::parse::MAX_FORWARD_DEPTH`] forwards of Outlook mail needs about 35.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Most MIME parts in one message, forwards' parts included. Real mail has under 200 (a
/// provider's batch of invoices); each part costs mail-parser and the walk a few allocations.
pub const MAX_PARTS: usize = 2000;

/// Most header fields in one header block. A message's top block is 20–200 fields (long
/// `Received` chains, Microsoft's `X-MS-…`); a part's is under 10.
pub const MAX_HEADER_FIELDS: usize = 1000;

/// Most header fields in the whole message: every field is an allocation in mail-parser's tree,
/// and `A:b` lines are 4 bytes each.
pub const MAX_TOTAL_HEADER_FIELDS: usize = 20_000;

/// Most addresses (counted by their `@`) in the address fields of one header block. A message
/// to a whole company's staff has a few hundred; nothing the desk does needs more.
pub const MAX_ADDRESSES: usize = 1000;

/// How many transfer-encoded forwards inside each other mail-parser decodes and parses.
pub const MAX_NESTED_ENCODED: usize = 3;

/// The address fields whose `@`s are counted.
const ADDRESS_FIELDS: [&str; 10] = [
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-to",
    "resent-cc",
    "resent-bcc",
];

/// The first limit a message exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excess {
    /// Parts and forwards nested deeper than [`MAX_NESTING_DEPTH`].
    Depth,
    /// More than [`MAX_PARTS`] parts.
    Parts,
    /// A header block with more than [`MAX_HEADER_FIELDS`] fields, or the message with more
    /// than [`MAX_TOTAL_HEADER_FIELDS`].
    HeaderFields,
    /// A header block listing more than [`MAX_ADDRESSES`] addresses.
    Addresses,
}

/// What the pass found. Ranges are offsets in the scanned bytes.
#[derive(Debug, Clone, Default)]
pub struct Structure {
    /// The top-level header block, its empty line included.
    pub top: Range<usize>,
    /// The top-level header block itself is over [`MAX_HEADER_FIELDS`] or [`MAX_ADDRESSES`]:
    /// the rest can still be read once that block is cut down.
    pub top_excess: Option<Excess>,
    /// A limit exceeded anywhere else (depth, parts, a part's header block, all fields).
    pub excess: Option<Excess>,
    /// Deepest nesting seen (the scan goes on past a limit, to find the first text).
    pub depth: usize,
    pub parts: usize,
    /// The first text part of the message's own bytes (not inside an encoded forward).
    pub first_text: Option<TextPart>,
}

/// A `text/plain` or `text/html` part that is not an attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPart {
    pub headers: Range<usize>,
    pub body: Range<usize>,
}

impl Structure {
    /// Whether mail-parser may parse the bytes as they are.
    pub fn within_limits(&self) -> bool {
        self.top_excess.is_none() && self.excess.is_none()
    }
}

/// Scans `raw`. Never recursive in the structure's depth; linear in its size.
pub fn scan(raw: &[u8]) -> Structure {
    let mut structure = Structure::default();
    let mut counts = Counts::default();
    Scanner { raw, base_depth: 0, encoded_level: 0, top_level: true }
        .run(&mut structure, &mut counts);
    structure
}

#[derive(Default)]
struct Counts {
    header_fields: usize,
}

/// One entity on the way down: a multipart (with the boundary that ends its parts) or a
/// forwarded message (which ends with its parent's boundary).
enum Frame {
    Multipart { digest: bool },
    Message,
}

/// The type of an entity, as mail-parser decides it.
enum Kind {
    Multipart { boundary: Vec<u8>, digest: bool },
    Message { encoding: Encoding },
    Text { text: bool },
    Other,
}

struct Scanner<'r> {
    raw: &'r [u8],
    /// Depth of the forward these bytes were decoded from.
    base_depth: usize,
    encoded_level: usize,
    top_level: bool,
}

/// Where one pass stands: the frames open and the boundaries they look for.
struct Walk {
    frames: Vec<Frame>,
    /// `--boundary` of each open multipart, innermost last, with its index in `frames`.
    delimiters: Vec<(Vec<u8>, usize)>,
}

impl Scanner<'_> {
    fn run(&self, structure: &mut Structure, counts: &mut Counts) {
        let mut walk = Walk { frames: Vec::new(), delimiters: Vec::new() };
        let mut pos = 0;
        while let Some(block) = header_block(self.raw, pos) {
            let first = structure.parts == 0 && self.top_level;
            structure.parts += 1;
            if structure.parts > MAX_PARTS {
                note(&mut structure.excess, Excess::Parts);
            }
            let kind = self.entity(&block, &walk, first, structure, counts);
            if !block.terminated {
                break;
            }
            pos = block.end;
            match kind {
                Kind::Multipart { ref boundary, digest } => {
                    let delimiter = [b"--", &boundary[..]].concat();
                    if let Some(at) = memmem::find(&self.raw[pos..], &delimiter) {
                        pos += at + delimiter.len();
                        pos = skip_line_end(self.raw, pos);
                        walk.delimiters.push((delimiter, walk.frames.len()));
                        self.push(&mut walk, Frame::Multipart { digest }, structure);
                        continue;
                    }
                    // mail-parser reads a multipart whose boundary never comes as text.
                }
                Kind::Message { encoding: Encoding::None } => {
                    self.push(&mut walk, Frame::Message, structure);
                    continue;
                }
                _ => {}
            }
            let end = self.leaf(&walk, pos);
            let body = pos..end.unwrap_or(self.raw.len());
            self.after_leaf(&kind, &block, body, structure, counts);
            let Some(end) = end else { break };
            match self.next_part(&mut walk, end) {
                Some(next) => pos = next,
                None => break,
            }
        }
    }

    fn push(&self, walk: &mut Walk, frame: Frame, structure: &mut Structure) {
        walk.frames.push(frame);
        let depth = self.base_depth + walk.frames.len();
        structure.depth = structure.depth.max(depth);
        if depth > MAX_NESTING_DEPTH {
            note(&mut structure.excess, Excess::Depth);
        }
    }

    /// Counts one header block and reads its type; a block over a limit is not parsed.
    fn entity(
        &self,
        block: &Block,
        walk: &Walk,
        top: bool,
        structure: &mut Structure,
        counts: &mut Counts,
    ) -> Kind {
        let over = if block.fields > MAX_HEADER_FIELDS {
            Some(Excess::HeaderFields)
        } else if block.addresses > MAX_ADDRESSES {
            Some(Excess::Addresses)
        } else {
            None
        };
        // A block over its own limit is cut down (the top one) or not read at all.
        if over.is_none() {
            counts.header_fields += block.fields;
        }
        if counts.header_fields > MAX_TOTAL_HEADER_FIELDS {
            note(&mut structure.excess, Excess::HeaderFields);
        }
        if top {
            structure.top = block.start..block.end;
            structure.top_excess = over;
        } else if let Some(excess) = over {
            note(&mut structure.excess, excess);
        }
        // The top block over a limit still says what the body is: its type is read from the
        // Content-Type field alone.
        let slice = &self.raw[block.start..block.end];
        let digest_parent = matches!(walk.frames.last(), Some(Frame::Multipart { digest: true }));
        match over {
            None => kind_of(slice, digest_parent),
            Some(_) if top => kind_of(&content_fields(slice), digest_parent),
            Some(_) => Kind::Other,
        }
    }

    /// The end of a leaf's body starting at `pos`: the next delimiter of the innermost
    /// multipart. `None` when the body runs to the end of the bytes.
    fn leaf(&self, walk: &Walk, pos: usize) -> Option<usize> {
        let (delimiter, _) = walk.delimiters.last()?;
        memmem::find(&self.raw[pos..], delimiter).map(|at| pos + at)
    }

    /// Notes the first text part; scans a transfer-encoded forward's decoded bytes.
    fn after_leaf(
        &self,
        kind: &Kind,
        block: &Block,
        body: Range<usize>,
        structure: &mut Structure,
        counts: &mut Counts,
    ) {
        match kind {
            Kind::Text { text: true } if self.top_level && structure.first_text.is_none() => {
                let headers = block.start..block.end;
                structure.first_text = Some(TextPart { headers, body });
            }
            Kind::Message { encoding } if self.encoded_level < MAX_NESTED_ENCODED => {
                if structure.excess.is_some() {
                    return;
                }
                let Some(decoded) = decode(&self.raw[body], *encoding) else { return };
                let depth = self.base_depth + 1;
                let inner = Scanner {
                    raw: &decoded,
                    base_depth: depth,
                    encoded_level: self.encoded_level + 1,
                    top_level: false,
                };
                structure.depth = structure.depth.max(depth);
                inner.run(structure, counts);
            }
            _ => {}
        }
    }

    /// After a leaf ending at `end` (a delimiter of the innermost multipart): the forwards that
    /// end with it are closed, and a closing delimiter closes its multipart and looks for the
    /// enclosing one's. The offset of the next part's header block, `None` at the end.
    fn next_part(&self, walk: &mut Walk, mut end: usize) -> Option<usize> {
        loop {
            let (delimiter, index) = walk.delimiters.last()?;
            let mut pos = end + delimiter.len();
            walk.frames.truncate(index + 1);
            if !self.raw[pos..].starts_with(b"--") {
                return Some(skip_line_end(self.raw, pos));
            }
            pos += 2;
            walk.frames.truncate(*index);
            walk.delimiters.pop();
            let (outer, _) = walk.delimiters.last()?;
            end = pos + memmem::find(&self.raw[pos..], outer)?;
        }
    }
}

fn note(excess: &mut Option<Excess>, found: Excess) {
    excess.get_or_insert(found);
}

/// One header block: where it is and what it holds.
struct Block {
    start: usize,
    /// Just past its empty line.
    end: usize,
    /// An empty line ends it. Without one the bytes end in it: mail-parser keeps such a block
    /// as a body-less message at the top and drops it anywhere else.
    terminated: bool,
    fields: usize,
    addresses: usize,
}

/// The header block at `start`, up to its empty line (a line of blanks, as mail-parser reads
/// it), or to the end of the bytes. `None` when nothing is left.
fn header_block(raw: &[u8], start: usize) -> Option<Block> {
    if start >= raw.len() {
        return None;
    }
    let mut block = Block { start, end: raw.len(), terminated: false, fields: 0, addresses: 0 };
    let mut pos = start;
    let mut in_address_field = false;
    while pos < raw.len() {
        let line_end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |at| pos + at + 1);
        let line = &raw[pos..line_end];
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
            block.terminated = line.ends_with(b"\n");
            block.end = line_end;
            return Some(block);
        }
        if !matches!(line[0], b' ' | b'\t') {
            block.fields += 1;
            in_address_field = is_address_field(line);
        }
        if in_address_field {
            block.addresses += memchr::memchr_iter(b'@', line).count();
        }
        pos = line_end;
    }
    Some(block)
}

fn is_address_field(line: &[u8]) -> bool {
    let name = line.split(|b| *b == b':').next().unwrap_or_default().trim_ascii();
    ADDRESS_FIELDS.iter().any(|field| name.eq_ignore_ascii_case(field.as_bytes()))
}

/// Past the end of a delimiter line, as mail-parser skips it: blanks and one line break.
fn skip_line_end(raw: &[u8], mut pos: usize) -> usize {
    while let Some(byte) = raw.get(pos) {
        pos += 1;
        match byte {
            b'\r' | b' ' | b'\t' => {}
            b'\n' => return pos,
            _ => return pos - 1,
        }
    }
    pos
}

/// Only the Content-Type and Content-Transfer-Encoding fields of a header block (with their
/// folded lines), followed by an empty line.
fn content_fields(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in block.split_inclusive(|b| *b == b'\n') {
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = line.split(|b| *b == b':').next().unwrap_or_default().trim_ascii();
            keep = name.eq_ignore_ascii_case(b"content-type")
                || name.eq_ignore_ascii_case(b"content-transfer-encoding");
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The entity a header block announces, by mail-parser's rules.
fn kind_of(block: &[u8], digest_parent: bool) -> Kind {
    let Some(parsed) = MessageParser::default().parse_headers(block) else {
        // An empty header block: a digest's part is then a message, any other part text.
        return match digest_parent {
            true => Kind::Message { encoding: Encoding::None },
            false => Kind::Text { text: true },
        };
    };
    let part = parsed.root_part();
    let encoding = match part.headers.header_value(&HeaderName::ContentTransferEncoding) {
        Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("base64") => Encoding::Base64,
        Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("quoted-printable") => {
            Encoding::QuotedPrintable
        }
        _ => Encoding::None,
    };
    let Some(ct) = part.content_type() else {
        return match digest_parent {
            true => Kind::Message { encoding },
            false => Kind::Text { text: is_body(part) },
        };
    };
    match (ct.ctype(), ct.subtype()) {
        ("multipart", subtype) => match ct.attribute("boundary") {
            Some(boundary) => Kind::Multipart {
                boundary: boundary.as_bytes().to_vec(),
                digest: subtype == Some("digest"),
            },
            None => Kind::Other,
        },
        ("message", Some("rfc822" | "global")) => Kind::Message { encoding },
        ("text", Some("plain" | "html")) => Kind::Text { text: is_body(part) },
        _ => Kind::Other,
    }
}

/// A text part that is read as the message's words, not an attached file.
fn is_body(part: &mail_parser::MessagePart<'_>) -> bool {
    let attachment = part.content_disposition().is_some_and(|d| d.is_attachment());
    !attachment && part.attachment_name().is_none()
}

/// The bytes of a transfer-encoded forward, decoded by mail-parser itself (as a one-part
/// message of `application/octet-stream`, which it leaves flat).
pub(super) fn decode(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    let name = match encoding {
        Encoding::Base64 => "base64",
        Encoding::QuotedPrintable => "quoted-printable",
        Encoding::None => return Some(body.to_vec()),
    };
    let mut raw = format!(
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {name}\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let parsed = MessageParser::default().parse(&raw)?;
    match &parsed.part(0)?.body {
        PartType::Binary(bytes) => Some(bytes.to_vec()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_forwards(depth: usize) -> Vec<u8> {
        let mut raw = b"From: a@b.example\r\nSubject: hola\r\n".to_vec();
        for _ in 0..depth {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\ntexto\r\n");
        raw
    }

    fn nested_multiparts(depth: usize) -> Vec<u8> {
        let mut raw = b"From: a@b.example\r\n".to_vec();
        for level in 0..depth {
            let header = format!(
                "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
            );
            raw.extend_from_slice(header.as_bytes());
        }
        raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\nadentro\r\n");
        for level in (0..depth).rev() {
            raw.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
        }
        raw
    }

    #[test]
    fn a_plain_message_is_one_part() {
        let s = scan(b"From: a@b.example\r\nSubject: x\r\n\r\nhola\r\n");
        assert!(s.within_limits());
        assert_eq!((s.depth, s.parts), (0, 1));
        assert_eq!(s.top, 0..33);
        assert_eq!(s.first_text.map(|t| t.body), Some(33..39));
    }

    #[test]
    fn forwards_count_as_depth_up_to_the_limit() {
        let within = scan(&nested_forwards(MAX_NESTING_DEPTH));
        assert!(within.within_limits(), "{within:?}");
        assert_eq!(within.depth, MAX_NESTING_DEPTH);
        let over = scan(&nested_forwards(MAX_NESTING_DEPTH + 1));
        assert_eq!(over.excess, Some(Excess::Depth));
        assert_eq!(over.top_excess, None);
    }

    #[test]
    fn multiparts_count_as_depth_and_close_in_order() {
        let within = scan(&nested_multiparts(MAX_NESTING_DEPTH));
        assert!(within.within_limits(), "{within:?}");
        assert_eq!(within.depth, MAX_NESTING_DEPTH);
        assert_eq!(within.parts, MAX_NESTING_DEPTH + 1);
        let text = within.first_text.expect("the innermost text");
        let raw = nested_multiparts(MAX_NESTING_DEPTH);
        assert_eq!(&raw[text.body], b"adentro\r\n");
        assert_eq!(scan(&nested_multiparts(MAX_NESTING_DEPTH + 1)).excess, Some(Excess::Depth));
    }

    #[test]
    fn siblings_count_as_parts() {
        let mut raw =
            b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n".to_vec();
        for _ in 0..MAX_PARTS {
            raw.extend_from_slice(b"--x\r\nContent-Type: text/plain\r\n\r\nparte\r\n");
        }
        raw.extend_from_slice(b"--x--\r\n");
        let s = scan(&raw);
        assert_eq!((s.depth, s.parts), (1, MAX_PARTS + 1));
        assert_eq!(s.excess, Some(Excess::Parts));
    }

    #[test]
    fn header_fields_and_addresses_of_the_top_block() {
        let many_fields = format!("From: a@b.example\r\n{}\r\nhola", "X-A: 1\r\n".repeat(1000));
        let s = scan(many_fields.as_bytes());
        assert_eq!((s.top_excess, s.excess), (Some(Excess::HeaderFields), None));
        assert!(s.first_text.is_some(), "the body is still found");
        let cc: Vec<String> = (0..MAX_ADDRESSES).map(|i| format!("u{i}@c.example")).collect();
        let many = format!("From: a@b.example\r\nCc: {}\r\n\r\nhola", cc.join(",\r\n "));
        assert_eq!(scan(many.as_bytes()).top_excess, Some(Excess::Addresses));
        let fewer = format!("From: a@b.example\r\nCc: {}\r\n\r\nhola", cc[1..].join(", "));
        assert!(scan(fewer.as_bytes()).within_limits());
    }

    #[test]
    fn a_part_header_block_over_the_limit_is_a_structure_excess() {
        let raw = format!(
            "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n{}\r\n\
             hola\r\n--x--\r\n",
            "X-A: 1\r\n".repeat(MAX_HEADER_FIELDS + 1)
        );
        let s = scan(raw.as_bytes());
        assert_eq!((s.top_excess, s.excess), (None, Some(Excess::HeaderFields)));
    }

    #[test]
    fn encoded_forwards_are_scanned_inside() {
        use base64::Engine;
        let inner = nested_forwards(MAX_NESTING_DEPTH);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&inner);
        let raw = format!(
            "From: a@b.example\r\nContent-Type: message/rfc822\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n"
        );
        let s = scan(raw.as_bytes());
        assert_eq!(s.depth, MAX_NESTING_DEPTH + 1);
        assert_eq!(s.excess, Some(Excess::Depth));
    }

    #[test]
    fn digest_parts_without_a_type_are_messages() {
        let raw = b"From: a@b.example\r\nContent-Type: multipart/digest; boundary=d\r\n\r\n\
                    --d\r\n\r\nFrom: c@d.example\r\nSubject: uno\r\n\r\ntexto\r\n--d--\r\n";
        let s = scan(raw);
        assert_eq!((s.depth, s.parts), (2, 3));
    }

    #[test]
    fn an_unterminated_header_block_is_still_counted() {
        let cc: Vec<String> = (0..=MAX_ADDRESSES).map(|i| format!("u{i}@c.example")).collect();
        let raw = format!("From: a@b.example\r\nCc: {}", cc.join(", "));
        let s = scan(raw.as_bytes());
        assert_eq!((s.parts, s.top_excess), (1, Some(Excess::Addresses)));
        assert_eq!(s.top, 0..raw.len());
    }
}
