//! Worst-case parse rates: hostile and merely heavy messages of 1, 5 and 25 MB through the whole
//! of `Desk::analyze`, to show that reading mail is linear in its size (issue 11, point 2). Per
//! case: messages/s, µs per KB and the peak RSS of a process that analyses only that case (the
//! bench runs itself once per case; the peak includes the message's own bytes). Then the three
//! figures of the issue: the 4.7 MB multipart nested 64,000 deep, the 2.9 MB Cc of 200,000
//! addresses and the 14.5 MB forward nested 200,000 deep. Asserts nothing (machines are shared).
//!
//! Run: `cargo bench --bench parse_worst`.

mod common;

use std::process::Command;
use std::time::Instant;

use common::{Noise, SEED, big_message, status_mib};
use mesa_fe::config::Config;
use mesa_fe::desk::knowledge::KnowledgeBase;
use mesa_fe::pipeline::Desk;

const HEAD: &str = "From: Ana Ruiz <ana.ruiz@contribuyente.example>\r\n\
                    To: sd_facturaelectronica@dian.gov.co\r\n\
                    Subject: Factura FE-991 rechazada\r\n\
                    Message-ID: <peor-caso@contribuyente.example>\r\n\
                    Date: Mon, 2 Mar 2026 10:00:00 -0500\r\nMIME-Version: 1.0\r\n";

const WORDS: &str = "Buenos dias, la factura FE-991 fue rechazada. NIT 900481236.";

/// The generated cases, by name.
const CASES: [&str; 7] = [
    "multipart-anidado",
    "rfc822-anidado",
    "direcciones-cc",
    "partes-hermanas",
    "cabecera-plegada",
    "adjunto-base64",
    "html-etiquetas",
];

const SIZES_MB: [usize; 3] = [1, 5, 25];

/// Multiparts nested until about `bytes` (a level is ~74 bytes), closed in order.
fn deep_multipart(bytes: usize) -> Vec<u8> {
    deep_multipart_levels(bytes / 74)
}

fn deep_multipart_levels(levels: usize) -> Vec<u8> {
    let mut raw = HEAD.as_bytes().to_vec();
    for level in 0..levels {
        let part =
            format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n");
        raw.extend_from_slice(part.as_bytes());
    }
    raw.extend_from_slice(format!("Content-Type: text/plain\r\n\r\n{WORDS}\r\n").as_bytes());
    for level in (0..levels).rev() {
        raw.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
    }
    raw
}

/// Forwards (`message/rfc822`) nested until `bytes`.
fn deep_rfc822(bytes: usize) -> Vec<u8> {
    let mut raw = format!("{HEAD}Content-Type: message/rfc822\r\n\r\n").into_bytes();
    let mut level = 0;
    while raw.len() < bytes {
        let forward = format!(
            "From: r{level}@otro.example\r\nSubject: RV\r\nContent-Type: message/rfc822\r\n\r\n"
        );
        raw.extend_from_slice(forward.as_bytes());
        level += 1;
    }
    raw.extend_from_slice(format!("Content-Type: text/plain\r\n\r\n{WORDS}\r\n").as_bytes());
    raw
}

/// One Cc field of short addresses until `bytes`.
fn many_addresses(bytes: usize) -> Vec<u8> {
    let mut cc = String::from("Cc: ");
    let mut i = 0;
    while cc.len() < bytes {
        cc.push_str(&format!("u{i}@x.co, "));
        i += 1;
    }
    format!("{HEAD}{}\r\n\r\n{WORDS}\r\n", cc.trim_end_matches([',', ' '])).into_bytes()
}

/// A multipart/mixed of small text parts until `bytes`.
fn sibling_parts(bytes: usize) -> Vec<u8> {
    let mut raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n\
         --p\r\nContent-Type: text/plain\r\n\r\n{WORDS}\r\n"
    )
    .into_bytes();
    let mut i = 0;
    while raw.len() < bytes {
        raw.extend_from_slice(
            format!("--p\r\nContent-Type: text/plain\r\n\r\nparte {i}\r\n").as_bytes(),
        );
        i += 1;
    }
    raw.extend_from_slice(b"--p--\r\n");
    raw
}

/// A subject folded over lines of 76 characters until `bytes`.
fn folded_header(bytes: usize) -> Vec<u8> {
    let mut raw = HEAD.replace("Subject: Factura FE-991 rechazada\r\n", "").into_bytes();
    raw.extend_from_slice(b"Subject: Factura FE-991 rechazada");
    let line = "\r\n la factura electronica fue rechazada por la regla FAD06 sin motivo claro";
    while raw.len() < bytes {
        raw.extend_from_slice(line.as_bytes());
    }
    raw.extend_from_slice(format!("\r\n\r\n{WORDS}\r\n").as_bytes());
    raw
}

/// A text/html body of many small tags until `bytes`.
fn html_tags(bytes: usize) -> Vec<u8> {
    let mut raw =
        format!("{HEAD}Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{WORDS}</p>")
            .into_bytes();
    let mut i = 0;
    while raw.len() < bytes {
        raw.extend_from_slice(format!("<div><b>Celda</b> <i>{i}</i><br></div>\r\n").as_bytes());
        i += 1;
    }
    raw.extend_from_slice(b"</body></html>\r\n");
    raw
}

fn generate(case: &str, bytes: usize) -> Vec<u8> {
    match case {
        "multipart-anidado" => deep_multipart(bytes),
        "rfc822-anidado" => deep_rfc822(bytes),
        "direcciones-cc" => many_addresses(bytes),
        "partes-hermanas" => sibling_parts(bytes),
        "cabecera-plegada" => folded_header(bytes),
        "adjunto-base64" => big_message("peor-caso", bytes, &mut Noise(SEED)),
        "html-etiquetas" => html_tags(bytes),
        // The issue's own figures.
        "issue-multipart-64000" => deep_multipart_levels(64_000),
        "issue-cc-200000" => many_addresses_counted(200_000),
        "issue-rfc822-200000" => deep_rfc822_counted(200_000),
        other => panic!("caso desconocido: {other}"),
    }
}

fn many_addresses_counted(count: usize) -> Vec<u8> {
    let cc: Vec<String> = (0..count).map(|i| format!("u{i}@x.co")).collect();
    format!("{HEAD}Cc: {}\r\n\r\n{WORDS}\r\n", cc.join(", ")).into_bytes()
}

fn deep_rfc822_counted(levels: usize) -> Vec<u8> {
    let mut raw = format!("{HEAD}Content-Type: message/rfc822\r\n\r\n").into_bytes();
    for level in 0..levels {
        let forward = format!(
            "From: r{level}@otro.example\r\nSubject: RV\r\nContent-Type: message/rfc822\r\n\r\n"
        );
        raw.extend_from_slice(forward.as_bytes());
    }
    raw.extend_from_slice(format!("Content-Type: text/plain\r\n\r\n{WORDS}\r\n").as_bytes());
    raw
}

/// In a process of its own: analyses one case until about a second has passed (at least once)
/// and prints `bytes runs seconds peak_mib problems`.
fn run_case(case: &str, bytes: usize) {
    let raw = generate(case, bytes);
    let desk = Desk::new(Config::builtin().expect("config"), KnowledgeBase::builtin());
    let buzon = desk.config.buzon("facturaelectronica").expect("buzón").clone();
    let started = Instant::now();
    let mut runs = 0;
    let mut problems = 0;
    while runs == 0 || (started.elapsed().as_secs_f64() < 1.0 && runs < 50) {
        problems = desk.analyze(&raw, &buzon).problems.len();
        runs += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = status_mib(None, "VmHWM").unwrap_or(f64::NAN);
    println!("{} {runs} {seconds} {peak} {problems}", raw.len());
}

/// Runs one case in a child process and reads its figures.
fn measure(case: &str, bytes: usize) -> Option<(usize, usize, f64, f64, usize)> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe).args(["--caso", case, &bytes.to_string()]).output().ok()?;
    if !output.status.success() {
        eprintln!("{case}: el proceso terminó con {}", output.status);
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    Some((
        fields.next()?.parse().ok()?,
        fields.next()?.parse().ok()?,
        fields.next()?.parse().ok()?,
        fields.next()?.parse().ok()?,
        fields.next()?.parse().ok()?,
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--caso") {
        let bytes = args.get(at + 2).and_then(|b| b.parse().ok()).unwrap_or(1_000_000);
        return run_case(&args[at + 1], bytes);
    }
    println!(
        "{:<22} {:>6} {:>9} {:>11} {:>9} {:>10} {:>9}",
        "caso", "MB", "mensajes", "mensajes/s", "µs/KB", "pico MiB", "problemas"
    );
    for case in CASES {
        for mb in SIZES_MB {
            print_case(case, mb * 1_000_000);
        }
    }
    println!("\nCifras del issue 11 (una ejecución cada una):");
    for case in ["issue-multipart-64000", "issue-cc-200000", "issue-rfc822-200000"] {
        print_case(case, 0);
    }
}

fn print_case(case: &str, bytes: usize) {
    match measure(case, bytes) {
        Some((size, runs, seconds, peak, problems)) => {
            let per_message = seconds / runs as f64;
            println!(
                "{case:<22} {:>6.1} {runs:>9} {:>11.1} {:>9.2} {peak:>10.1} {problems:>9}   ({:.3} s por mensaje)",
                size as f64 / 1e6,
                1.0 / per_message,
                per_message * 1e6 / (size as f64 / 1024.0),
                per_message,
            );
        }
        None => println!("{case:<22} sin cifras"),
    }
}
