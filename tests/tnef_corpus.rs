//! The TNEF (`winmail.dat`) reader against its own corpus, tests/fixtures/tnef/ (written by
//! `generar.py` beside it): every file gives exactly the files ESPERADO.json lists, and problems
//! exactly when it says; then thousands of deterministic mutations of the valid ones (bit flips,
//! forged lengths, truncations) must neither panic nor produce more than the limits allow; and
//! every corpus file wrapped in an Outlook mail goes through the whole parser.

use std::path::{Path, PathBuf};

use mesa_fe::mail::attachments::ZipBudget;
use mesa_fe::mail::tnef::unpack_tnef;
use mesa_fe::mail::{AttachmentLimits, AttachmentProblem, FileEntry};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tnef")
}

/// Every `.tnef` file of the corpus, by name, in name order.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .expect("tests/fixtures/tnef")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tnef"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    files.sort();
    files
}

fn unpack(bytes: &[u8], limits: &AttachmentLimits) -> (Vec<FileEntry>, Vec<AttachmentProblem>) {
    let mut budget = ZipBudget::new(limits);
    let (files, problems) = unpack_tnef("winmail.dat", bytes, limits, &mut budget);
    assert_bounded(bytes, limits, &files, &problems);
    (files, problems)
}

/// What any input may produce at most: no more files than the entry limit, no file larger than
/// the input (TNEF stores, it does not compress), no more bytes in all than the budget, and a
/// problem text for people (never empty).
fn assert_bounded(
    input: &[u8],
    limits: &AttachmentLimits,
    files: &[FileEntry],
    problems: &[AttachmentProblem],
) {
    assert!(files.len() <= limits.zip_max_entries, "{} files", files.len());
    let total: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    assert!(total <= limits.zip_max_uncompressed_bytes, "{total} bytes out");
    assert!(files.iter().all(|f| f.bytes.len() <= input.len() && !f.bytes.is_empty()));
    assert!(files.iter().all(|f| f.source.starts_with("winmail.dat/")));
    assert!(
        files.iter().all(|f| !f.source.contains("..") && !f.source.chars().any(char::is_control))
    );
    assert!(problems.len() <= limits.zip_max_entries + 2, "{} problems", problems.len());
    assert!(problems.iter().all(|p| p.problem.len() > 40));
}

#[test]
fn every_corpus_file_gives_what_esperado_json_says() {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(corpus_dir().join("ESPERADO.json")).unwrap())
            .expect("ESPERADO.json");
    let corpus = corpus();
    assert!(corpus.len() >= 20, "corpus too small: {}", corpus.len());
    for (name, bytes) in &corpus {
        let expect = &expected[name.as_str()];
        assert!(expect.is_object(), "{name} is missing from ESPERADO.json");
        let (files, problems) = unpack(bytes, &AttachmentLimits::default());
        let sources: Vec<&str> = files.iter().map(|f| f.source.as_str()).collect();
        let wanted: Vec<&str> =
            expect["archivos"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(sources, wanted, "{name}: {problems:?}");
        assert_eq!(!problems.is_empty(), expect["con_problemas"] == true, "{name}: {problems:?}");
    }
}

#[test]
fn valid_files_carry_the_invoice_bytes_unchanged() {
    let xml = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/dian/ad_factura_validada_02.xml"),
    )
    .unwrap();
    for name in [
        "valida_factura_xml.tnef",
        "valida_datos_en_propiedades.tnef",
        "valida_mensaje_adjunto.tnef",
    ] {
        let (files, _) =
            unpack(&std::fs::read(corpus_dir().join(name)).unwrap(), &Default::default());
        assert_eq!(files[0].bytes, xml, "{name}");
        assert!(files[0].is_xml(), "{name}: {}", files[0].content_type);
    }
}

/// xorshift64*: the same mutations every run, so a failure names the seed and index.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEED: u64 = 0x7E4E_F14E_2026;
/// Lengths and counts a forger would try, written over any 4 bytes.
const FORGED: [u32; 6] = [0, 1, 0x7FFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFF0, 0x0001_0000];

/// One mutation of `bytes`: flipped bits, a forged 32-bit value, or a cut.
fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match rng.below(3) {
        0 => {
            for _ in 0..=rng.below(4) {
                let at = rng.below(out.len());
                out[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            let at = rng.below(out.len().saturating_sub(4));
            let value = FORGED[rng.below(FORGED.len())].to_le_bytes();
            out[at..at + 4].copy_from_slice(&value);
        }
        _ => out.truncate(rng.below(out.len())),
    }
    out
}

/// Tight limits make the bounds bite on the mutations too.
fn tight() -> AttachmentLimits {
    AttachmentLimits {
        zip_max_entries: 3,
        zip_max_uncompressed_bytes: 20 * 1024,
        zip_max_depth: 1,
        ..AttachmentLimits::default()
    }
}

#[test]
fn mutations_of_the_valid_files_never_panic_and_stay_bounded() {
    let mut rng = Rng(SEED);
    let mut runs = 0;
    for (name, bytes) in corpus().iter().filter(|(n, _)| n.starts_with("valida_")) {
        for index in 0..1500 {
            let mutated = mutate(&mut rng, bytes);
            let limits = if index % 2 == 0 { AttachmentLimits::default() } else { tight() };
            let outcome = std::panic::catch_unwind(|| unpack(&mutated, &limits));
            assert!(outcome.is_ok(), "{name}: mutation {index} of seed {SEED:#x} panicked");
            runs += 1;
        }
    }
    assert!(runs >= 7000, "only {runs} mutations");
}

#[test]
fn every_truncation_near_the_edges_and_across_the_valid_files_is_safe() {
    for (name, bytes) in corpus().iter().filter(|(n, _)| n.starts_with("valida_")) {
        let len = bytes.len();
        let edges = (0..len.min(96)).chain(len.saturating_sub(96)..len);
        let across = (0..len).step_by(37);
        for cut in edges.chain(across) {
            let (files, problems) = unpack(&bytes[..cut], &AttachmentLimits::default());
            // A cut between two attributes looks like a shorter stream; anywhere else the cut
            // is said. Either way no more comes out than the whole file gives.
            let (whole, _) = unpack(bytes, &AttachmentLimits::default());
            assert!(files.len() <= whole.len(), "{name} cut at {cut}: {files:?} {problems:?}");
        }
    }
}

/// A corpus file as Outlook attaches it.
fn outlook_mail(winmail: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(winmail);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!(
        "From: Ana <ana@cliente.example>\r\nTo: sd@dian.gov.co\r\nSubject: Factura\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nAdjunto la factura.\r\n--b\r\n\
         Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn every_corpus_file_inside_a_mail_is_read_by_the_whole_parser() {
    let limits = AttachmentLimits::default();
    for (name, bytes) in corpus() {
        let inbound = mesa_fe::mail::parse(&outlook_mail(&bytes), &limits)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(inbound.body_text.contains("Adjunto la factura"), "{name}");
        // The winmail.dat itself is never a file of the case: only what was inside it.
        assert!(inbound.files.iter().all(|f| f.source != "winmail.dat"), "{name}");
        if name.starts_with("valida_") {
            assert!(inbound.problems.is_empty(), "{name}: {:?}", inbound.problems);
            assert!(inbound.files.iter().any(|f| f.is_xml()), "{name}: {:?}", inbound.files);
        }
    }
}
