//! The systemd notification protocol (`sd_notify(3)`) without libsystemd and without `unsafe`
//! in this crate.
//!
//! Under `Type=notify` systemd puts the address of a datagram socket in `NOTIFY_SOCKET` and waits
//! for `READY=1` before it considers the service started; `WatchdogSec=` adds `WATCHDOG_USEC` and
//! expects `WATCHDOG=1` at least that often. Outside systemd (a terminal, the tests) the variable
//! is absent and every method here is a no-op that returns `Ok(())`.
//!
//! The `sd-notify` crate gives the assignments (`READY=1`, `MONOTONIC_USEC=…`), the monotonic
//! clock and the watchdog variables. The datagram is sent here: the crate's `notify` reads the
//! address from the environment on every call (so tests could only aim it by changing the
//! process environment, which is `unsafe`) and treats `@name` as a file name, while `sd_notify(3)`
//! reads it as a socket in the abstract namespace.
//!
//! How the daemon is meant to use it (`deploy/mesa-fe.service` is `Type=notify`):
//!
//! ```no_run
//! use mesa_fe::systemd::Notifier;
//!
//! let notifier = Notifier::from_env();
//! // … migrations, replay of pending messages, watchers started …
//! if let Err(e) = notifier.ready() {
//!     tracing::warn!(error = %e, "no se pudo avisar a systemd");
//! }
//! if let Some(interval) = notifier.watchdog_interval() {
//!     // Ping at half the interval: one late ping must not kill the service.
//!     let every = interval / 2;
//!     // spawn: loop { tokio::time::sleep(every).await; let _ = notifier.watchdog(); }
//! }
//! // On SIGHUP: notifier.reloading(), re-read everything, notifier.ready().
//! // On SIGTERM: notifier.stopping(), then drain.
//! ```
//!
//! Errors are `io::Error`s for the caller to log; a failed notification must never stop the desk.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Duration;

use sd_notify::NotifyState;

/// Sends state changes to the service manager. Cheap to clone or share (`Arc`) between tasks:
/// every message goes through its own unbound datagram socket, as `sd_notify` does.
#[derive(Clone)]
pub struct Notifier {
    /// Where to send; `None` when not started by systemd (every method is then a no-op).
    socket: Option<SocketAddr>,
    /// `WATCHDOG_USEC` when it is meant for this process.
    watchdog: Option<Duration>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.socket.is_some())
            .field("watchdog", &self.watchdog)
            .finish()
    }
}

impl Notifier {
    /// A notifier that sends nothing (for commands other than `run`, or when the environment
    /// says nothing usable).
    pub fn disabled() -> Notifier {
        Notifier { socket: None, watchdog: None }
    }

    /// The notifier systemd asked for through `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
    /// `WATCHDOG_PID`. Without `NOTIFY_SOCKET`, a disabled notifier. An address this module cannot
    /// use (a relative path, or `vsock:` of a virtual machine) is logged and also gives a
    /// disabled notifier: the desk works the same, systemd just hears nothing.
    ///
    /// The variables are read, not removed: child processes (there are none) would inherit them.
    pub fn from_env() -> Notifier {
        let Some(address) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier::disabled();
        };
        let notifier = match Notifier::with_socket(&address) {
            Ok(notifier) => notifier,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "NOTIFY_SOCKET no es una dirección utilizable; no se enviarán avisos a systemd"
                );
                return Notifier::disabled();
            }
        };
        // WATCHDOG_PID is honoured by the crate: a child that inherited the variables is no
        // watchdog's target.
        match sd_notify::watchdog_enabled() {
            Some(interval) => notifier.with_watchdog(interval),
            None => notifier,
        }
    }

    /// A notifier that sends to `address`, written as in `NOTIFY_SOCKET`: an absolute path of a
    /// socket file, or `@name` for a socket in the abstract namespace. No watchdog: add one with
    /// [`Notifier::with_watchdog`]. For tests and for callers that know the socket themselves.
    pub fn with_socket(address: impl AsRef<OsStr>) -> io::Result<Notifier> {
        let socket = parse_address(address.as_ref())?;
        Ok(Notifier { socket: Some(socket), watchdog: None })
    }

    /// The same notifier, saying that the watchdog expects a ping within `interval`.
    pub fn with_watchdog(self, interval: Duration) -> Notifier {
        Notifier { watchdog: Some(interval).filter(|i| !i.is_zero()), ..self }
    }

    /// Whether messages go anywhere (started by systemd with `Type=notify`).
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// `READY=1`: start-up finished (the buzones are being watched), or a reload finished.
    pub fn ready(&self) -> io::Result<()> {
        self.send(&[NotifyState::Ready])
    }

    /// `STATUS=…`: one line shown by `systemctl status`. Line breaks become spaces (a new line
    /// would start another assignment of the protocol).
    pub fn status(&self, text: &str) -> io::Result<()> {
        let line: String =
            text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
        self.send(&[NotifyState::Status(&line)])
    }

    /// `STOPPING=1`: shutdown began (send it before draining, so `systemctl` shows
    /// "deactivating" and does not count the wait as a hang).
    pub fn stopping(&self) -> io::Result<()> {
        self.send(&[NotifyState::Stopping])
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=`: a reload (SIGHUP) began. Send [`Notifier::ready`]
    /// when it finished, whether it worked or not. With `Type=notify` systemd only shows the
    /// state; `Type=notify-reload` (systemd ≥ 253) also needs the timestamp, taken from the same
    /// clock as systemd's (`CLOCK_MONOTONIC`), to match the message with the reload it asked for.
    pub fn reloading(&self) -> io::Result<()> {
        // Without the clock (it does not fail on Linux) the state is still worth showing.
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// `WATCHDOG=1`: still alive. Send it every [`Notifier::watchdog_interval`] / 2.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send(&[NotifyState::Watchdog])
    }

    /// How often systemd expects [`Notifier::watchdog`] (`WatchdogSec=`), when it expects it from
    /// this process; `None` without a watchdog. Ping at half of it.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.socket.as_ref().and(self.watchdog)
    }

    /// Sends the assignments in one datagram, one per line.
    pub fn send(&self, states: &[NotifyState<'_>]) -> io::Result<()> {
        let lines: Vec<String> = states.iter().map(ToString::to_string).collect();
        self.notify(&lines.join("\n"))
    }

    /// Sends `state` as is: newline-separated `KEY=value` assignments (see `sd_notify(3)`).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some(address) = &self.socket else {
            return Ok(());
        };
        let socket = UnixDatagram::unbound()?;
        let sent = socket.send_to_addr(state.as_bytes(), address)?;
        if sent == state.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("aviso a systemd incompleto: {sent} de {} bytes", state.len()),
            ))
        }
    }
}

/// `NOTIFY_SOCKET` → socket address: an absolute path, or `@name` in the abstract namespace.
fn parse_address(address: &OsStr) -> io::Result<SocketAddr> {
    let bytes = address.as_bytes();
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(Path::new(address)),
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "dirección de NOTIFY_SOCKET no soportada: {:?} (se espera una ruta absoluta o @nombre)",
                address
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listening datagram socket in a fresh directory, and a notifier pointed at it.
    fn listener() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let notifier = Notifier::with_socket(&path).unwrap();
        (dir, socket, notifier)
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buffer = [0u8; 4096];
        let n = socket.recv(&mut buffer).unwrap();
        String::from_utf8(buffer[..n].to_vec()).unwrap()
    }

    #[test]
    fn each_message_arrives_as_its_exact_bytes() {
        let (_dir, socket, notifier) = listener();
        assert!(notifier.is_enabled());

        notifier.ready().unwrap();
        assert_eq!(receive(&socket), "READY=1");
        notifier.status("vigilando 2 buzones").unwrap();
        assert_eq!(receive(&socket), "STATUS=vigilando 2 buzones");
        notifier.status("dos\nlíneas").unwrap();
        assert_eq!(receive(&socket), "STATUS=dos líneas");
        notifier.stopping().unwrap();
        assert_eq!(receive(&socket), "STOPPING=1");
        notifier.watchdog().unwrap();
        assert_eq!(receive(&socket), "WATCHDOG=1");
        notifier.notify("STATUS=a\nREADY=1").unwrap();
        assert_eq!(receive(&socket), "STATUS=a\nREADY=1");
    }

    /// CLOCK_MONOTONIC in microseconds, as the crate reads it.
    fn monotonic_usec() -> u64 {
        let now = NotifyState::monotonic_usec_now().unwrap().to_string();
        now.strip_prefix("MONOTONIC_USEC=").unwrap().parse().unwrap()
    }

    #[test]
    fn reloading_carries_the_monotonic_time_of_the_request() {
        let (_dir, socket, notifier) = listener();
        let before = monotonic_usec();
        notifier.reloading().unwrap();
        let after = monotonic_usec();

        let message = receive(&socket);
        let usec = message.strip_prefix("RELOADING=1\nMONOTONIC_USEC=").unwrap_or_else(|| {
            panic!("unexpected message {message:?}");
        });
        let usec: u64 = usec.parse().unwrap();
        assert!(before <= usec && usec <= after, "{before} <= {usec} <= {after}");
    }

    #[test]
    fn abstract_socket_addresses_work() {
        let name = format!("mesa-fe-test-{}-{}", std::process::id(), fastrand::u64(..));
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

        let notifier = Notifier::with_socket(format!("@{name}")).unwrap();
        notifier.ready().unwrap();
        assert_eq!(receive(&socket), "READY=1");
    }

    #[test]
    fn unusable_addresses_are_refused() {
        for address in ["", "relative/notify", "vsock:2:1234"] {
            let error = Notifier::with_socket(address).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{address:?}");
        }
    }

    #[test]
    fn disabled_notifier_sends_nothing_and_succeeds() {
        let notifier = Notifier::disabled();
        assert!(!notifier.is_enabled());
        notifier.ready().unwrap();
        notifier.status("x").unwrap();
        notifier.stopping().unwrap();
        notifier.reloading().unwrap();
        notifier.watchdog().unwrap();
        // A watchdog without a socket to ping is no watchdog.
        assert_eq!(notifier.with_watchdog(Duration::from_secs(60)).watchdog_interval(), None);
    }

    #[test]
    fn sending_to_a_missing_socket_is_an_error_for_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let notifier = Notifier::with_socket(dir.path().join("no-such-socket")).unwrap();
        assert!(notifier.ready().is_err());
    }

    #[test]
    fn a_watchdog_needs_a_socket_and_a_nonzero_interval() {
        let minute = Some(Duration::from_secs(60));
        let (_dir, _socket, notifier) = listener();
        // WATCHDOG_USEC=0 would make the pinger spin.
        assert_eq!(notifier.clone().with_watchdog(Duration::ZERO).watchdog_interval(), None);
        assert_eq!(notifier.watchdog_interval(), None);
        let notifier = notifier.with_watchdog(Duration::from_secs(60));
        assert_eq!(notifier.watchdog_interval(), minute);
    }

    #[test]
    fn from_env_without_notify_socket_is_disabled() {
        // The test runner is not started by systemd with Type=notify.
        if std::env::var_os("NOTIFY_SOCKET").is_none() {
            let notifier = Notifier::from_env();
            assert!(!notifier.is_enabled());
            assert_eq!(notifier.watchdog_interval(), None);
        }
    }
}
