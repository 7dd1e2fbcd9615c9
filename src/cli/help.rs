//! Spanish help for every command. clap writes its own words in English (`Usage:`,
//! `Options:`, `Print help`); the operators read Spanish, so the flags clap would add are
//! replaced by our own, every heading is named, and the few fixed words clap still writes into
//! usage lines are translated in what it renders.

use clap::{Arg, ArgAction, Command};

/// Help layout of every command: clap's default, with the usage heading in Spanish.
const TEMPLATE: &str = "{before-help}{about-with-newline}\nUso: {usage}\n\n{all-args}{after-help}";

/// Words clap writes on its own in usage lines, argument details and usage errors, and their
/// Spanish. Only whole phrases, so an operator's own text is never touched.
const FIXED_WORDS: [(&str, &str); 17] = [
    ("Usage:", "Uso:"),
    ("[OPTIONS]", "[OPCIONES]"),
    ("[default: ", "[por defecto: "),
    ("[possible values: ", "[valores posibles: "),
    ("[env: ", "[variable de entorno: "),
    ("For more information, try", "Para más información, use"),
    ("  tip: ", "  sugerencia: "),
    ("the following required arguments were not provided:", "faltan argumentos obligatorios:"),
    ("error: unexpected argument '", "error: argumento inesperado '"),
    ("' found\n", "'\n"),
    ("error: unrecognized subcommand '", "error: comando desconocido '"),
    ("error: invalid value '", "error: valor no válido '"),
    ("error: a value is required for '", "error: falta el valor de '"),
    ("' but none was supplied", "'"),
    ("a similar subcommand exists:", "quizás quiso decir:"),
    ("a similar argument exists:", "quizás quiso decir:"),
    ("a similar value exists:", "quizás quiso decir:"),
];

/// `command` and all its subcommands with Spanish help.
pub fn spanish(command: Command) -> Command {
    let is_root = command.get_version().is_some();
    let mut command = command
        .help_template(TEMPLATE)
        .subcommand_help_heading("Comandos")
        .subcommand_value_name("COMANDO")
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .arg(flag("ayuda", 'h', "help", ArgAction::Help, "Muestra esta ayuda."));
    if is_root {
        command = command.disable_version_flag(true).arg(flag(
            "version",
            'V',
            "version",
            ArgAction::Version,
            "Muestra la versión.",
        ));
    }
    command.mut_args(with_heading).mut_subcommands(spanish)
}

fn flag(
    id: &'static str,
    short: char,
    long: &'static str,
    action: ArgAction,
    help: &'static str,
) -> Arg {
    Arg::new(id).short(short).long(long).action(action).help(help)
}

/// Positional arguments under "Argumentos", the rest under "Opciones" (clap's headings are
/// English).
fn with_heading(arg: Arg) -> Arg {
    if arg.get_help_heading().is_some() {
        return arg;
    }
    let heading = if arg.is_positional() { "Argumentos" } else { "Opciones" };
    arg.help_heading(heading)
}

/// What clap rendered (help, version, a usage error), with its fixed English words in Spanish.
pub fn translate(rendered: &str) -> String {
    FIXED_WORDS
        .iter()
        .fold(rendered.to_string(), |text, (english, spanish)| text.replace(english, spanish))
}
