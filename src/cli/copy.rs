//! `mesa-fe migrate --desde sqlite://… --hacia postgres://…`: moving a desk from its SQLite file
//! to an empty PostgreSQL database. The copy itself (and all its SQL) is
//! `mesa_fe::store::copy`; here are the arguments, the password, the exit codes and the table
//! the operator reads.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use mesa_fe::store::copy::{self, CopyError, CopyReport, Progress};
use mesa_fe::store::{Store, redact_url};

use super::{
    EX_DATAERR, EX_NOINPUT, EX_SOFTWARE, EX_TEMPFAIL, EX_USAGE, Failure, load_config,
    migrate_configured,
};

/// `migrate`: with neither option, the configured database's migrations; with both, the copy.
pub async fn run(
    path: Option<&Path>,
    desde: Option<&str>,
    hacia: Option<&str>,
    replace_nul: bool,
) -> Result<ExitCode, Failure> {
    let (from, to) = match (desde, hacia) {
        (None, None) if replace_nul => {
            return Err(Failure::new(
                EX_USAGE,
                "--reemplazar-nulos es para la copia: va con --desde y --hacia",
            ));
        }
        (None, None) => return migrate_configured(path).await,
        (Some(from), Some(to)) => (from, to),
        (Some(_), None) => return Err(Failure::new(EX_USAGE, missing("--hacia", "--desde"))),
        (None, Some(_)) => return Err(Failure::new(EX_USAGE, missing("--desde", "--hacia"))),
    };
    copy::check_pair(from, to).map_err(failure)?;
    let before = copy::sqlite_version(from).await.map_err(failure)?;
    let password = target_password(path, to)?;

    let source = Store::open(from).await?;
    let target = match Store::open_with_password(to, password.as_ref().map(|p| p.expose())).await {
        Ok(target) => target,
        Err(error) => {
            source.close().await;
            let code = Failure::from_store(&error);
            return Err(Failure::new(code, format!("base de destino (--hacia): {error}")));
        }
    };
    let started = Instant::now();
    let mut lap = started;
    let options = copy::Options { replace_nul };
    let result = copy::copy_desk(&source, &target, options, |progress| {
        let seconds = decimal(lap.elapsed().as_secs_f64());
        lap = Instant::now();
        match progress {
            Progress::Checked { tables, rows } => eprintln!(
                "  origen revisado: {tables} tablas, {rows} filas, ningún valor que PostgreSQL no \
                 pueda guardar ({seconds} s)"
            ),
            Progress::Copied { table, rows } => {
                eprintln!("  copiada {table}: {rows} {} ({seconds} s)", rows_word(rows))
            }
        }
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    source.close().await;
    target.close().await;
    let report = result.map_err(failure)?;
    print_report(from, to, before, &report, elapsed);
    Ok(ExitCode::SUCCESS)
}

fn missing(absent: &str, given: &str) -> String {
    format!(
        "{given} va con {absent}: `mesa-fe migrate --desde sqlite://ARCHIVO --hacia \
         postgres://USUARIO@SERVIDOR:PUERTO/BASE` pasa una mesa de SQLite a PostgreSQL; \
         `mesa-fe migrate` sin opciones actualiza el esquema de general.base_datos"
    )
}

/// The target's password: the URL's own, else `general.base_datos_clave` of the configuration
/// (read only then, so a credential only the service can read does not stop a URL that carries
/// its password).
fn target_password(
    path: Option<&Path>,
    url: &str,
) -> Result<Option<mesa_fe::secrets::Secret>, Failure> {
    if url_has_password(url) {
        return Ok(None);
    }
    let config = load_config(path)?;
    match &config.general.database_password {
        Some(source) => mesa_fe::secrets::load(source)
            .map(Some)
            .map_err(|e| Failure::new(super::EX_CONFIG, format!("general.base_datos_clave: {e}"))),
        None => Ok(None),
    }
}

/// `postgres://user:secret@host/db` or `…?password=secret`.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, query) = match rest.split_once('?') {
        Some((before, query)) => (before, query),
        None => (rest, ""),
    };
    let authority = authority.split('/').next().unwrap_or_default();
    let in_authority =
        authority.rsplit_once('@').is_some_and(|(credentials, _)| credentials.contains(':'));
    in_authority || query.split('&').any(|pair| pair.starts_with("password="))
}

/// The exit code of a refused copy. A database that holds what the copy cannot take (a target
/// with rows, a source value PostgreSQL cannot store, a schema that differs) is 65, like other
/// bad data: the operator changes the data, not the configuration (78 says "fix the config and
/// restart", which would not help), and nothing was written.
fn failure(error: CopyError) -> Failure {
    let code = match &error {
        CopyError::UnsupportedPair { .. } => EX_USAGE,
        CopyError::SourceMissing { .. } => EX_NOINPUT,
        CopyError::SourceBusy => EX_TEMPFAIL,
        CopyError::TargetNotEmpty { .. }
        | CopyError::Schema { .. }
        | CopyError::BadValues { .. }
        | CopyError::BrokenReferences { .. } => EX_DATAERR,
        CopyError::Mismatch { .. } => EX_SOFTWARE,
        CopyError::Table { source, .. } | CopyError::Store(source) => Failure::from_store(source),
    };
    Failure::new(code, error.to_string())
}

fn print_report(from: &str, to: &str, before: Option<i64>, report: &CopyReport, seconds: f64) {
    let version = report.schema_version;
    let origin = match before {
        Some(v) if v == version => format!("ya estaba en el esquema {version} de esta versión"),
        Some(v) => format!(
            "estaba en el esquema {v}: se llevó al {version} de esta versión antes de copiar, \
             como hace `mesa-fe migrate`"
        ),
        None => format!("no tenía esquema: se creó el {version} de esta versión"),
    };
    say!("Origen:  {} ({origin})", redact_url(from));
    say!("Destino: {} (estaba vacía; esquema {version})", redact_url(to));
    say!();
    let width = report.tables.iter().map(|t| t.name.len()).max().unwrap_or(5).max(5);
    say!("{:<width$}  {:>12}  {:>13}", "tabla", "filas origen", "filas destino");
    let (mut rows, mut bytes) = (0_i64, 0_i64);
    for table in &report.tables {
        say!("{:<width$}  {:>12}  {:>13}", table.name, table.source.rows, table.target.rows);
        rows += table.target.rows;
        bytes += table.target.bytes;
    }
    say!("{:<width$}  {:>12}  {:>13}", "total", rows, rows);
    say!();
    if !report.replaced.is_empty() {
        let places: Vec<String> = report
            .replaced
            .iter()
            .map(|r| format!("{}.{} en {} {}", r.table, r.column, r.rows, rows_word(r.rows)))
            .collect();
        say!(
            "U+0000 copiado como U+FFFD (�), como pidió --reemplazar-nulos: {}.",
            places.join(", ")
        );
    }
    let megabytes = bytes as f64 / 1_000_000.0;
    let per_second = |amount: f64| if seconds > 0.0 { amount / seconds } else { 0.0 };
    say!(
        "Copia verificada y confirmada: {rows} filas en {} tablas ({} MB de correos) en {} s \
         ({} filas/s, {} MB/s). En cada tabla el destino tiene las mismas filas, el mismo id \
         máximo y los mismos bytes de cuerpos que el origen. La tabla leases (arrendamientos de \
         los nodos en marcha) no se copia.",
        report.tables.len(),
        decimal(megabytes),
        decimal(seconds),
        per_second(rows as f64).round(),
        decimal(per_second(megabytes)),
    );
    say!(
        "Siguiente paso: ponga general.base_datos = \"{}\" (la clave en general.base_datos_clave) \
         y arranque el servicio. El archivo SQLite queda como estaba: guárdelo como respaldo.",
        redact_url(to)
    );
}

fn rows_word(rows: i64) -> &'static str {
    if rows == 1 { "fila" } else { "filas" }
}

/// One decimal, with a decimal comma.
fn decimal(value: f64) -> String {
    format!("{value:.1}").replace('.', ",")
}

#[cfg(test)]
mod tests {
    use super::url_has_password;

    #[test]
    fn a_password_in_the_url_is_seen_wherever_it_is() {
        assert!(url_has_password("postgres://mesa:clave@127.0.0.1:5432/mesa"));
        assert!(url_has_password("postgres://mesa@h/db?sslmode=require&password=x"));
        assert!(!url_has_password("postgres://mesa@127.0.0.1:5432/mesa"));
        assert!(!url_has_password("postgresql://h/db?application_name=a:b"));
        assert!(!url_has_password("postgres://mesa@h/db:x@y"));
    }
}
