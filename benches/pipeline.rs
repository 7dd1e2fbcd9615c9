//! Benchmark of parse + classify + store on a generated corpus of realistic messages: a provider's
//! e-mail with a ZIP holding an AttachedDocument (invoice + DIAN response) and a PDF, ~50 KB each.
//! Prints messages/s, MB/s and peak RSS; asserts nothing (machines are shared and noisy).
//!
//! Run: `cargo bench --bench pipeline` (optional: `MESA_FE_BENCH_MESSAGES=5000`).

use std::io::Write;
use std::time::Instant;

use base64::Engine;
use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::Store;
use mesa_fe::store::raw::Origin;

const TEMPLATE_AD: &str = include_str!("../tests/fixtures/dian/ad_factura_validada_02.xml");
const TEMPLATE_NUMBER: &str = "LCE4821";
const TEMPLATE_CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";

const BODIES: [&str; 4] = [
    "Buenas tardes. Adjunto el contenedor de la factura {n}; el cliente dice que no la recibió. NIT 900.481.236-1.",
    "Cordial saludo. La factura {n} aparece validada pero el adquiriente no la ve en su buzón. ¿Pueden revisar?",
    "Buenos días, solicitamos confirmar el estado de la factura {n} de Distribuidora La Ceiba (NIT 900481236).",
    "Hola, reenvío el XML de la factura {n} porque el portal muestra un error al consultarla por CUFE.",
];

/// Deterministic pseudo-random bytes (xorshift), so every run measures the same corpus.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn hex(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap_or('0')).collect()
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> 24) as u8).collect()
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        writer.start_file(*name, options).expect("zip entry");
        writer.write_all(bytes).expect("zip write");
    }
    writer.finish().expect("zip finish").into_inner()
}

fn message(i: usize, noise: &mut Noise) -> Vec<u8> {
    let number = format!("LCE{:06}", 100_000 + i);
    let ad = TEMPLATE_AD.replace(TEMPLATE_NUMBER, &number).replace(TEMPLATE_CUFE, &noise.hex(96));
    // A PDF's streams are compressed: random bytes are the honest stand-in.
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend(noise.bytes(28_000));
    let name = format!("ad0900481236{:08x}.xml", i);
    let zip = zip_of(&[(name.as_str(), ad.as_bytes()), ("representacion.pdf", &pdf)]);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&zip);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    let body = BODIES[i % BODIES.len()].replace("{n}", &number);
    format!(
        "Return-Path: <proveedor{p}@andinas-contables.example>\r\nFrom: Soporte {p} <proveedor{p}@andinas-contables.example>\r\n\
         To: sd_fistrib_fe_aliados@dian.gov.co\r\nSubject: 900481236;Distribuidora La Ceiba;{number};01;La Ceiba\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nMessage-ID: <bench.{i}@andinas-contables.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"limite\"\r\n\r\n--limite\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\r\nAtentamente,\r\nMesa de soporte del proveedor\r\n--limite\r\n\
         Content-Type: application/zip; name=\"z0900481236.zip\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"z0900481236.zip\"\r\n\r\n{zip}\r\n--limite--\r\n",
        p = i % 37,
        zip = lines.join("\r\n"),
    )
    .into_bytes()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn report(label: &str, count: usize, bytes: usize, seconds: f64) {
    println!(
        "{label:<34} {count:>6} mensajes  {:>9.1} mensajes/s  {:>7.1} MB/s  ({seconds:.2} s)",
        count as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

/// The corpus lives on disk, as mail does; it is read a batch at a time, so the peak RSS
/// printed at the end is the pipeline's, not the corpus's.
fn write_corpus(dir: &std::path::Path, count: usize) -> (Vec<std::path::PathBuf>, usize) {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut bytes = 0;
    let paths = (0..count)
        .map(|i| {
            let raw = message(i, &mut noise);
            bytes += raw.len();
            let path = dir.join(format!("{i:06}.eml"));
            std::fs::write(&path, raw).expect("write corpus");
            path
        })
        .collect();
    (paths, bytes)
}

fn read_batch(paths: &[std::path::PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().map(|p| std::fs::read(p).expect("read corpus")).collect()
}

const BATCH: usize = 64;

fn main() {
    let count: usize =
        std::env::var("MESA_FE_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let corpus_dir = dir.path().join("corpus");
    std::fs::create_dir(&corpus_dir).expect("corpus dir");
    let (paths, bytes) = write_corpus(&corpus_dir, count);
    println!(
        "Corpus: {count} mensajes, {:.1} MB, {:.1} KB de media (en disco, leídos de a {BATCH})",
        bytes as f64 / 1e6,
        bytes as f64 / 1e3 / count as f64
    );

    let mut config = Config::builtin().expect("config");
    config.general.database_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let desk = Desk::new(config, KnowledgeBase::builtin());
    let buzon = desk.config.buzon("aliados").expect("buzón").clone();

    let started = Instant::now();
    let mut documents = 0;
    for chunk in paths.chunks(BATCH) {
        for raw in read_batch(chunk) {
            documents += desk.analyze(&raw, &buzon).documents.len();
        }
    }
    report("parse + clasificar (sin base)", count, bytes, started.elapsed().as_secs_f64());
    assert_eq!(
        documents,
        count * 3,
        "every message yields its AttachedDocument, invoice and response"
    );

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let origin = Origin::local(buzon.name.clone());
        let store = Store::open(&desk.config.database_url()).await.expect("store");
        let started = Instant::now();
        let mut opened = 0;
        for chunk in paths.chunks(BATCH) {
            let batch = read_batch(chunk);
            let raws: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let outcomes = desk.ingest_batch(&store, &origin, &raws).await.expect("ingest");
            opened += outcomes.iter().filter(|o| matches!(o, Outcome::Opened { .. })).count();
        }
        report(
            "ingest completo a SQLite, lotes de 64",
            count,
            bytes,
            started.elapsed().as_secs_f64(),
        );
        assert_eq!(opened, count);
        store.close().await;

        // The same work split as the daemon does it: store raw first, process afterwards.
        let split_url = format!("sqlite://{}", dir.path().join("split.db").display());
        let split = Store::open(&split_url).await.expect("store");
        let started = Instant::now();
        for path in &paths {
            let raw = std::fs::read(path).expect("read");
            let message_id = mesa_fe::pipeline::message_id_of(&raw);
            split.store_raw(&origin, message_id.as_deref(), &raw).await.expect("raw");
        }
        report("  solo guardar el crudo, de a uno", count, bytes, started.elapsed().as_secs_f64());
        let started = Instant::now();
        let processed = desk.process_pending(&split).await.expect("process");
        report("  procesar lo guardado", count, bytes, started.elapsed().as_secs_f64());
        assert_eq!(processed.len(), count);
        let rounds = 2000;
        let started = Instant::now();
        for _ in 0..rounds {
            split.case_of_raw(1).await.expect("query");
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        println!("  ida y vuelta de una consulta sqlx: {micros:.0} µs");
        split.close().await;
    });
    let db_size = std::fs::metadata(dir.path().join("bench.db")).map(|m| m.len()).unwrap_or(0);
    println!("Base SQLite: {:.1} MB para {count} casos", db_size as f64 / 1e6);
    println!("RSS máximo del proceso: {:.1} MiB", peak_rss_mib());
}
