//! `mesa-fe purge`: privacy by design. The bodies and attachments of cases closed before the
//! retention limit are removed; the case record and its event log stay. `--simular` lists what
//! would go and changes nothing.

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use mesa_fe::store::outbox::timestamp;
use mesa_fe::store::purge::{PurgedCase, SpaceReport};
use serde_json::json;

use super::{EX_DATAERR, EX_IOERR, Failure, load_config, open_store, show};

const DAY: u64 = 24 * 3600;

/// Seconds in a duration written as a whole number and one unit: `365d` (days), `12h` (hours),
/// `90m` (minutes) or `30s` (seconds). The error is the operator's message.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid = || {
        format!(
            "duración inválida: \"{text}\"; escriba un número entero seguido de d (días), \
             h (horas), m (minutos) o s (segundos), sin espacios, por ejemplo 365d, 12h, 90m o 30s"
        )
    };
    let trimmed = text.trim();
    let Some(unit) = trimmed.chars().last() else { return Err(invalid()) };
    let number = &trimmed[..trimmed.len() - unit.len_utf8()];
    let per_unit = match unit {
        'd' => DAY,
        'h' => 3600,
        'm' => 60,
        's' => 1,
        _ => return Err(invalid()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let too_long = || format!("duración demasiado grande: \"{text}\"");
    let count: u64 = number.parse().map_err(|_| too_long())?;
    count.checked_mul(per_unit).ok_or_else(too_long)
}

/// The retention limit: cases closed at or before this instant (RFC 3339 UTC, as stored).
pub fn cutoff(now: DateTime<Utc>, seconds: u64) -> Result<String, String> {
    i64::try_from(seconds)
        .ok()
        .and_then(chrono::Duration::try_seconds)
        .and_then(|age| now.checked_sub_signed(age))
        .map(timestamp)
        .ok_or_else(|| format!("duración demasiado grande: {seconds} segundos"))
}

/// `mesa-fe purge [--anteriores-a 365d] [--simular] [--json]`. `anteriores_a` is the value as
/// typed, possibly split by the shell (`3 semanas`); empty: `privacidad.retencion_dias`.
pub async fn purge(
    config_path: Option<&Path>,
    anteriores_a: &[String],
    simular: bool,
    json: bool,
) -> Result<ExitCode, Failure> {
    let given = (!anteriores_a.is_empty()).then(|| anteriores_a.join(" "));
    // The argument is checked before the configuration is read: a typo costs nothing.
    let given_seconds = given
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|message| Failure::new(EX_DATAERR, format!("--anteriores-a: {message}")))?;
    let config = load_config(config_path)?;
    let (label, seconds) = match (given, given_seconds) {
        (Some(text), Some(seconds)) => (text.trim().to_string(), seconds),
        _ => {
            let days = config.privacidad.retention_days;
            (format!("{days}d"), u64::from(days) * DAY)
        }
    };
    let closed_before = cutoff(Utc::now(), seconds)
        .map_err(|message| Failure::new(EX_DATAERR, format!("--anteriores-a: {message}")))?;
    let store = open_store(&config).await?;
    let result = run(&store, &closed_before, simular).await;
    store.close().await;
    let (cases, space) = result?;
    if json {
        show::json(&json!({
            "dry_run": simular,
            "retention": label,
            "closed_before": closed_before,
            "cases": cases,
            "total_raw_messages": cases.iter().map(|c| c.raw_messages).sum::<i64>(),
            "total_bytes": cases.iter().map(|c| c.bytes).sum::<i64>(),
            "space": space,
        }))?;
    } else {
        print_table(&cases, simular, &label, &closed_before, &config.zone());
        if let Some(space) = &space {
            print_space(space, cases.iter().map(|c| c.bytes).sum());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of the listing, for a dry run and a real one alike.
#[derive(Debug, serde::Serialize)]
struct Line {
    number: String,
    closed_at: String,
    raw_messages: i64,
    bytes: i64,
    /// Only after a real run.
    #[serde(skip_serializing_if = "Option::is_none")]
    purged_at: Option<String>,
}

impl From<PurgedCase> for Line {
    fn from(p: PurgedCase) -> Line {
        Line {
            number: p.number,
            closed_at: p.closed_at,
            raw_messages: p.raw_messages,
            bytes: p.bytes,
            purged_at: Some(p.purged_at),
        }
    }
}

async fn run(
    store: &mesa_fe::store::Store,
    closed_before: &str,
    simular: bool,
) -> Result<(Vec<Line>, Option<SpaceReport>), Failure> {
    let candidates = store.purge_candidates(closed_before).await?;
    if simular {
        let lines = candidates
            .into_iter()
            .map(|c| Line {
                number: c.number,
                closed_at: c.closed_at,
                raw_messages: c.raw_messages,
                bytes: c.bytes,
                purged_at: None,
            })
            .collect();
        return Ok((lines, None));
    }
    let mut purged = Vec::with_capacity(candidates.len());
    for candidate in &candidates {
        // Each case is its own transaction: what was purged before a failure stays purged.
        match store.purge_case(candidate.case_id, closed_before).await {
            Ok(Some(done)) => purged.push(Line::from(done)),
            Ok(None) => {} // reopened or purged meanwhile by another run
            Err(error) => {
                return Err(Failure::new(
                    EX_IOERR,
                    format!(
                        "{error} (caso {}; {} casos depurados antes del error: ejecute `mesa-fe purge` \
                         otra vez para seguir)",
                        candidate.number,
                        purged.len()
                    ),
                ));
            }
        }
    }
    let space = if purged.is_empty() { None } else { Some(store.reclaim_space().await?) };
    Ok((purged, space))
}

fn print_table(
    cases: &[Line],
    simular: bool,
    label: &str,
    closed_before: &str,
    zone: &mesa_fe::desk::zone::Zone,
) {
    // Times as the operator reads them: local, the zone named once.
    let closed_before = &zone.show_with_zone_stored(closed_before);
    if cases.is_empty() {
        say!(
            "No hay casos cerrados hasta {closed_before} (retención {label}) pendientes de depurar."
        );
        return;
    }
    if simular {
        say!(
            "Simulación (no se modificó nada): se eliminarían los cuerpos y adjuntos de estos casos \
             cerrados hasta {closed_before} (retención {label}):"
        );
    } else {
        say!(
            "Cuerpos y adjuntos eliminados de los casos cerrados hasta {closed_before} (retención \
             {label}); se conservan el registro de cada caso y su historial:"
        );
    }
    say!("{:<18} {:<22} {:>9} {:>12}", "Caso", "Cerrado", "Mensajes", "Bytes");
    for case in cases {
        say!(
            "{:<18} {:<22} {:>9} {:>12}",
            case.number,
            zone.show_stored(&case.closed_at),
            case.raw_messages,
            case.bytes
        );
    }
    say!(
        "Total: {} casos, {} mensajes, {} bytes.",
        cases.len(),
        cases.iter().map(|c| c.raw_messages).sum::<i64>(),
        cases.iter().map(|c| c.bytes).sum::<i64>()
    );
}

fn print_space(space: &SpaceReport, bytes: i64) {
    match space.auto_vacuum.as_str() {
        "incremental" => say!(
            "Espacio: {} bytes devueltos al sistema de archivos (auto_vacuum incremental).",
            space.returned_bytes
        ),
        "full" => {
            say!("Espacio: SQLite reduce el archivo al confirmar cada caso (auto_vacuum completo).")
        }
        "postgresql" => say!(
            "Espacio: {bytes} bytes de cuerpos eliminados; el autovacuum de PostgreSQL los reutiliza \
             para datos nuevos (la tabla de cuerpos ocupa ahora {} bytes en el servidor).",
            space.free_bytes
        ),
        _ => say!(
            "Espacio: {bytes} bytes de cuerpos eliminados; el archivo de la base de datos conserva su \
             tamaño y reutiliza sus {} bytes libres para datos nuevos (para reducirlo, VACUUM con el \
             servicio detenido).",
            space.free_bytes
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_counts_its_seconds() {
        assert_eq!(parse_duration("365d"), Ok(365 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration("90m"), Ok(90 * 60));
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration(" 7d "), Ok(7 * 86_400), "surrounding blanks are harmless");
    }

    #[test]
    fn anything_else_is_refused_in_spanish() {
        let bad_ones = "|d|365|3 semanas|3semanas|1w|1y|1.5d|-1d|+1d|1D|1 d|1dd|d1|1ñ|٣d";
        for bad in bad_ones.split('|') {
            let error = parse_duration(bad).expect_err(bad);
            assert!(
                error.contains("duración inválida") && error.contains("365d"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn an_overflowing_duration_is_refused() {
        let error = parse_duration("99999999999999999999d").expect_err("too many digits");
        assert!(error.contains("demasiado grande"), "{error}");
        assert!(parse_duration("999999999999999999d").is_err(), "overflows when multiplied");
        assert!(cutoff(Utc::now(), u64::MAX).is_err());
        assert!(cutoff(Utc::now(), 9_000_000_000_000).is_err(), "before year -262144");
    }

    #[test]
    fn the_cutoff_is_a_stored_timestamp_that_far_back() {
        let now = DateTime::parse_from_rfc3339("2027-03-01T12:00:00Z").unwrap().to_utc();
        assert_eq!(cutoff(now, 365 * DAY).as_deref(), Ok("2026-03-01T12:00:00Z"));
        assert_eq!(cutoff(now, 90 * 60).as_deref(), Ok("2027-03-01T10:30:00Z"));
        assert_eq!(cutoff(now, 0).as_deref(), Ok("2027-03-01T12:00:00Z"));
    }
}
