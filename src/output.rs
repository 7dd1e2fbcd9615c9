//! Standard output of the one-shot commands. `println!` panics when the reader is gone
//! (`mesa-fe kb list | head -1`): Rust ignores SIGPIPE, so the write fails with EPIPE instead of
//! ending the process. Every line goes through here, where a closed pipe ends the command the
//! way a shell tool ends on SIGPIPE: quietly, with status 141.

use std::io::{self, Write};

/// Exit status of a process ended by SIGPIPE, as shells report it (128 + 13).
const EXIT_BROKEN_PIPE: i32 = 141;

/// `println!` for the commands: a line on standard output; a closed pipe ends the process.
macro_rules! say {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Writes one line to standard output.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")) {
        stdout_failed(&error);
    }
}

/// Writes a whole document to standard output.
pub fn document(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        stdout_failed(&error);
    }
}

/// Nobody reads what follows: end now, without a message when the reader just left (what
/// `head` does), with one for any other failure (a full disk under a redirection).
fn stdout_failed(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_BROKEN_PIPE);
    }
    eprintln!("mesa-fe: no se pudo escribir en la salida estándar: {error}");
    std::process::exit(i32::from(crate::cli::EX_IOERR));
}
