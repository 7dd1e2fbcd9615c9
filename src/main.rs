//! `mesa-fe`: command line of the support desk. Parses arguments, starts tracing, loads the
//! configuration and calls into the library; the work lives in `mesa_fe`.
#![forbid(unsafe_code)]

#[macro_use]
mod output;
mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Mesa de ayuda de Facturación Electrónica (DIAN): convierte los correos de los buzones en
/// casos, lee los XML adjuntos y enruta cada caso por los niveles de soporte.
#[derive(Debug, Parser)]
#[command(name = "mesa-fe", version, about, disable_help_subcommand = true)]
struct Args {
    /// Archivo de configuración TOML (por defecto, la configuración incluida; ver
    /// config/mesa-fe.example.toml).
    #[arg(long, global = true, env = "MESA_FE_CONFIG", value_name = "ARCHIVO")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ejecuta el servicio: vigila los buzones por IMAP y convierte cada correo en un caso.
    /// Se detiene con SIGTERM o Ctrl+C después de terminar el mensaje en curso.
    Run,
    /// Valida la configuración y dice qué clave está mal.
    CheckConfig,
    /// Crea o actualiza el esquema de la base de datos. Con --desde y --hacia, pasa una mesa de
    /// SQLite a una base PostgreSQL vacía: copia todas sus tablas, verifica la copia y la
    /// confirma, o no escribe nada.
    Migrate {
        /// La mesa que se copia: sqlite://RUTA del archivo. Antes de copiar se lleva al esquema
        /// de esta versión, como hace `mesa-fe migrate`.
        #[arg(long, value_name = "URL")]
        desde: Option<String>,
        /// La base PostgreSQL vacía que la recibe: postgres://USUARIO@SERVIDOR:PUERTO/BASE. La
        /// clave es la de la URL o, si no trae, la de general.base_datos_clave.
        #[arg(long, value_name = "URL")]
        hacia: Option<String>,
        /// Copia cada carácter U+0000 de un texto (que PostgreSQL no admite) como U+FFFD (�) en
        /// vez de negarse a copiar; la salida dice en qué tablas y columnas.
        #[arg(long)]
        reemplazar_nulos: bool,
    },
    /// Muestra lo que la mesa haría con un correo (.eml), sin escribir nada.
    Inspect {
        /// Salida en JSON (el contrato de `inspect`).
        #[arg(long)]
        json: bool,
        /// Buzón por el que se supone que llegó (por defecto, el primero configurado).
        #[arg(long, value_name = "NOMBRE")]
        buzon: Option<String>,
        /// Archivo .eml.
        #[arg(value_name = "ARCHIVO")]
        file: PathBuf,
    },
    /// Ingresa correos (.eml) por el flujo real: quedan como casos en la base de datos.
    Ingest {
        /// Buzón por el que se registran (por defecto, el primero configurado).
        #[arg(long, value_name = "NOMBRE")]
        buzon: Option<String>,
        /// Archivos .eml.
        #[arg(required = true, value_name = "ARCHIVOS")]
        files: Vec<PathBuf>,
    },
    /// Consulta los casos y actúa sobre ellos (las mismas acciones que los agentes por correo).
    #[command(subcommand)]
    Case(cli::CaseCommand),
    /// Mensajes que no se pudieron leer como correo y esperan a un operador.
    #[command(subcommand)]
    Quarantine(cli::QuarantineCommand),
    /// Base de errores conocidos (CT-CAC-0127).
    #[command(subcommand)]
    Kb(cli::KbCommand),
    /// Cola de correos de salida: respuestas y notificaciones.
    #[command(subcommand)]
    Outbox(cli::OutboxCommand),
    /// Registro de proveedores tecnológicos: los únicos remitentes que acepta el buzón de aliados.
    #[command(subcommand)]
    Proveedores(cli::providers::ProvidersCommand),
    /// Sesiones de la consola web: listar quién entró y revocar las de una dirección.
    #[command(subcommand)]
    Sesiones(cli::sessions::SessionsCommand),
    /// Informe de niveles de servicio de la Subdirección: casos creados en el período por tema,
    /// canal, estado y nivel máximo alcanzado; solución en primer contacto; mediana de horas hasta
    /// la solución por nivel; y cumplimiento de los ANS por nivel.
    Reporte {
        /// Primer día del período, AAAA-MM-DD, en la hora de la mesa (por defecto, el primer día
        /// del mes de --hasta).
        #[arg(long, value_name = "AAAA-MM-DD")]
        desde: Option<String>,
        /// Último día del período, incluido, AAAA-MM-DD (por defecto, hoy).
        #[arg(long, value_name = "AAAA-MM-DD")]
        hasta: Option<String>,
        /// md (Markdown, para leer), csv (una fila por indicador: seccion,clave,valor) o json.
        #[arg(long, default_value = "md")]
        formato: String,
        /// Archivo donde se escribe el informe (por defecto, la salida estándar).
        #[arg(long, value_name = "ARCHIVO")]
        salida: Option<PathBuf>,
    },
    /// Retención de datos personales: elimina los cuerpos y adjuntos de los casos cerrados
    /// antes del límite y conserva el registro de cada caso y su historial.
    Purge {
        /// Antigüedad del cierre: 365d, 12h, 90m o 30s (días, horas, minutos, segundos). Por
        /// defecto, `privacidad.retencion_dias` de la configuración.
        #[arg(long, value_name = "DURACION", num_args = 1..)]
        anteriores_a: Vec<String>,
        /// Solo lista lo que se eliminaría (caso, cierre, mensajes, bytes); no cambia nada.
        #[arg(long)]
        simular: bool,
        /// Salida en JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    let daemon = matches!(args.command, Command::Run);
    init_tracing(if daemon { "info" } else { "warn" });
    if daemon {
        log_panics();
    }
    // The daemon runs one task per buzón; one-shot commands need a single thread.
    let mut builder = if daemon {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mesa-fe: no se pudo iniciar el runtime: {error}");
            return ExitCode::from(cli::EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("mesa-fe: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// The arguments, parsed by the Spanish version of the command line. Help, version and usage
/// errors are printed here, in Spanish, and end the process with clap's status.
fn parse_args() -> Result<Args, ExitCode> {
    let matches = cli::help::spanish(Args::command()).try_get_matches().map_err(clap_exit)?;
    Args::from_arg_matches(&matches).map_err(clap_exit)
}

fn clap_exit(error: clap::Error) -> ExitCode {
    let text = cli::help::translate(&error.render().to_string());
    if error.use_stderr() {
        eprint!("{text}");
    } else {
        output::document(&text);
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(cli::EX_SOFTWARE))
}

async fn run(args: Args) -> Result<ExitCode, cli::Failure> {
    let config_path = args.config.as_deref();
    match args.command {
        Command::Run => cli::run(config_path).await,
        Command::CheckConfig => cli::check_config(config_path),
        Command::Migrate { desde, hacia, reemplazar_nulos } => {
            cli::copy::run(config_path, desde.as_deref(), hacia.as_deref(), reemplazar_nulos).await
        }
        Command::Inspect { json, buzon, file } => {
            cli::inspect(config_path, buzon.as_deref(), &file, json)
        }
        Command::Ingest { buzon, files } => {
            cli::ingest(config_path, buzon.as_deref(), &files).await
        }
        Command::Case(command) => cli::case(config_path, command).await,
        Command::Quarantine(command) => cli::quarantine(config_path, command).await,
        Command::Kb(command) => cli::kb(config_path, command).await,
        Command::Outbox(command) => cli::outbox(config_path, command).await,
        Command::Proveedores(command) => cli::providers::run(config_path, command).await,
        Command::Sesiones(command) => cli::sessions::run(config_path, command).await,
        Command::Reporte { desde, hasta, formato, salida } => {
            cli::report::run(
                config_path,
                desde.as_deref(),
                hasta.as_deref(),
                &formato,
                salida.as_deref(),
            )
            .await
        }
        Command::Purge { anteriores_a, simular, json } => {
            cli::purge::purge(config_path, &anteriores_a, simular, json).await
        }
    }
}

/// A panic's message may quote what the task was working on (an address, a line of a body):
/// under the daemon it goes to the log masked, as every other error does, instead of raw to
/// stderr. The supervisor then restarts the task (`mesa_fe::supervisor`).
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = mesa_fe::supervisor::panic_text(info.payload());
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
            .then(|| backtrace.to_string());
        tracing::error!(
            event = "panico",
            location = location.as_deref().unwrap_or("?"),
            message = %mesa_fe::text::mask_personal(&message),
            backtrace = backtrace.as_deref(),
            "fallo interno (pánico)"
        );
    }));
}

/// Logs go to stderr; `RUST_LOG` overrides the default level (info for the daemon, warn for
/// one-shot commands).
fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // PostgreSQL's notices ("relation … already exists, skipping" at every start) are not news.
    let filter = match "sqlx::postgres::notice=warn".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    };
    // Under systemd stderr goes to the journal (JOURNAL_STREAM is set): one JSON object per
    // line, for `journalctl -o cat | jq` and log shippers; on a terminal, readable text.
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
        return;
    }
    let colors = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colors)
        .with_writer(std::io::stderr)
        .init();
}
