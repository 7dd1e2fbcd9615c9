//! ZIP attachments unpacked recursively under limits (shared with `winmail.dat`, [`super::tnef`]).
//!
//! Providers send DIAN documents zipped (`z….zip` with an `ad….xml` inside), so a ZIP is
//! replaced by its entries. A ZIP is also the cheapest way to make a server allocate gigabytes
//! (13_zip_bomba.eml: 200 KB that inflate to 200 MiB of zeros), and zip 9 only bounds an entry
//! by its *declared* size. So every limit is enforced here, twice where headers can lie: once
//! on the declared sizes before reading, and again on the bytes actually produced, read through
//! `Read::take(cap + 1)` so that no entry ever yields more than its cap plus one byte.
//!
//! Nothing here fails: every refusal becomes an [`AttachmentProblem`] in Spanish telling the
//! requester what was wrong and to send it again.

use std::io::{Cursor, Read};

use zip::{CompressionMethod, ZipArchive};

use super::{AttachmentProblem, FileEntry};

/// Caps on what one message's attachments may expand to.
#[derive(Debug, Clone, Copy)]
pub struct AttachmentLimits {
    /// Most entries read from one ZIP (nested ZIPs count their own entries too).
    pub zip_max_entries: usize,
    /// Most bytes all ZIPs of one message may expand to, in total.
    pub zip_max_uncompressed_bytes: u64,
    /// Largest accepted ratio uncompressed/compressed for one entry.
    pub zip_max_ratio: u64,
    /// Deepest ZIP-inside-ZIP nesting unpacked (1 = a ZIP attached to the mail, no inner ZIP).
    pub zip_max_depth: usize,
}

impl Default for AttachmentLimits {
    fn default() -> Self {
        AttachmentLimits {
            zip_max_entries: 200,
            zip_max_uncompressed_bytes: 50 * 1024 * 1024,
            zip_max_ratio: 100,
            zip_max_depth: 3,
        }
    }
}

/// Entries up to this size are exempt from the ratio cap: a small XML full of repeated
/// whitespace compresses better than 100:1 and is harmless; a bomb needs volume to hurt, and
/// volume is still bounded by the message-wide byte budget.
pub const RATIO_EXEMPT_BYTES: u64 = 1024 * 1024;

/// Largest buffer reserved up front for one entry; beyond it the buffer grows only as bytes
/// really arrive, so a forged declared size cannot make us allocate.
const MAX_PREALLOC_BYTES: u64 = 1024 * 1024;

/// Running totals shared by every ZIP of one message. A ZIP inside a ZIP is charged twice (its
/// own bytes, then its entries'), since both are held in memory at once.
#[derive(Debug, Clone)]
pub struct ZipBudget {
    bytes_left: u64,
}

impl ZipBudget {
    /// A fresh budget for one message.
    pub fn new(limits: &AttachmentLimits) -> Self {
        ZipBudget { bytes_left: limits.zip_max_uncompressed_bytes }
    }

    /// Uncompressed bytes the message's ZIPs may still produce.
    pub fn bytes_left(&self) -> u64 {
        self.bytes_left
    }

    /// Charges `bytes` taken out of a container other than a ZIP (a `winmail.dat`), if they
    /// fit; `false` (and nothing charged) when they do not.
    pub fn charge(&mut self, bytes: u64) -> bool {
        match self.bytes_left.checked_sub(bytes) {
            Some(left) => {
                self.bytes_left = left;
                true
            }
            None => false,
        }
    }
}

/// Whether a part is a ZIP, by declared type or by name.
pub fn is_zip(content_type: &str, name: &str) -> bool {
    matches!(content_type, "application/zip" | "application/x-zip-compressed" | "application/x-zip")
        || name.to_ascii_lowercase().ends_with(".zip")
}

/// Content type guessed from a file name (ZIP entries carry no declared type).
pub fn guess_content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, ext)| ext);
    match ext {
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        _ => "application/octet-stream",
    }
}

/// Unpacks the ZIP `bytes` attached as `source` (recursively, ZIPs inside it too) into files,
/// under `limits` and the message's running `budget`. Refused entries become problems; the
/// entries that passed are kept even when a sibling was refused.
pub fn unpack_zip(
    source: &str,
    bytes: &[u8],
    limits: &AttachmentLimits,
    budget: &mut ZipBudget,
) -> (Vec<FileEntry>, Vec<AttachmentProblem>) {
    let mut unpacker = Unpacker::new(limits, budget);
    unpacker.archive(source, bytes, 1);
    (unpacker.files, unpacker.problems)
}

type Archive<'b> = ZipArchive<Cursor<&'b [u8]>>;

/// The state of one top-level ZIP attachment being unpacked.
/// What reading one container (a ZIP here, a TNEF `winmail.dat` in [`super::tnef`]) has found
/// so far, and what it may still take.
pub(super) struct Unpacker<'l> {
    pub(super) limits: &'l AttachmentLimits,
    pub(super) budget: &'l mut ZipBudget,
    /// Entries this attachment (with its nested containers) may still hold.
    pub(super) entries_left: usize,
    pub(super) files: Vec<FileEntry>,
    pub(super) problems: Vec<AttachmentProblem>,
}

impl<'l> Unpacker<'l> {
    pub(super) fn new(limits: &'l AttachmentLimits, budget: &'l mut ZipBudget) -> Unpacker<'l> {
        Unpacker {
            limits,
            budget,
            entries_left: limits.zip_max_entries,
            files: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// What the central directory says about an entry that passed the metadata checks.
struct Planned {
    source: String,
    name: String,
    declared: u64,
    /// Most bytes this entry may yield: ratio cap and remaining budget.
    cap: u64,
    /// Which limit `cap` comes from, for the problem text.
    cap_is_budget: bool,
}

impl Unpacker<'_> {
    /// Opens one archive (`depth` 1 = attached to the mail) and takes its entries.
    fn archive(&mut self, source: &str, bytes: &[u8], depth: usize) {
        let mut archive = match ZipArchive::new(Cursor::new(bytes)) {
            Ok(archive) => archive,
            Err(_) => return self.problem(source, ZIP_CORRUPT.to_string()),
        };
        if archive.len() > self.entries_left {
            return self.problem(source, too_many_entries(archive.len(), self.limits));
        }
        self.entries_left -= archive.len();
        for index in 0..archive.len() {
            self.entry(&mut archive, index, source, depth);
        }
    }

    /// Takes one entry: checks, reads under its cap, then keeps it or unpacks it as a ZIP.
    fn entry(&mut self, archive: &mut Archive<'_>, index: usize, zip_source: &str, depth: usize) {
        let plan = match self.plan(archive, index, zip_source) {
            Ok(Some(plan)) => plan,
            Ok(None) => return,
            Err((source, problem)) => return self.problem(&source, problem),
        };
        let data = match self.read(archive, index, &plan) {
            Ok(data) => data,
            Err(problem) => return self.problem(&plan.source, problem),
        };
        if data.is_empty() {
            self.problem(&plan.source, EMPTY_ENTRY.to_string());
        } else if is_zip("", &plan.name) {
            self.nested(&plan.source, &data, depth);
        } else {
            let content_type = guess_content_type(&plan.name).to_string();
            self.files.push(FileEntry {
                source: plan.source,
                content_type,
                bytes: data,
                inline: false,
            });
        }
    }

    /// A ZIP found inside a ZIP: unpacked one level deeper, if the depth limit allows.
    fn nested(&mut self, source: &str, data: &[u8], depth: usize) {
        if depth >= self.limits.zip_max_depth {
            self.problem(source, too_deep(self.limits.zip_max_depth));
        } else {
            self.archive(source, data, depth + 1);
        }
    }

    /// Checks an entry's metadata without decompressing anything. `Ok(None)` for directories.
    fn plan(
        &self,
        archive: &Archive<'_>,
        index: usize,
        zip_source: &str,
    ) -> Result<Option<Planned>, (String, String)> {
        let fallback = format!("{zip_source}/entrada-{}", index + 1);
        let meta = archive.by_index_data(index).map_err(|_| (fallback.clone(), entry_corrupt()))?;
        let raw_name = meta.name().map(|n| n.into_owned()).unwrap_or_default();
        if meta.is_dir() {
            return Ok(None);
        }
        let source = match raw_name.is_empty() {
            true => fallback,
            false => format!("{zip_source}/{}", printable(&raw_name)),
        };
        if meta.is_symlink() || meta.enclosed_name().is_none() || is_unsafe_name(&raw_name) {
            return Err((source, UNSAFE_NAME.to_string()));
        }
        if meta.encrypted() {
            return Err((source, ENCRYPTED.to_string()));
        }
        let method = meta.compression();
        if !matches!(method, CompressionMethod::Stored | CompressionMethod::Deflated) {
            return Err((source, unsupported_method(method)));
        }
        let (cap, cap_is_budget) = self.cap(meta.compressed_size());
        if meta.size() > cap {
            return Err((source, self.limit_problem(cap_is_budget)));
        }
        let name = raw_name.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
        Ok(Some(Planned { source, name, declared: meta.size(), cap, cap_is_budget }))
    }

    /// Most bytes an entry of `compressed` bytes may yield, and whether the budget (rather than
    /// the ratio) is what bounds it.
    fn cap(&self, compressed: u64) -> (u64, bool) {
        let ratio_cap =
            compressed.saturating_mul(self.limits.zip_max_ratio).max(RATIO_EXEMPT_BYTES);
        let budget = self.budget.bytes_left;
        if budget <= ratio_cap { (budget, true) } else { (ratio_cap, false) }
    }

    /// Reads an entry through `take(cap + 1)`: one byte past the cap proves a lying header
    /// without ever holding more than the cap. Charges the bytes read to the budget.
    /// (zip 9.8 already fails an entry that yields more than its declared size; this bound does
    /// not rely on that.)
    fn read(
        &mut self,
        archive: &mut Archive<'_>,
        index: usize,
        plan: &Planned,
    ) -> Result<Vec<u8>, String> {
        let file = archive.by_index(index).map_err(|_| entry_corrupt())?;
        let reserve = plan.declared.min(plan.cap).min(MAX_PREALLOC_BYTES);
        let mut data = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
        file.take(plan.cap.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|_| entry_corrupt())?;
        let produced = data.len() as u64;
        if produced > plan.cap {
            return Err(self.limit_problem(plan.cap_is_budget));
        }
        self.budget.bytes_left -= produced;
        Ok(data)
    }

    fn limit_problem(&self, cap_is_budget: bool) -> String {
        if cap_is_budget { total_too_large(self.limits) } else { ratio_too_high(self.limits) }
    }

    fn problem(&mut self, source: &str, problem: String) {
        self.problems.push(AttachmentProblem { source: source.to_string(), problem });
    }
}

/// An entry name as people will see it in a reply or a log line: `/` separators, no control
/// characters (a name is attacker-chosen text).
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).map(|c| if c == '\\' { '/' } else { c }).collect()
}

/// Absolute paths, drive letters and any `..` component are refused outright (zip 9's
/// `enclosed_name` would quietly make `/etc/passwd` relative and allow `a/../b`). The name only
/// labels a file in memory, but a requester should hear that the archive is odd.
fn is_unsafe_name(name: &str) -> bool {
    let drive = name.as_bytes().get(1) == Some(&b':');
    name.is_empty()
        || name.contains('\0')
        || name.starts_with(['/', '\\'])
        || drive
        || name.split(['/', '\\']).any(|part| part == "..")
}

// Problem texts: a requester reads them, so they say what was wrong and what to do.

const ZIP_CORRUPT: &str = "El archivo ZIP está dañado o incompleto y no se pudo abrir. \
                           Por favor genérelo de nuevo y vuelva a enviarlo.";
const EMPTY_ENTRY: &str = "Este archivo dentro del ZIP está vacío (0 bytes). \
                           Por favor genere el ZIP de nuevo y vuelva a enviarlo.";
const UNSAFE_NAME: &str = "Este archivo dentro del ZIP tiene un nombre inseguro (una ruta \
                           absoluta o con «../») y no se extrajo. Por favor envíe el ZIP de \
                           nuevo con nombres de archivo simples.";
const ENCRYPTED: &str = "Este archivo dentro del ZIP está protegido con contraseña y no se \
                         puede leer. Por favor envíelo de nuevo sin contraseña.";

fn entry_corrupt() -> String {
    "Este archivo dentro del ZIP está dañado y no se pudo leer. \
     Por favor genere el ZIP de nuevo y vuelva a enviarlo."
        .to_string()
}

fn too_many_entries(found: usize, limits: &AttachmentLimits) -> String {
    format!(
        "El ZIP contiene {found} archivos y supera el límite de {} archivos por ZIP (contando \
         los ZIP que tenga dentro); no se abrió. Por favor envíe los documentos en ZIP más \
         pequeños o en varios correos.",
        limits.zip_max_entries
    )
}

pub(super) fn total_too_large(limits: &AttachmentLimits) -> String {
    format!(
        "Al descomprimirlo se supera el límite de {} descomprimidos por correo; no se \
         extrajo. Por favor envíe solo los documentos necesarios (por ejemplo el XML) o \
         repártalos en varios correos.",
        human_size(limits.zip_max_uncompressed_bytes)
    )
}

/// "50 MB", "10 KB", "512 bytes": a limit as a requester reads it.
fn human_size(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = 1024 * KB;
    match bytes {
        b if b >= MB => format!("{} MB", b / MB),
        b if b >= KB => format!("{} KB", b / KB),
        b => format!("{b} bytes"),
    }
}

fn ratio_too_high(limits: &AttachmentLimits) -> String {
    format!(
        "Este archivo se expande de forma anormal al descomprimirlo (supera el límite de \
         seguridad de {}:1 entre tamaño descomprimido y comprimido); no se extrajo. Por favor \
         envíe el documento sin comprimir o en un ZIP normal.",
        limits.zip_max_ratio
    )
}

fn unsupported_method(method: CompressionMethod) -> String {
    format!(
        "Este archivo dentro del ZIP usa un método de compresión no soportado ({method}). Por \
         favor envíelo de nuevo en un ZIP normal (Deflate) o sin comprimir."
    )
}

fn too_deep(max_depth: usize) -> String {
    format!(
        "Este ZIP está dentro de otros ZIP más allá del límite de {max_depth} niveles; no se \
         abrió. Por favor envíe los documentos en un solo ZIP."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::{SimpleFileOptions, ZipWriter};

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for (name, data) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn unpack(bytes: &[u8], limits: &AttachmentLimits) -> (Vec<FileEntry>, Vec<AttachmentProblem>) {
        unpack_zip("a.zip", bytes, limits, &mut ZipBudget::new(limits))
    }

    #[test]
    fn entries_replace_the_zip_with_paths_and_types() {
        let zip = zip_of(&[("ad1.xml", b"<x/>"), ("dir/rg.pdf", b"%PDF-1.4")]);
        let (files, problems) = unpack(&zip, &AttachmentLimits::default());
        assert!(problems.is_empty(), "{problems:?}");
        let sources: Vec<_> = files.iter().map(|f| f.source.as_str()).collect();
        assert_eq!(sources, ["a.zip/ad1.xml", "a.zip/dir/rg.pdf"]);
        assert_eq!(files[0].content_type, "application/xml");
        assert_eq!(files[1].content_type, "application/pdf");
        assert_eq!(files[0].bytes, b"<x/>");
    }

    #[test]
    fn ratio_cap_refuses_a_small_bomb_before_reading() {
        let zeros = vec![0u8; 4 * 1024 * 1024];
        let zip = zip_of(&[("bomba.xml", &zeros)]);
        let (files, problems) = unpack(&zip, &AttachmentLimits::default());
        assert!(files.is_empty());
        assert!(problems[0].problem.contains("100:1"), "{problems:?}");
    }

    #[test]
    fn small_entries_are_exempt_from_the_ratio() {
        let spaces = vec![b' '; 64 * 1024];
        let zip = zip_of(&[("espacios.xml", &spaces)]);
        let (files, problems) = unpack(&zip, &AttachmentLimits::default());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(files[0].bytes.len(), spaces.len());
    }

    #[test]
    fn budget_is_shared_across_zips_and_charged_by_bytes_read() {
        let limits = AttachmentLimits { zip_max_uncompressed_bytes: 10, ..Default::default() };
        let mut budget = ZipBudget::new(&limits);
        let zip = zip_of(&[("a.xml", b"123456")]);
        let (first, _) = unpack_zip("1.zip", &zip, &limits, &mut budget);
        assert_eq!(first.len(), 1);
        assert_eq!(budget.bytes_left(), 4);
        let (second, problems) = unpack_zip("2.zip", &zip, &limits, &mut budget);
        assert!(second.is_empty());
        assert!(problems[0].problem.contains("límite de 10 bytes"), "{problems:?}");
    }

    #[test]
    fn count_cap_includes_nested_zips() {
        let inner = zip_of(&[("x.xml", b"1"), ("y.xml", b"2")]);
        let outer = zip_of(&[("in.zip", &inner), ("z.xml", b"3")]);
        let limits = AttachmentLimits { zip_max_entries: 3, ..Default::default() };
        let (files, problems) = unpack(&outer, &limits);
        assert_eq!(files.len(), 1, "z.xml survives");
        assert_eq!(problems[0].source, "a.zip/in.zip");
        assert!(problems[0].problem.contains("límite de 3 archivos"));
    }

    #[test]
    fn depth_limit_stops_nesting() {
        let inner = zip_of(&[("x.xml", b"1")]);
        let middle = zip_of(&[("m.zip", &inner)]);
        let outer = zip_of(&[("o.zip", &middle)]);
        let limits = AttachmentLimits { zip_max_depth: 2, ..Default::default() };
        let (files, problems) = unpack(&outer, &limits);
        assert!(files.is_empty());
        assert_eq!(problems[0].source, "a.zip/o.zip/m.zip");
        assert!(problems[0].problem.contains("2 niveles"));
    }

    #[test]
    fn traversal_and_directories() {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        writer.add_directory("docs/", options).unwrap();
        writer.start_file("../evil.xml", options).unwrap();
        writer.write_all(b"<evil/>").unwrap();
        writer.start_file("/etc/passwd", options).unwrap();
        writer.write_all(b"root").unwrap();
        let zip = writer.finish().unwrap().into_inner();
        let (files, problems) = unpack(&zip, &AttachmentLimits::default());
        assert!(files.is_empty());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.problem.contains("inseguro")));
    }

    #[test]
    fn garbage_and_truncated_archives_are_corrupt() {
        let zip = zip_of(&[("a.xml", b"<a/>")]);
        for bytes in [&b"not a zip at all"[..], &zip[..zip.len() / 2], &[]] {
            let (files, problems) = unpack(bytes, &AttachmentLimits::default());
            assert!(files.is_empty());
            assert!(problems[0].problem.contains("dañado"), "{problems:?}");
        }
    }

    #[test]
    fn empty_entry_is_a_problem() {
        let zip = zip_of(&[("vacio.xml", b"")]);
        let (files, problems) = unpack(&zip, &AttachmentLimits::default());
        assert!(files.is_empty());
        assert!(problems[0].problem.contains("0 bytes"));
    }
}
