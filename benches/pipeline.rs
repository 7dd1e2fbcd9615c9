//! Benchmark of parse + classify + store on a generated corpus of realistic messages: a provider's
//! e-mail with a ZIP holding an AttachedDocument (invoice + DIAN response) and a PDF, ~50 KB each.
//! Prints messages/s, MB/s and peak RSS; asserts nothing (machines are shared and noisy).
//!
//! Run: `cargo bench --bench pipeline` (optional: `MESA_FE_BENCH_MESSAGES=5000`).

mod common;
#[path = "../tests/common/db.rs"]
mod db;

use std::time::Instant;

use common::{Noise, SEED, message, report, status_mib};
use db::{Backend, TestDb};
use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::{Desk, Outcome};
use mesa_fe::store::Store;
use mesa_fe::store::raw::Origin;

/// The corpus lives on disk, as mail does; it is read a batch at a time, so the peak RSS
/// printed at the end is the pipeline's, not the corpus's.
fn write_corpus(dir: &std::path::Path, count: usize) -> (Vec<std::path::PathBuf>, usize) {
    let mut noise = Noise(SEED);
    let mut bytes = 0;
    let paths = (0..count)
        .map(|i| {
            let raw = message(i, "bench", &mut noise);
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

    // Two SQLite stores, whatever MESA_FE_PRUEBA_BASE says (the figures are SQLite's): ingest
    // whole, and the daemon's split (store raw, process afterwards).
    let (whole, split_db) = (TestDb::on(Backend::Sqlite), TestDb::on(Backend::Sqlite));
    let mut config = Config::builtin().expect("config");
    config.general.database_url = whole.url();
    let desk = std::sync::Arc::new(Desk::new(config, KnowledgeBase::builtin()));
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
        let split = Store::open(&split_db.url()).await.expect("store");
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
    let db_size =
        whole.sqlite_path().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
    println!("Base SQLite: {:.1} MB para {count} casos", db_size as f64 / 1e6);
    println!("RSS máximo del proceso: {:.1} MiB", status_mib(None, "VmHWM").unwrap_or(0.0));
}
