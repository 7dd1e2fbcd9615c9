//! TNEF (`winmail.dat`, `application/ms-tnef`): the attachments Outlook wraps in one file.
//!
//! Outlook in "rich text" mode sends a message's attachments inside one `winmail.dat`
//! ([MS-OXTNEF]): a signature `0x223E9F78`, a 16-bit key, then attribute records, each a level
//! (1 = message, 2 = attachment), a 32-bit id, a 32-bit length, the data and a 16-bit checksum
//! (the sum of the data's bytes). Every attachment starts with `attAttachRenddata`; its name is
//! `attAttachTitle` (8.3 on old clients) unless the MAPI properties of `attAttachment` carry
//! `PR_ATTACH_LONG_FILENAME`; its bytes are `attAttachData` (or `PR_ATTACH_DATA_BIN`). An
//! attached Outlook message (`PR_ATTACH_DATA_OBJ`) is itself a TNEF stream, read one level
//! deeper.
//!
//! No crate does this well: `tnef` 0.1.1 (2019, unmaintained) reads no MAPI properties and
//! slices unchecked lengths. So this is a small bounded reader. Every length is checked against
//! the bytes left before anything is taken; attachments count against
//! [`AttachmentLimits::zip_max_entries`], their bytes against the message's [`ZipBudget`], and
//! embedded messages nest no deeper than [`AttachmentLimits::zip_max_depth`]. Work is linear in
//! the input. Nothing here fails: damage becomes an [`AttachmentProblem`] in Spanish, and the
//! attachments read before it are kept.

use super::attachments::{self, AttachmentLimits, Unpacker, ZipBudget};
use super::{AttachmentProblem, FileEntry};

/// The first four bytes of every TNEF stream (little-endian `0x223E9F78`).
pub const TNEF_SIGNATURE: u32 = 0x223E_9F78;

const LEVEL_MESSAGE: u8 = 0x01;
const LEVEL_ATTACHMENT: u8 = 0x02;

// Attribute ids ([MS-OXTNEF] 2.1.3.2), type in the high word.
const ATT_ATTACH_RENDDATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_ATTACHMENT: u32 = 0x0006_9005;

// MAPI property ids of an attachment ([MS-OXPROPS]).
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_DATA: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;

// MAPI property types ([MS-OXCDATA] 2.11.1).
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

/// An attached message starts with the 16-byte interface id, then its own TNEF stream.
const OBJECT_IID_LEN: usize = 16;
/// Longest name kept for a file (characters).
const MAX_NAME_CHARS: usize = 200;

/// Whether a part is a TNEF stream, by declared type or by Outlook's file name.
pub fn is_tnef(content_type: &str, name: &str) -> bool {
    matches!(content_type, "application/ms-tnef" | "application/vnd.ms-tnef")
        || name.rsplit(['/', '\\']).next().is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"))
}

/// Whether `bytes` start with the TNEF signature.
pub fn has_signature(bytes: &[u8]) -> bool {
    bytes.get(..4).is_some_and(|s| s == TNEF_SIGNATURE.to_le_bytes())
}

/// The files inside the TNEF stream `bytes` attached as `source` (`winmail.dat/factura.xml`),
/// with attached Outlook messages read one level deeper (`winmail.dat/Mensaje/factura.xml`).
/// Files are returned as found, ZIPs included (the caller unpacks them); every refusal is a
/// problem, and what was read before it is kept.
pub fn unpack_tnef(
    source: &str,
    bytes: &[u8],
    limits: &AttachmentLimits,
    budget: &mut ZipBudget,
) -> (Vec<FileEntry>, Vec<AttachmentProblem>) {
    let mut unpacker = Unpacker::new(limits, budget);
    unpacker.stream(source, bytes, 1);
    (unpacker.files, unpacker.problems)
}

/// A cursor over bytes whose every read is checked: `None` means "not that many bytes left".
struct Cursor<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
    }

    /// A length-prefixed value of a MAPI property, padded to four bytes.
    fn padded(&mut self) -> Option<&'b [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        let value = self.take(len)?;
        self.take((4 - len % 4) % 4)?;
        Some(value)
    }
}

/// One attribute record.
struct Attribute<'b> {
    level: u8,
    id: u32,
    data: &'b [u8],
    checksum_ok: bool,
}

/// Reads the next attribute; `Err` when the stream ends inside one.
fn attribute<'b>(cursor: &mut Cursor<'b>) -> Result<Attribute<'b>, ()> {
    let level = cursor.u8().ok_or(())?;
    let id = cursor.u32().ok_or(())?;
    let len = cursor.u32().and_then(|l| usize::try_from(l).ok()).ok_or(())?;
    let data = cursor.take(len).ok_or(())?;
    let checksum = cursor.u16().ok_or(())?;
    let sum = data.iter().fold(0u16, |sum, b| sum.wrapping_add(u16::from(*b)));
    Ok(Attribute { level, id, data, checksum_ok: sum == checksum })
}

/// An attachment being assembled from its attributes.
#[derive(Default)]
struct Pending {
    title: Option<String>,
    long_name: Option<String>,
    mime_tag: Option<String>,
    data: Option<Vec<u8>>,
    /// An attached Outlook message: its TNEF stream.
    embedded: Option<Vec<u8>>,
    /// Why this attachment cannot be used, once known.
    damaged: Option<String>,
}

/// What the MAPI properties of one attachment said.
#[derive(Default)]
struct Props<'b> {
    long_name: Option<String>,
    short_name: Option<String>,
    display_name: Option<String>,
    mime_tag: Option<String>,
    data: Option<&'b [u8]>,
    embedded: Option<&'b [u8]>,
}

impl Unpacker<'_> {
    /// Reads one TNEF stream (`depth` 1 = the attached `winmail.dat`).
    fn stream(&mut self, source: &str, bytes: &[u8], depth: usize) {
        let mut cursor = Cursor::new(bytes);
        if !has_signature(bytes) || cursor.take(6).is_none() {
            return self.problem_once(source, NOT_TNEF.to_string());
        }
        let mut pending: Option<Pending> = None;
        let mut number = 0;
        while cursor.left() > 0 {
            let Ok(attribute) = attribute(&mut cursor) else {
                self.problem_once(source, TRUNCATED.to_string());
                break;
            };
            match attribute.level {
                LEVEL_MESSAGE => {}
                LEVEL_ATTACHMENT if attribute.id == ATT_ATTACH_RENDDATA => {
                    if let Some(done) = pending.take() {
                        self.finish(source, done, number, depth);
                    }
                    if self.entries_left == 0 {
                        self.problem_once(source, too_many(self.limits));
                        return;
                    }
                    self.entries_left -= 1;
                    number += 1;
                    pending = Some(Pending::default());
                }
                // An attachment attribute before any attachment started has nothing to add to.
                LEVEL_ATTACHMENT => {
                    if let Some(current) = pending.as_mut() {
                        self.attach_attribute(current, &attribute);
                    }
                }
                _ => {
                    self.problem_once(source, TRUNCATED.to_string());
                    break;
                }
            }
        }
        if let Some(done) = pending.take() {
            self.finish(source, done, number, depth);
        }
    }

    /// Adds one attribute to the attachment being assembled.
    fn attach_attribute(&mut self, current: &mut Pending, attribute: &Attribute<'_>) {
        match attribute.id {
            // Altered bytes of a document are worse than none: the requester is asked again.
            ATT_ATTACH_DATA if !attribute.checksum_ok => {
                current.damaged = Some(CHECKSUM.to_string());
            }
            // Names and types only label the data: altered ones are not trusted, and not missed.
            _ if !attribute.checksum_ok => {}
            ATT_ATTACH_TITLE => current.title = clean_name(&decode_string8(attribute.data)),
            ATT_ATTACH_DATA => current.data = self.charged(current, attribute.data),
            ATT_ATTACHMENT => self.take_props(current, props(attribute.data)),
            _ => {}
        }
    }

    /// What the MAPI properties add: the long name, the type, and the data when it lives there.
    fn take_props(&mut self, current: &mut Pending, props: Props<'_>) {
        let name = [props.long_name, props.short_name, props.display_name]
            .into_iter()
            .flatten()
            .find_map(|name| clean_name(&name));
        current.long_name = name.or(current.long_name.take());
        if let Some(tag) = props.mime_tag {
            current.mime_tag = Some(tag.trim().to_ascii_lowercase());
        }
        if current.data.is_none()
            && let Some(data) = props.data
        {
            current.data = self.charged(current, data);
        }
        if let Some(embedded) = props.embedded {
            current.embedded = self.charged(current, embedded);
        }
    }

    /// A copy of `data`, if the message's byte budget still allows it.
    fn charged(&mut self, current: &mut Pending, data: &[u8]) -> Option<Vec<u8>> {
        if self.budget.charge(data.len() as u64) {
            Some(data.to_vec())
        } else {
            current.damaged = Some(attachments::total_too_large(self.limits));
            None
        }
    }

    /// An attachment whose attributes are all read: a file, a nested stream, or a problem.
    fn finish(&mut self, source: &str, done: Pending, number: usize, depth: usize) {
        let name = done
            .long_name
            .clone()
            .or_else(|| done.title.clone())
            .unwrap_or_else(|| format!("adjunto-{number}"));
        let path = format!("{source}/{name}");
        if let Some(problem) = done.damaged {
            return self.problem_once(&path, problem);
        }
        if let Some(embedded) = done.embedded {
            return self.embedded(&path, &embedded, depth);
        }
        match done.data {
            Some(data) if !data.is_empty() => {
                let content_type = done
                    .mime_tag
                    .filter(|t| t.contains('/') && !t.contains(char::is_whitespace))
                    .unwrap_or_else(|| attachments::guess_content_type(&name).to_string());
                self.files.push(FileEntry {
                    source: path,
                    content_type,
                    bytes: data,
                    inline: false,
                });
            }
            _ => self.problem_once(&path, EMPTY.to_string()),
        }
    }

    /// An Outlook message attached inside the TNEF: its own stream, one level deeper.
    fn embedded(&mut self, path: &str, bytes: &[u8], depth: usize) {
        let stream = bytes.get(OBJECT_IID_LEN..).unwrap_or_default();
        if !has_signature(stream) {
            return self.problem_once(path, EMBEDDED_UNREADABLE.to_string());
        }
        if depth >= self.limits.zip_max_depth {
            return self.problem_once(path, too_deep(self.limits));
        }
        self.stream(path, stream, depth + 1);
    }

    /// A damaged stream says the same thing many times: each problem is kept once.
    fn problem_once(&mut self, source: &str, problem: String) {
        let problem = AttachmentProblem { source: source.to_string(), problem };
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }
}

/// The MAPI properties of `attAttachment` ([MS-OXTNEF] 2.1.3.4): a count, then for each a type,
/// an id (named properties add a GUID and a number or a name), and its value(s). Read up to the
/// first property that cannot be read (the block ends inside it, a count exceeds what the bytes
/// could hold, a type of unknown size): what came before it is kept.
fn props(data: &[u8]) -> Props<'_> {
    let mut props = Props::default();
    let _complete = read_props(&mut Cursor::new(data), &mut props);
    props
}

fn read_props<'b>(cursor: &mut Cursor<'b>, props: &mut Props<'b>) -> Option<()> {
    let count = usize::try_from(cursor.u32()?).ok()?;
    // Each property takes at least 4 bytes: a larger count is a lie (and no loop runs for it).
    if count > cursor.left() / 4 {
        return None;
    }
    for _ in 0..count {
        let kind = cursor.u16()?;
        let id = cursor.u16()?;
        if id >= 0x8000 {
            skip_name(cursor)?;
        }
        let values = values(cursor, kind)?;
        let Some(first) = values.first().copied() else { continue };
        let text = || match kind & !MV_FLAG {
            PT_STRING8 => Some(decode_string8(first)),
            PT_UNICODE => Some(decode_unicode(first)),
            _ => None,
        };
        match id {
            PR_ATTACH_LONG_FILENAME => props.long_name = text(),
            PR_ATTACH_FILENAME => props.short_name = text(),
            PR_DISPLAY_NAME => props.display_name = text(),
            PR_ATTACH_MIME_TAG => props.mime_tag = text(),
            PR_ATTACH_DATA if kind == PT_BINARY => props.data = Some(first),
            PR_ATTACH_DATA if kind == PT_OBJECT => props.embedded = Some(first),
            _ => {}
        }
    }
    Some(())
}

/// The name of a named property: a GUID, then a kind (0 = a number, 1 = a UTF-16 name).
fn skip_name(cursor: &mut Cursor<'_>) -> Option<()> {
    cursor.take(16)?;
    match cursor.u32()? {
        0 => cursor.u32().map(|_| ()),
        1 => cursor.padded().map(|_| ()),
        _ => None,
    }
}

/// The value(s) of one property: variable-length types and multi-valued ones carry a count.
fn values<'b>(cursor: &mut Cursor<'b>, kind: u16) -> Option<Vec<&'b [u8]>> {
    let base = kind & !MV_FLAG;
    let variable = matches!(base, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT);
    let count = if variable || kind & MV_FLAG != 0 {
        let count = usize::try_from(cursor.u32()?).ok()?;
        // Each value takes at least 4 bytes.
        if count > cursor.left() / 4 {
            return None;
        }
        count
    } else {
        1
    };
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        let value = if variable { cursor.padded()? } else { cursor.take(fixed_size(base)?)? };
        values.push(value);
    }
    Some(values)
}

/// Bytes taken by a fixed-size value, padded to four; `None` for a type we do not know (its
/// size is unknown, so nothing after it can be read).
fn fixed_size(base: u16) -> Option<usize> {
    match base {
        // PT_UNSPECIFIED, PT_NULL, PT_SHORT, PT_LONG, PT_FLOAT, PT_ERROR, PT_BOOLEAN
        0x0000 | 0x0001 | 0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4),
        // PT_DOUBLE, PT_CURRENCY, PT_APPTIME, PT_I8, PT_SYSTIME
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
        // PT_CLSID
        0x0048 => Some(16),
        _ => None,
    }
}

/// An 8-bit string (the code page is the sender's ANSI one; UTF-8 where valid, else
/// Windows-1252, as the rest of the mail), up to its terminating NUL.
fn decode_string8(data: &[u8]) -> String {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    super::parse::utf8_or_cp1252(&data[..end])
}

/// A UTF-16LE string up to its terminating NUL; unpaired surrogates become U+FFFD.
fn decode_unicode(data: &[u8]) -> String {
    let units = data.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]]));
    char::decode_utf16(units.take_while(|u| *u != 0))
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// A name for people: the last path component, no control characters, at most
/// [`MAX_NAME_CHARS`]; `None` when nothing is left (or only dots, which would read as a path).
fn clean_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let clean = clean.trim();
    (!clean.is_empty() && !clean.chars().all(|c| c == '.')).then(|| clean.to_string())
}

// Problem texts: a requester reads them, so they say what was wrong and what to do.

const NOT_TNEF: &str = "El archivo winmail.dat de Outlook no tiene el formato esperado (TNEF) \
                        y no se pudo leer. Por favor envíe los documentos como adjuntos \
                        normales (en Outlook: Formato de texto → HTML o texto sin formato).";
const TRUNCATED: &str = "El archivo winmail.dat de Outlook está dañado o incompleto; se leyó lo \
                         que venía antes del daño. Si falta algún documento, por favor envíelo \
                         de nuevo como adjunto normal (en Outlook: Formato de texto → HTML).";
const CHECKSUM: &str = "Este adjunto dentro de winmail.dat llegó alterado (su suma de \
                        verificación no coincide) y no se usó. Por favor envíelo de nuevo como \
                        adjunto normal.";
const EMPTY: &str = "Este adjunto dentro de winmail.dat está vacío (0 bytes) o no trae su \
                     contenido. Por favor envíelo de nuevo como adjunto normal.";
const EMBEDDED_UNREADABLE: &str = "Este mensaje de Outlook adjunto dentro de winmail.dat no se \
                                   pudo leer. Por favor reenvíe los documentos directamente como \
                                   adjuntos.";

fn too_many(limits: &AttachmentLimits) -> String {
    format!(
        "El archivo winmail.dat de Outlook trae más de {} adjuntos (contando los de mensajes \
         adjuntos); no se leyeron los que exceden el límite. Por favor envíe los documentos en \
         varios correos.",
        limits.zip_max_entries
    )
}

fn too_deep(limits: &AttachmentLimits) -> String {
    format!(
        "Este mensaje adjunto dentro de winmail.dat está dentro de otros mensajes más allá del \
         límite de {} niveles; no se abrió. Por favor envíe los documentos directamente como \
         adjuntos.",
        limits.zip_max_depth
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = include_bytes!("../../tests/fixtures/tnef/valida_factura_xml.tnef");
    const MANY: &[u8] = include_bytes!("../../tests/fixtures/tnef/hostil_muchos_adjuntos.tnef");
    const NESTED: &[u8] = include_bytes!("../../tests/fixtures/tnef/valida_mensaje_adjunto.tnef");

    fn unpack(bytes: &[u8], limits: &AttachmentLimits) -> (Vec<FileEntry>, Vec<AttachmentProblem>) {
        unpack_tnef("winmail.dat", bytes, limits, &mut ZipBudget::new(limits))
    }

    #[test]
    fn outlook_names_and_type_come_from_the_mapi_properties() {
        let (files, problems) = unpack(VALID, &AttachmentLimits::default());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(files[0].source, "winmail.dat/ad0900481236.xml", "long name, not the 8.3 title");
        assert_eq!(files[0].content_type, "text/xml");
    }

    #[test]
    fn the_byte_budget_is_the_messages_and_is_charged() {
        let limits = AttachmentLimits { zip_max_uncompressed_bytes: 1000, ..Default::default() };
        let (files, problems) = unpack(VALID, &limits);
        assert!(files.is_empty());
        assert!(problems[0].problem.contains("límite de 1000 bytes"), "{problems:?}");
        let mut budget = ZipBudget::new(&AttachmentLimits::default());
        let before = budget.bytes_left();
        let (files, _) = unpack_tnef("w.dat", VALID, &AttachmentLimits::default(), &mut budget);
        assert_eq!(before - budget.bytes_left(), files[0].bytes.len() as u64);
    }

    #[test]
    fn the_entry_limit_keeps_the_first_and_says_so() {
        let limits = AttachmentLimits { zip_max_entries: 5, ..Default::default() };
        let (files, problems) = unpack(MANY, &limits);
        assert_eq!(files.len(), 5);
        assert!(problems[0].problem.contains("más de 5 adjuntos"), "{problems:?}");
    }

    #[test]
    fn an_attached_message_is_read_one_level_deeper_within_the_depth_limit() {
        let (files, _) = unpack(NESTED, &AttachmentLimits::default());
        assert_eq!(files[0].source, "winmail.dat/RV: Factura rechazada/ad0900481236.xml");
        let shallow = AttachmentLimits { zip_max_depth: 1, ..Default::default() };
        let (files, problems) = unpack(NESTED, &shallow);
        assert!(files.is_empty());
        assert!(problems[0].problem.contains("1 niveles"), "{problems:?}");
    }

    #[test]
    fn a_changed_data_byte_fails_its_checksum() {
        let mut altered = VALID.to_vec();
        let at = altered.windows(5).position(|w| w == b"<?xml").unwrap();
        altered[at + 2] = b'X';
        let (files, problems) = unpack(&altered, &AttachmentLimits::default());
        assert!(files.is_empty());
        assert!(problems[0].problem.contains("suma de verificación"), "{problems:?}");
    }

    #[test]
    fn names_lose_paths_and_controls() {
        assert_eq!(clean_name("C:\\Users\\ana\\fac\u{7}tura.xml").as_deref(), Some("factura.xml"));
        assert_eq!(clean_name("../.."), None);
        assert_eq!(clean_name("  "), None);
        assert_eq!(decode_unicode(&[0x61, 0, 0x00, 0xD8, 0, 0, 0x62, 0]), "a\u{fffd}");
        assert_eq!(decode_string8(b"caf\xe9\0basura"), "café");
    }

    #[test]
    fn tnef_by_type_or_by_outlooks_name() {
        assert!(is_tnef("application/ms-tnef", "adjunto"));
        assert!(is_tnef("application/octet-stream", "WINMAIL.DAT"));
        assert!(!is_tnef("application/octet-stream", "datos.dat"));
        assert!(has_signature(VALID) && !has_signature(b"\x78\x9f"));
    }
}
