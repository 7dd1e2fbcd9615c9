//! Memory stays bounded on hostile attachments (issue 2: "ZIP bomb, XML entity bomb … memory
//! bounded, process healthy"), measured rather than assumed.
//!
//! This test binary installs a counting global allocator ([`Counting`]) that tracks the bytes
//! currently allocated and their high-water mark. Each test holds [`MEASURING`] for its whole
//! run, so the tests of this binary (libtest runs them on parallel threads, all sharing the
//! allocator) never overlap; [`peak_during`] then reports the peak *above* the bytes allocated
//! when it started, so inputs built beforehand do not count.
//!
//! Two controls prove that a bound here can fail: a deliberate 100 MiB allocation is seen, and
//! the ZIP bomb with its limits raised in a copy of the configuration pushes the peak far past
//! [`BOUND`].
//!
//! The crate itself forbids `unsafe`; this binary needs it only because `GlobalAlloc` is an
//! unsafe trait, and uses it only to forward to `std::alloc::System`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::mail::{AttachmentLimits, Inbound, parse};
use mesa_fe::pipeline::{Analysis, Desk};
use zip::write::{SimpleFileOptions, ZipWriter};
use zip::{CompressionMethod, ZipArchive};

const MIB: usize = 1024 * 1024;

/// Most heap a hostile message may make mesa-fe hold at once, above what was allocated before.
const BOUND: usize = 64 * MIB;

// ------------------------------------------------------------------------------------------
// Counting allocator

/// `System`, counting. Only sizes are tracked (what was asked for, not pages touched), with
/// relaxed atomics: each counter is consistent on its own, which is all a peak needs.
struct Counting;

/// Bytes allocated and not yet freed.
static CURRENT: AtomicUsize = AtomicUsize::new(0);
/// Highest `CURRENT` since the last [`peak_during`] started.
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters only observe sizes and never touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are passed on as they are.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller guarantees `new_size` is valid for `layout`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            match new_size.checked_sub(layout.size()) {
                Some(more) => grew(more),
                None => shrank(layout.size() - new_size),
            }
        }
        new
    }
}

// ------------------------------------------------------------------------------------------
// Measuring

/// Held by every test of this binary for its whole run: only one measures at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// The measuring lock; a test that failed while holding it does not block the others.
fn exclusive() -> MutexGuard<'static, ()> {
    MEASURING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` and returns its result with the peak heap above what was allocated when it started.
/// Taking the guard proves the caller holds [`MEASURING`].
fn peak_during<T>(_exclusive: &MutexGuard<'_, ()>, f: impl FnOnce() -> T) -> (T, usize) {
    let baseline = CURRENT.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);
    let result = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    (result, peak)
}

/// Prints the figure (`cargo test -- --nocapture` shows it) and checks it against [`BOUND`].
fn assert_bounded(what: &str, peak: usize) {
    eprintln!("{what}: peak {:.2} MiB (bound {} MiB)", mib(peak), BOUND / MIB);
    assert!(peak < BOUND, "{what}: peak {:.1} MiB exceeds {} MiB", mib(peak), BOUND / MIB);
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

// ------------------------------------------------------------------------------------------
// Inputs

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A multipart/mixed e-mail with a short text and each `(name, type, bytes)` in base64.
fn mail_with(attachments: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut raw = String::from(
        "From: Prueba <prueba@hostil.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Factura rechazada\r\nMessage-ID: <memoria@hostil.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nAdjunto el XML de la factura.\r\n",
    );
    for (name, content_type, bytes) in attachments {
        let encoded = STANDARD.encode(bytes);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
            .collect();
        raw.push_str(&format!(
            "--b\r\nContent-Type: {content_type}; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            lines.join("\r\n")
        ));
    }
    raw.push_str("--b--\r\n");
    raw.into_bytes()
}

/// The classic billion laughs: ten levels of ten references, 10⁹ "lol"s (≈ 3 GB) if expanded.
fn billion_laughs() -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n");
    xml.push_str(" <!ENTITY lol0 \"lol\">\n");
    for level in 1..=9 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        xml.push_str(&format!(" <!ENTITY lol{level} \"{refs}\">\n"));
    }
    xml.push_str("]>\n<Invoice>&lol9;</Invoice>\n");
    xml.into_bytes()
}

/// Entries that each inflate to `inflated` bytes of zeros, every header declaring
/// `declared` bytes. The deflate stream is made once and copied raw, so building stays cheap.
fn forged_zip(entries: usize, inflated: usize, declared: u32) -> Vec<u8> {
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut one = ZipWriter::new(Cursor::new(Vec::new()));
    one.start_file("ceros.xml", options).expect("start");
    one.write_all(&vec![0u8; inflated]).expect("write");
    let one = one.finish().expect("finish").into_inner();
    let mut source = ZipArchive::new(Cursor::new(one.as_slice())).expect("just written");
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for index in 0..entries {
        let entry = source.by_index_raw(0).expect("entry");
        writer.raw_copy_file_rename(entry, format!("factura_{index:02}.xml")).expect("copy");
    }
    let mut zip = writer.finish().expect("finish").into_inner();
    // Uncompressed size: offset 22 of each local header (PK\3\4), 24 of each central one (PK\1\2).
    for start in 0..zip.len().saturating_sub(4) {
        let at = match &zip[start..start + 4] {
            b"PK\x03\x04" => start + 22,
            b"PK\x01\x02" => start + 24,
            _ => continue,
        };
        zip[at..at + 4].copy_from_slice(&declared.to_le_bytes());
    }
    zip
}

fn desk(config: Config) -> Desk {
    Desk::new(config, KnowledgeBase::builtin())
}

fn builtin_config() -> Config {
    Config::builtin().expect("built-in configuration")
}

/// Runs the whole pipeline on `raw` under the measuring lock.
fn analyze(exclusive: &MutexGuard<'_, ()>, desk: &Desk, raw: &[u8]) -> (Analysis, usize) {
    let buzon = desk.config.buzones[0].clone();
    peak_during(exclusive, || desk.analyze(raw, &buzon))
}

fn problem_sources(inbound: &Inbound) -> Vec<&str> {
    inbound.problems.iter().map(|p| p.source.as_str()).collect()
}

/// `attachment_problems` of the `inspect --json` contract, non-empty, as `(source, problem)`.
fn attachment_problems(analysis: &Analysis) -> Vec<(String, String)> {
    let json = analysis.to_json();
    let problems = json["attachment_problems"].as_array().expect("attachment_problems array");
    assert!(!problems.is_empty(), "no attachment_problems: {json:#}");
    problems
        .iter()
        .map(|p| {
            let field = |key: &str| p[key].as_str().unwrap_or_default().to_string();
            (field("source"), field("problem"))
        })
        .collect()
}

// ------------------------------------------------------------------------------------------
// Controls: the counter sees what it must

#[test]
fn counter_registers_a_deliberate_100_mib_allocation() {
    let exclusive = exclusive();
    let (len, peak) = peak_during(&exclusive, || {
        let block = std::hint::black_box(vec![1u8; 100 * MIB]);
        block.len()
    });
    eprintln!("control, 100 MiB vector: peak {:.2} MiB", mib(peak));
    assert_eq!(len, 100 * MIB);
    assert!(peak >= 100 * MIB, "peak {peak} bytes: the counter missed the allocation");
    assert!(peak >= BOUND, "a bound of {BOUND} bytes would catch it");
}

/// With the ZIP limits raised in a copy of the configuration, the same bomb that the default
/// limits refuse is inflated: the peak goes far past [`BOUND`], so the bounds below can fail.
#[test]
fn raised_zip_limits_let_the_bomb_through_and_the_counter_sees_it() {
    let exclusive = exclusive();
    let raw = fixture("13_zip_bomba.eml");
    let mut config = builtin_config();
    config.limites.zip_max_ratio = 1_000_000;
    config.limites.zip_max_uncompressed_bytes = 512 * MIB as u64;
    let desk = desk(config);
    let (analysis, peak) = analyze(&exclusive, &desk, &raw);
    eprintln!("control, bomb with raised ZIP limits: peak {:.2} MiB", mib(peak));
    assert!(peak > 200 * MIB, "the 200 MiB entry was not seen: peak {:.1} MiB", mib(peak));
    // The 20 MiB XML cap still refuses the inflated file, but only after it was held.
    let problems = attachment_problems(&analysis);
    assert!(problems.iter().any(|(_, p)| p.contains("máximo")), "{problems:?}");
}

// ------------------------------------------------------------------------------------------
// a) mail::parse on the ZIP bomb fixture

#[test]
fn zip_bomb_fixture_is_refused_within_the_bound() {
    let exclusive = exclusive();
    let raw = fixture("13_zip_bomba.eml");
    let (inbound, peak) = peak_during(&exclusive, || parse(&raw, &AttachmentLimits::default()));
    let inbound = inbound.expect("an e-mail");
    assert_bounded("mail::parse, 13_zip_bomba.eml", peak);
    assert!(inbound.files.is_empty());
    assert!(
        inbound.problems.iter().any(|p| p.source.starts_with("soportes_noviembre.zip")),
        "{:?}",
        problem_sources(&inbound)
    );
}

// ------------------------------------------------------------------------------------------
// b) forged ZIP headers: small declared sizes, large inflation

#[test]
fn forged_small_sizes_cannot_inflate_past_the_bound() {
    let exclusive = exclusive();
    // 24 entries × 16 MiB = 384 MiB of zeros if believed. Each header says 100 bytes, or 1 MiB:
    // small enough for the ratio cap to let the entry be read.
    for declared in [100, MIB as u32] {
        let zip = forged_zip(24, 16 * MIB, declared);
        let raw = mail_with(&[("facturas.zip", "application/zip", &zip)]);
        let (inbound, peak) = peak_during(&exclusive, || parse(&raw, &AttachmentLimits::default()));
        let inbound = inbound.expect("an e-mail");
        let what = format!("mail::parse, forged ZIP (24 × 16 MiB declared as {declared} B)");
        assert_bounded(&what, peak);
        assert!(inbound.files.is_empty(), "{what}: {} files", inbound.files.len());
        assert_eq!(inbound.problems.len(), 24, "{what}: {:?}", problem_sources(&inbound));
        assert!(inbound.problems.iter().all(|p| p.source.starts_with("facturas.zip/factura_")));
    }
}

/// The same entries with their sizes declared honestly: the ratio cap refuses them from the
/// headers alone, before a byte is inflated.
#[test]
fn honest_sizes_are_refused_before_inflating() {
    let exclusive = exclusive();
    let zip = forged_zip(24, 16 * MIB, 16 * MIB as u32);
    let raw = mail_with(&[("facturas.zip", "application/zip", &zip)]);
    let (inbound, peak) = peak_during(&exclusive, || parse(&raw, &AttachmentLimits::default()));
    let inbound = inbound.expect("an e-mail");
    assert_bounded("mail::parse, ZIP of 24 × 16 MiB declared", peak);
    assert!(inbound.files.is_empty());
    assert_eq!(inbound.problems.len(), 24, "{:?}", problem_sources(&inbound));
}

// ------------------------------------------------------------------------------------------
// c) the whole pipeline

#[test]
fn pipeline_on_billion_laughs_stays_bounded() {
    let exclusive = exclusive();
    let xml = billion_laughs();
    let zipped = {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file("risas.xml", SimpleFileOptions::default()).expect("start");
        writer.write_all(&xml).expect("write");
        writer.finish().expect("finish").into_inner()
    };
    let raw = mail_with(&[
        ("factura.xml", "text/xml", &xml),
        ("factura.zip", "application/zip", &zipped),
    ]);
    let desk = desk(builtin_config());
    let (analysis, peak) = analyze(&exclusive, &desk, &raw);
    assert_bounded("Desk::analyze, billion laughs (plain and zipped)", peak);
    let problems = attachment_problems(&analysis);
    for source in ["factura.xml", "factura.zip/risas.xml"] {
        let found = problems.iter().find(|(s, _)| s == source);
        let (_, problem) = found.unwrap_or_else(|| panic!("no problem for {source}: {problems:?}"));
        assert!(problem.contains("DOCTYPE"), "{problem}");
    }
    assert!(analysis.documents.is_empty());
}

#[test]
fn pipeline_on_the_zip_bomb_stays_bounded() {
    let exclusive = exclusive();
    let raw = fixture("13_zip_bomba.eml");
    let desk = desk(builtin_config());
    let (analysis, peak) = analyze(&exclusive, &desk, &raw);
    assert_bounded("Desk::analyze, 13_zip_bomba.eml", peak);
    let problems = attachment_problems(&analysis);
    assert!(
        problems.iter().any(|(source, _)| source.starts_with("soportes_noviembre.zip")),
        "{problems:?}"
    );
}

#[test]
fn pipeline_on_forged_zip_headers_stays_bounded() {
    let exclusive = exclusive();
    let zip = forged_zip(24, 16 * MIB, 100);
    let raw = mail_with(&[("facturas.zip", "application/zip", &zip)]);
    let desk = desk(builtin_config());
    let (analysis, peak) = analyze(&exclusive, &desk, &raw);
    assert_bounded("Desk::analyze, forged ZIP (24 × 16 MiB declared as 100 B)", peak);
    assert_eq!(attachment_problems(&analysis).len(), 24);
}
