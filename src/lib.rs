//! mesa-fe: the electronic-invoicing support desk of DIAN as one daemon.
//!
//! Map of the crate (data flows top to bottom):
//! - [`config`]: typed configuration (TOML + `MESA_FE__…` environment), defaults and validation.
//! - [`mail`]: wire format of e-mail: MIME → [`mail::Inbound`] (bodies, own words, attachments,
//!   ZIPs unpacked under limits). Parsing is total: damage is recorded, never a panic.
//! - [`dian`]: DIAN XML documents (UBL 2.1 invoices and notes, AttachedDocument,
//!   ApplicationResponse, nómina) read with a streaming, namespace-tolerant reader.
//! - [`desk`]: the pure middle: classification, minimum requirements, the known-error base and
//!   the case state machine (activities 1–12 of the procedure). No I/O.
//! - [`pipeline`]: bytes of an e-mail → [`pipeline::Analysis`] (what `inspect` prints) → one store
//!   transaction (what `ingest` and the daemon do).
//! - [`store`]: every SQL statement of the project (SQLite by default, portable SQL). It takes
//!   and returns its own records and the desk's types, never the pipeline's.
//! - [`secrets`]: passwords and client secrets from files, variables or systemd credentials.
//! - [`daemon`]: `mesa-fe run`: one watcher per buzón, start-up replay, graceful shutdown.
//! - [`shutdown`]: the stop signal the daemon's tasks wait on.
//! - [`supervisor`]: restarts a task that panicked or returned early, with backoff.
//! - [`live`]: the setup the daemon's tasks read, replaced whole on SIGHUP.
//! - [`outbox`]: the worker that renders and sends queued answers, with retries.
//! - [`systemd`]: `sd_notify` (the `sd-notify` crate's vocabulary, our datagram): readiness,
//!   status, reload, stop, watchdog.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics` and the read-only case API.
//! - [`console`]: the web console of agents and coordinators (`/consola`), on the same server.
//! - [`telemetry`]: buzón connections, in-process counters and the ingest latency histogram.
//! - [`text`]: small text helpers shared by the parsers and the classifier; [`text::subject`]
//!   strips reply prefixes and case tags for both the case tag and the Thread-Topic.
//! - [`names`]: `named_enum!`, one written name per variant for SQL, TOML, JSON and the CLI.
#![forbid(unsafe_code)]

pub mod config;
pub mod console;
pub mod daemon;
pub mod desk;
pub mod dian;
pub mod http;
pub mod lease;
pub mod live;
pub mod mail;
pub mod names;
pub mod outbox;
pub mod pipeline;
pub mod secrets;
pub mod shutdown;
pub mod store;
pub mod supervisor;
pub mod systemd;
pub mod telemetry;
pub mod text;
