//! `mesa-fe reporte`: the service-level report ("niveles de servicio") over the cases created in
//! a period of whole days in the desk's time zone, as Markdown, CSV or JSON.

use std::path::Path;
use std::process::ExitCode;

use chrono::{NaiveDate, SubsecRound, Utc};
use mesa_fe::desk::report::{Period, PeriodError, Report};

use super::{
    EX_CONFIG, EX_DATAERR, EX_SOFTWARE, Failure, load_config, open_store, output_format,
    write_output,
};

/// The formats `--formato` accepts.
const FORMATS: [&str; 3] = ["md", "csv", "json"];

/// Builds the report for `desde`..`hasta` (AAAA-MM-DD, both included; by default the current
/// month up to today) and writes it to `salida`, or to standard output without it.
pub async fn run(
    config_path: Option<&Path>,
    desde: Option<&str>,
    hasta: Option<&str>,
    formato: &str,
    salida: Option<&Path>,
) -> Result<ExitCode, Failure> {
    let format = output_format(formato, &FORMATS)?;
    let from = desde.map(|d| parse_date("--desde", d)).transpose()?;
    let to = hasta.map(|d| parse_date("--hasta", d)).transpose()?;
    let config = load_config(config_path)?;
    let now = Utc::now().trunc_subsecs(0);
    let hours = config.zone().offset_hours(now);
    let period = Period::today(now, hours)
        .and_then(|today| Period::resolve(from, to, today, hours))
        .map_err(|error| match error {
            PeriodError::Reversed { from, to } if hasta.is_some() => Failure::new(
                EX_DATAERR,
                format!(
                    "--hasta ({to}) es anterior a --desde ({from}): la fecha final debe ser igual o \
                     posterior a la inicial"
                ),
            ),
            PeriodError::Reversed { from, to } => Failure::new(
                EX_DATAERR,
                format!(
                    "--desde ({from}) es posterior a hoy ({to}); indique también --hasta o una \
                     fecha que no haya pasado todavía"
                ),
            ),
            PeriodError::Offset(_) => Failure::new(
                EX_CONFIG,
                format!("general.zona_horaria_horas: {error}"),
            ),
            PeriodError::OutOfRange(_) => Failure::new(EX_DATAERR, error.to_string()),
        })?;
    let store = open_store(&config).await?;
    let rows = store.report_rows(period.start, period.end).await;
    store.close().await;
    let report = Report::build(period, period.local(now), &rows?);
    let text = match format.as_str() {
        "csv" => report.to_csv(),
        "json" => report
            .to_json()
            .map_err(|e| Failure::new(EX_SOFTWARE, format!("no se pudo escribir el JSON: {e}")))?,
        _ => report.to_markdown(),
    };
    if write_output(salida, &text)? {
        let cases = match report.total_cases {
            1 => "1 caso creado".to_owned(),
            n => format!("{n} casos creados"),
        };
        say!(
            "Informe de niveles de servicio escrito en {}: {cases} del {} al {}.",
            salida.map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
            report.period.from,
            report.period.to
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A date written AAAA-MM-DD (exactly: four-digit year, two-digit month and day).
fn parse_date(flag: &str, text: &str) -> Result<NaiveDate, Failure> {
    let text = text.trim();
    let shaped = text.len() == 10
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shaped.then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()).flatten().ok_or_else(|| {
        Failure::new(
            EX_DATAERR,
            format!(
                "fecha inválida en {flag}: \"{text}\"; escríbala como AAAA-MM-DD, por ejemplo \
                     2026-03-01"
            ),
        )
    })
}
