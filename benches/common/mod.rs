//! Corpus shared by the benches: deterministic, realistic messages (a provider's e-mail with a
//! ZIP holding an AttachedDocument and a PDF, ~50 KB), small text requests, one big message with
//! a PDF of a given size, the figures' formatting, and what the benches that run the daemon read
//! of the machine (cores, load, CPU time of processes).
#![allow(dead_code)] // each bench binary uses a different part of the corpus

use std::io::Write;
use std::path::Path;
use std::process::Command;

use base64::Engine;

const TEMPLATE_AD: &str = include_str!("../../tests/fixtures/dian/ad_factura_validada_02.xml");
const TEMPLATE_NUMBER: &str = "LCE4821";
const TEMPLATE_CUFE: &str = "d96f1533f0df6342ecdf29ead89c6039705250d2a5275e9799dc23df09a363e3fb5dcf4824c516402f73531dcba0d496";
/// The CUDE of the DIAN's response in the template: each response has its own, as in real mail
/// (one shared by every message would make each new case name every earlier one).
const TEMPLATE_RESPONSE_CUDE: &str = "41b822e4745c01668466a90aa6cea813ad87f8528b7aebb49f7d3f9b47995a48b6a4f3946e4b367e773bd69768ca4b1b";

/// Seed of the corpus: every run measures the same bytes.
pub const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Random bytes of the PDF in a realistic message (its streams are compressed: random bytes are
/// the honest stand-in).
const PDF_BYTES: usize = 28_000;

const BODIES: [&str; 4] = [
    "Buenas tardes. Adjunto el contenedor de la factura {n}; el cliente dice que no la recibió. NIT 900.481.236-1.",
    "Cordial saludo. La factura {n} aparece validada pero el adquiriente no la ve en su buzón. ¿Pueden revisar?",
    "Buenos días, solicitamos confirmar el estado de la factura {n} de Distribuidora La Ceiba (NIT 900481236).",
    "Hola, reenvío el XML de la factura {n} porque el portal muestra un error al consultarla por CUFE.",
];

/// Deterministic pseudo-random bytes (xorshift).
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn hex(&mut self, len: usize) -> String {
        (0..len).map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap_or('0')).collect()
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
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

/// Base64 in lines of 76 characters, CRLF-separated (as MIME wants it).
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    lines.join("\r\n")
}

/// The invoice number of message `i`, unique within a corpus (it is in the subject).
pub fn invoice_number(i: usize) -> String {
    format!("LCE{:06}", 100_000 + i)
}

/// Message `i` of the realistic corpus, ~50 KB: Message-ID `<TAG.i@andinas-contables.example>`,
/// from one of 37 senders (`proveedor{i % 37}@…`).
pub fn message(i: usize, tag: &str, noise: &mut Noise) -> Vec<u8> {
    message_from(i, i % 37, tag, noise)
}

/// Message `i` of the realistic corpus from sender `p` (`proveedor{p}@andinas-contables.example`).
/// A sender opens at most `casos_por_remitente_hora` cases an hour (10 by default), and its
/// further mail joins its latest case: a bench that wants every message to be a case of its own
/// gives each its own sender (`p = i`).
pub fn message_from(i: usize, p: usize, tag: &str, noise: &mut Noise) -> Vec<u8> {
    let number = invoice_number(i);
    let ad = TEMPLATE_AD
        .replace(TEMPLATE_NUMBER, &number)
        .replace(TEMPLATE_CUFE, &noise.hex(96))
        .replace(TEMPLATE_RESPONSE_CUDE, &noise.hex(96));
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend(noise.bytes(PDF_BYTES));
    let name = format!("ad0900481236{:08x}.xml", i);
    let zip = zip_of(&[(name.as_str(), ad.as_bytes()), ("representacion.pdf", &pdf)]);
    let body = BODIES[i % BODIES.len()].replace("{n}", &number);
    format!(
        "Return-Path: <proveedor{p}@andinas-contables.example>\r\nFrom: Soporte {p} <proveedor{p}@andinas-contables.example>\r\n\
         To: sd_fistrib_fe_aliados@dian.gov.co\r\nSubject: 900481236;Distribuidora La Ceiba;{number};01;La Ceiba\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 -0500\r\nMessage-ID: <{tag}.{i}@andinas-contables.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"limite\"\r\n\r\n--limite\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n\r\nAtentamente,\r\nMesa de soporte del proveedor\r\n--limite\r\n\
         Content-Type: application/zip; name=\"z0900481236.zip\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"z0900481236.zip\"\r\n\r\n{zip}\r\n--limite--\r\n",
        zip = base64_lines(&zip),
    )
    .into_bytes()
}

/// A short plain-text support request (~450 bytes), unique by `i` and `tag`.
pub fn small_request(i: usize, tag: &str) -> Vec<u8> {
    format!(
        "From: Proveedor {i} <proveedor{i}@pt.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Factura SETT{i:07} rechazada ({tag})\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\n\
         Message-ID: <{tag}.{i}@pt.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Buenos días. La factura SETT{i:07} del NIT 900481236 no fue aceptada por el adquiriente y \
         queremos saber qué revisar antes de volver a enviarla.\r\n"
    )
    .into_bytes()
}

/// One message of about `total_bytes` (within a few hundred bytes): a short text and a PDF of
/// random bytes, base64-encoded, as a scanned document sent whole would be.
pub fn big_message(tag: &str, total_bytes: usize, noise: &mut Noise) -> Vec<u8> {
    let head = format!(
        "From: Contabilidad <contabilidad@grande.example>\r\nTo: sd_facturaelectronica@dian.gov.co\r\n\
         Subject: Soportes escaneados de la factura FEG0000001 ({tag})\r\nDate: Thu, 26 Nov 2026 10:00:00 -0500\r\n\
         Message-ID: <{tag}.grande@grande.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"limite\"\r\n\r\n--limite\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Buenos días. Adjunto los soportes escaneados de la factura FEG0000001 (NIT 900481236), \
         que el adquiriente dice no haber recibido.\r\n--limite\r\n\
         Content-Type: application/pdf; name=\"soportes.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"soportes.pdf\"\r\n\r\n"
    );
    let tail = "\r\n--limite--\r\n";
    // 57 bytes become one line of 76 characters + CRLF.
    let room = total_bytes.saturating_sub(head.len() + tail.len());
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.extend(noise.bytes((room / 78 * 57).saturating_sub(9)));
    let mut raw = head.into_bytes();
    raw.extend(base64_lines(&pdf).into_bytes());
    raw.extend(tail.as_bytes());
    raw
}

/// One line of figures: count, messages/s, MB/s, seconds.
pub fn report(label: &str, count: usize, bytes: usize, seconds: f64) {
    println!(
        "{label:<38} {count:>6} mensajes  {:>9.1} mensajes/s  {:>7.1} MB/s  ({seconds:.2} s)",
        count as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
}

/// A `kB` field (VmRSS, VmHWM…) of `/proc/PID/status`, or of this process with `None`, in MiB.
pub fn status_mib(pid: Option<u32>, field: &str) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The load average (1, 5, 15 min) as `/proc/loadavg` has it.
/// A name no earlier run used (`{prefix}-{pid}-{seconds}`), for a run's folders on the stack.
pub fn run_name(prefix: &str) -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{prefix}-{}-{seconds}", std::process::id())
}

pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    load.join(" ")
}

/// The first lines of a bench that runs the daemon: cores, CPU, memory, load, the binary.
pub fn print_machine(binary: &Path) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    println!("== Máquina");
    println!("núcleos (nproc)        {cores}   CPU: {cpu}   memoria: {memory:.1} GiB");
    println!("carga al empezar       {} (1, 5, 15 min)", load_average());
    println!("demonio                {}", binary.display());
}

/// User + system CPU seconds of a process, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / clock_ticks())
}

/// CPU seconds used so far by the live processes named `comm` (`imap`: Dovecot's sessions that
/// serve mail; `postgres`: the server and its backends). A process that exited takes its share
/// with it.
pub fn processes_cpu(comm: &str) -> f64 {
    processes_cpu_where(comm, |_| true)
}

/// As [`processes_cpu`], only the processes whose command line (arguments joined by spaces: a
/// PostgreSQL backend shows `postgres: ROLE DATABASE HOST(PORT) STATE`) satisfies `wanted`.
pub fn processes_cpu_where(comm: &str, wanted: impl Fn(&str) -> bool) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|line| wanted(&String::from_utf8_lossy(&line).replace('\0', " ")))
        })
        .filter_map(cpu_seconds)
        .sum()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}
