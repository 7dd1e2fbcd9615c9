//! `mesa-fe run`: one watcher per buzón, each with its own IMAP session, feeding the pipeline.
//!
//! The order of every batch is the promise "nothing lost, nothing twice": fetch with
//! `BODY.PEEK[]`, store and commit (with the buzón's progress), only then tell the server
//! (move or \Seen), then process. A crash anywhere replays from the store: stored-but-unprocessed
//! messages at start-up, stored-but-unmarked ones at the next sync. Shutdown is asked through a
//! watch channel; each watcher finishes the message in hand, logs out and returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::config::{Buzon, ImapSettings};
use crate::http::HttpState;
use crate::lease::{Lease, Leases};
use crate::live::{self, Live, Publisher, Setup};
use crate::mail::imap::{Connector, IdleOutcome, ImapError, Mailbox};
use crate::outbox::OutboxWorker;
use crate::pipeline::{Desk, Fresh, Outcome};
use crate::shutdown::Shutdown;
use crate::store::raw::RawStatus;
use crate::store::raw::{BuzonProgress, IncomingRaw, Origin, Stored};
use crate::store::{Store, StoreError};
use crate::supervisor::Supervisor;
use crate::systemd::Notifier;
use crate::telemetry::{BuzonState, TaskState, Telemetry};
use crate::text::mask_personal;

/// First wait after a failed session; doubles up to [`BACKOFF_MAX`], with ±25 % jitter, and
/// starts over once a sync goes through.
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A database that refused a write (full disk, lock, I/O) is tried again at least this often,
/// so the desk resumes within a minute of the space coming back.
const STORE_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long watchers get to finish the message in hand after shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the daemon could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "ningún buzón tiene configurada la conexión IMAP ([buzones.imap]); no hay nada que vigilar"
    )]
    NothingToWatch,
    #[error("el buzón {buzon}: {source}")]
    Buzon { buzon: String, source: ImapError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("el buzón {buzon} no puede enviar: {source}")]
    Smtp { buzon: String, source: crate::mail::smtp::SmtpError },
    #[error(transparent)]
    Templates(#[from] crate::mail::outgoing::OutgoingError),
    #[error(
        "no se pudo abrir el servidor HTTP en {address}: {detail}. Revise http.direccion (¿otro proceso usa ese puerto?) o déjela vacía"
    )]
    Http { address: String, detail: String },
    #[error("http.token_api: {0}")]
    ApiToken(#[from] crate::secrets::SecretError),
}

/// Builds a new desk from the configuration files when SIGHUP arrives; an error is the reason
/// the new configuration is refused (the running one stays).
pub type Reloader = Box<dyn Fn() -> Result<Desk, String> + Send + Sync>;

/// Runs the daemon until `stop` completes: replays pending messages, then watches every buzón
/// that has IMAP settings, sends the outbox, runs the timers; SIGHUP reloads with `reload`.
pub async fn run(
    setup: Setup,
    store: Store,
    stop: impl Future<Output = ()>,
    reload: Reloader,
) -> Result<(), DaemonError> {
    let desk = setup.desk.clone();
    let watched: Vec<(Buzon, ImapSettings)> = desk
        .config
        .buzones
        .iter()
        .filter_map(|b| b.imap.clone().map(|imap| (b.clone(), imap)))
        .collect();
    if watched.is_empty() {
        return Err(DaemonError::NothingToWatch);
    }
    warn_about_authentication(&desk.config.autenticacion);
    let mut connectors = Vec::new();
    for (buzon, imap) in watched {
        let connector = Connector::new(&imap)
            .map_err(|source| DaemonError::Buzon { buzon: buzon.name.clone(), source })?;
        connectors.push((buzon, imap, connector));
    }
    let notifier = Arc::new(Notifier::from_env());
    let (stop_sender, shutdown) = Shutdown::new();
    let wake = Arc::new(Notify::new());
    let telemetry = Arc::new(Telemetry::default());
    // Before the HTTP server opens: the first scrape already shows every buzón's and every
    // task's series, though the watchers and timers start after the replay.
    for (buzon, _, _) in &connectors {
        telemetry.watching(&buzon.name);
        telemetry.task_expected(&watcher_task(&buzon.name));
    }
    for task in [CONTROL_TASK, SLA_TASK, WAITING_TASK, RELOAD_TASK, SYSTEMD_TASK] {
        telemetry.task_expected(task);
    }
    let http = http_listener(&desk.config).await?;
    let (publisher, live) = live::channel(setup);
    let leases = Leases::new(store.clone(), &desk.config.general.node);
    if store.is_shared() {
        info!(nodo = %leases.holder(), "base compartida: cada buzón y cada temporizador los atiende un nodo a la vez");
    }
    let mut tasks = Supervisor::new(telemetry.clone(), shutdown.clone());
    let outbox_task = match OutboxWorker::new(
        live.clone(),
        store.clone(),
        wake.clone(),
        shutdown.clone(),
        leases.clone(),
    ) {
        Ok(Some(worker)) => {
            let worker = Arc::new(worker);
            tasks.spawn(OUTBOX_TASK, move || {
                let worker = worker.clone();
                async move { worker.run().await }
            });
            Some(OUTBOX_TASK.to_string())
        }
        Ok(None) => {
            warn!(
                "ningún buzón tiene [buzones.smtp]: las respuestas esperan en la cola (mesa-fe outbox list)"
            );
            None
        }
        Err((buzon, source)) => return Err(DaemonError::Smtp { buzon, source }),
    };
    if let Some((listener, api_token)) = http {
        let state = Arc::new(HttpState {
            store: store.clone(),
            telemetry: telemetry.clone(),
            live: live.clone(),
            api_token,
            outbox_task,
            outbox_wake: Some(wake.clone()),
        });
        let shutdown = shutdown.clone();
        tasks.spawn("http", move || serve_http(listener.clone(), state.clone(), shutdown.clone()));
    }
    // Before READY (a buzón is not read until what it left is done), but with /healthz up and
    // the watchdog fed: a long replay is work, not a hang. On a shared database each buzón's
    // pending mail is replayed by the node that takes its lease (after every sync), never by a
    // node that merely starts while another works on it.
    let replay = async {
        if store.is_shared() { Ok(Vec::new()) } else { desk.process_pending(&store).await }
    };
    match feeding_watchdog(&notifier, replay).await {
        Ok(replayed) => {
            info!(
                messages = replayed.len(),
                "mensajes pendientes de una ejecución anterior procesados"
            )
        }
        // A full disk or a lock at start-up: each buzón's watcher retries its pending mail.
        Err(failure) if failure.is_retriable() => {
            warn!(error = %mask_personal(&failure.to_string()), "los mensajes pendientes no se pudieron procesar ahora; cada buzón los reintenta")
        }
        Err(failure) => return Err(failure.into()),
    }
    let timers = TimerParts {
        live: live.clone(),
        store: store.clone(),
        shutdown: shutdown.clone(),
        wake: wake.clone(),
        leases: leases.clone(),
    };
    spawn_timer(&mut tasks, CONTROL_TASK, &timers, |live, store, shutdown, _wake| {
        control_posterior(live, store, shutdown)
    });
    spawn_timer(&mut tasks, SLA_TASK, &timers, sla_sweep);
    spawn_timer(&mut tasks, WAITING_TASK, &timers, waiting_sweep);
    tasks.spawn(RELOAD_TASK, {
        let reloading = Arc::new(Reloading { publisher, reload, store: store.clone() });
        let (shutdown, notifier) = (shutdown.clone(), notifier.clone());
        move || reload_on_hangup(reloading.clone(), shutdown.clone(), notifier.clone())
    });
    for (buzon, imap, connector) in connectors {
        let name = watcher_task(&buzon.name);
        let watcher = Arc::new(Watcher {
            telemetry: telemetry.clone(),
            live: live.clone(),
            store: store.clone(),
            buzon,
            imap,
            connector,
            shutdown: shutdown.clone(),
            outbox: wake.clone(),
            leases: leases.clone(),
        });
        tasks.spawn(name, move || {
            let watcher = watcher.clone();
            async move { watcher.run().await }
        });
    }
    tasks.spawn(SYSTEMD_TASK, {
        let (telemetry, notifier, shutdown) =
            (telemetry.clone(), notifier.clone(), shutdown.clone());
        // A restarted reporter must not say READY=1 a second time (systemd reads it as the end
        // of a reload).
        let announced = Arc::new(AtomicBool::new(false));
        move || {
            report_to_systemd(
                telemetry.clone(),
                notifier.clone(),
                shutdown.clone(),
                announced.clone(),
            )
        }
    });
    stop.await;
    info!("deteniendo: se termina el mensaje en curso de cada buzón");
    tell_systemd(notifier.stopping());
    tell_systemd(notifier.status("deteniéndose: se termina el mensaje en curso de cada buzón"));
    let _ = stop_sender.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, tasks.join_all()).await;
    if drained.is_err() {
        warn!(
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "algún buzón no terminó a tiempo; se cancela"
        );
        tasks.abort_all();
    }
    leases.release_all().await;
    Ok(())
}

/// The supervised tasks' names: the `tarea` label of the restart counter and the keys of
/// `tareas` in `/readyz`, which also tells whether the outbox worker runs.
pub const OUTBOX_TASK: &str = "cola_salida";
const CONTROL_TASK: &str = "control_posterior";
const SLA_TASK: &str = "sla";
const WAITING_TASK: &str = "espera_solicitante";
const RELOAD_TASK: &str = "recarga";
const SYSTEMD_TASK: &str = "systemd";

fn watcher_task(buzon: &str) -> String {
    crate::lease::buzon_lease(buzon)
}

/// The lease a timer task runs under (a buzón's lease is its task name).
fn timer_lease(task: &str) -> String {
    format!("temporizador/{task}")
}

/// One run of the HTTP server on a copy of the listening socket, so that a restart serves the
/// same address (an ephemeral port would change if bound again).
async fn serve_http(
    listener: Arc<std::net::TcpListener>,
    state: Arc<HttpState>,
    shutdown: Shutdown,
) {
    let listener = match listener.try_clone().and_then(tokio::net::TcpListener::from_std) {
        Ok(listener) => listener,
        Err(e) => {
            error!(error = %e, "no se pudo usar el puerto HTTP");
            return;
        }
    };
    crate::http::serve(listener, state, shutdown).await;
}

/// Agents' commands by mail without a trusted sender check are an open door: say so at start.
fn warn_about_authentication(auth: &crate::config::Authentication) {
    if !auth.required {
        warn!(
            "autenticacion.exigir = false: los comandos por correo se ejecutan sin verificar que el \
             remitente sea el agente (DMARC/DKIM/SPF). Solo para una pila de pruebas; en producción, true"
        );
    } else if auth.servers.is_empty() {
        warn!(
            "autenticacion.servidores está vacío: ningún comando por correo se ejecutará; configure el \
             authserv-id del servidor de correo que recibe los buzones"
        );
    }
}

/// The HTTP listener and the API token, when `http.direccion` is set.
async fn http_listener(
    config: &crate::config::Config,
) -> Result<Option<(Arc<std::net::TcpListener>, Option<crate::secrets::Secret>)>, DaemonError> {
    let address = &config.http.address;
    if address.is_empty() {
        return Ok(None);
    }
    let api_token = config.http.api_token.as_ref().map(crate::secrets::load).transpose()?;
    let failed =
        |e: std::io::Error| DaemonError::Http { address: address.clone(), detail: e.to_string() };
    // Kept as a std socket (non-blocking, as tokio left it): each run of the server takes a copy.
    let listener = tokio::net::TcpListener::bind(address.as_str()).await.map_err(failed)?;
    let listener = listener.into_std().map_err(failed)?;
    Ok(Some((Arc::new(listener), api_token)))
}

/// systemd's view of the daemon: READY=1 once every buzón had its first connection attempt
/// (the migrations and the replay ran before), a STATUS line when the connections or the tasks
/// change, and WATCHDOG=1 at half the watchdog interval while the runtime keeps scheduling this
/// task.
async fn report_to_systemd(
    telemetry: Arc<Telemetry>,
    notifier: Arc<Notifier>,
    shutdown: Shutdown,
    announced: Arc<AtomicBool>,
) {
    let started = std::time::Instant::now();
    while !announced.load(Ordering::SeqCst)
        && telemetry.buzones().values().any(|b| *b == BuzonState::Conectando)
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
            () = shutdown.wait() => return,
        }
    }
    if !announced.swap(true, Ordering::SeqCst) {
        tell_systemd(notifier.ready());
    }
    let ping = notifier.watchdog_interval().map_or(Duration::from_secs(30), |i| i / 2);
    let mut last_status = String::new();
    while !shutdown.requested() {
        let buzones = telemetry.buzones();
        let down: Vec<&str> =
            buzones.iter().filter(|(_, b)| !b.is_served()).map(|(name, _)| name.as_str()).collect();
        let mut status = format!("vigilando {} buzones", buzones.len());
        if !down.is_empty() {
            status.push_str(&format!("; sin conexión: {}", down.join(", ")));
        }
        let restarting: Vec<String> = telemetry
            .tasks()
            .into_iter()
            .filter(|(_, t)| matches!(t, TaskState::Reiniciando { .. }))
            .map(|(name, _)| name)
            .collect();
        if !restarting.is_empty() {
            status.push_str(&format!("; reiniciando: {}", restarting.join(", ")));
        }
        if status != last_status {
            tell_systemd(notifier.status(&status));
            last_status = status;
        }
        if notifier.watchdog_interval().is_some() {
            tell_systemd(notifier.watchdog());
        }
        tokio::select! {
            () = tokio::time::sleep(ping.min(Duration::from_secs(5))) => {}
            () = shutdown.wait() => return,
        }
    }
}

/// Awaits `work` while telling systemd, at half its watchdog interval, that the process lives.
async fn feeding_watchdog<T>(notifier: &Notifier, work: impl Future<Output = T>) -> T {
    let Some(interval) = notifier.watchdog_interval() else {
        return work.await;
    };
    tell_systemd(notifier.status("procesando los mensajes pendientes de la ejecución anterior"));
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(interval / 2) => tell_systemd(notifier.watchdog()),
        }
    }
}

/// A message systemd did not get is logged, never fatal.
fn tell_systemd(sent: std::io::Result<()>) {
    if let Err(e) = sent {
        warn!(error = %e, "no se pudo avisar a systemd (NOTIFY_SOCKET)");
    }
}

/// What a reload needs, shared by the runs of the reload task.
struct Reloading {
    publisher: Publisher,
    reload: Reloader,
    store: Store,
}

/// SIGHUP: a new setup from the configuration files, or the old one kept with the reason.
async fn reload_on_hangup(reloading: Arc<Reloading>, shutdown: Shutdown, notifier: Arc<Notifier>) {
    let Reloading { publisher, reload, store } = reloading.as_ref();
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        warn!("no se pudo escuchar SIGHUP: la configuración solo se relee al reiniciar");
        // Not a failure to restart from: the task just has nothing to do.
        shutdown.wait().await;
        return;
    };
    loop {
        tokio::select! {
            received = hangups.recv() => if received.is_none() { return },
            () = shutdown.wait() => return,
        }
        info!("SIGHUP: se relee la configuración");
        tell_systemd(notifier.reloading());
        // READY=1 must follow RELOADING=1 even if the reload panics (the supervisor restarts this
        // task), or systemd shows the unit "reloading" until its own timeout.
        let _ready_again = ReadyAgain(&notifier);
        let imported = store.providers().await.map_err(|e| e.to_string());
        let setup = reload().and_then(|desk| {
            let desk = desk.with_imported_providers(imported?);
            Setup::new(desk).map_err(|e| e.to_string())
        });
        match setup {
            Ok(setup) => {
                if let Err(e) = store.sync_known_errors(&setup.desk.knowledge).await {
                    warn!(error = %e, "no se pudo copiar la base de errores conocidos a la base de datos");
                }
                let agents = setup.desk.config.agentes.len();
                let pending = publisher.replace(setup);
                info!(
                    agents,
                    "configuración, agentes, plantillas y base de errores conocidos recargados"
                );
                if !pending.is_empty() {
                    warn!(changes = %pending.join(", "), "estos cambios se aplican al reiniciar el servicio");
                }
            }
            Err(reason) => {
                error!(
                    error = %reason,
                    "configuración nueva rechazada; el servicio sigue con la anterior. Corrija el archivo y vuelva a recargar"
                );
                tell_systemd(
                    notifier.status(
                        "configuración nueva rechazada; sigue la anterior (vea el registro)",
                    ),
                );
            }
        }
    }
}

/// Sends READY=1 when dropped: at the end of a reload, however it ended.
struct ReadyAgain<'a>(&'a Notifier);

impl Drop for ReadyAgain<'_> {
    fn drop(&mut self) {
        tell_systemd(self.0.ready());
    }
}

/// What a timer's sweep works with.
#[derive(Clone)]
struct TimerParts {
    live: Live,
    store: Store,
    shutdown: Shutdown,
    /// Told when a sweep queued mail, so it leaves at once.
    wake: Arc<Notify>,
    leases: Leases,
}

/// A sweep on a timer, run only by the node holding its lease (`temporizador/NAME`) and started
/// again by the supervisor if it ends early.
fn spawn_timer<S, Fut>(tasks: &mut Supervisor, name: &'static str, parts: &TimerParts, sweep: S)
where
    S: Fn(Live, Store, Shutdown, Arc<Notify>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let parts = parts.clone();
    tasks.spawn(name, move || {
        let (parts, sweep) = (parts.clone(), sweep.clone());
        async move {
            let TimerParts { live, store, shutdown, wake, leases } = &parts;
            let work = |_| sweep(live.clone(), store.clone(), shutdown.clone(), wake.clone());
            leases.serve(&timer_lease(name), shutdown, |_| {}, work).await
        }
    });
}

/// Activity 12 on a timer: closes the solved cases whose control window passed.
async fn control_posterior(live: Live, store: Store, shutdown: Shutdown) {
    while !shutdown.requested() {
        let desk = live.desk();
        let every = Duration::from_secs(desk.config.control_posterior.sweep_seconds);
        match desk.close_expired_follow_ups(&store).await {
            Ok(0) => {}
            Ok(closed) => {
                info!(closed, "control posterior: casos cerrados sin respuesta del solicitante")
            }
            Err(e) => warn!(error = %e, "control posterior: no se pudo revisar; se reintenta"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => break,
        }
    }
}

/// SLA targets on a timer: breaches become events and notices to coordinators.
async fn sla_sweep(live: Live, store: Store, shutdown: Shutdown, outbox: Arc<Notify>) {
    while !shutdown.requested() {
        let desk = live.desk();
        let every = Duration::from_secs(desk.config.sla.sweep_seconds);
        match desk.check_sla(&store).await {
            Ok(0) => {}
            Ok(breaches) => {
                info!(breaches, "objetivos de servicio vencidos: se avisa a los coordinadores");
                outbox.notify_one();
            }
            Err(e) => warn!(error = %e, "SLA: no se pudo revisar; se reintenta"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => break,
        }
    }
}

/// Cases waiting for the requester, on a timer: reminders, then closures with notices.
async fn waiting_sweep(live: Live, store: Store, shutdown: Shutdown, outbox: Arc<Notify>) {
    while !shutdown.requested() {
        let desk = live.desk();
        let every = Duration::from_secs(desk.config.espera_solicitante.sweep_seconds);
        match desk.sweep_waiting(&store, chrono::Utc::now()).await {
            Ok(done) if done == Default::default() => {}
            Ok(done) => {
                info!(
                    reminded = done.reminded,
                    closed = done.closed,
                    "espera del solicitante: recordatorios y cierres sin respuesta"
                );
                outbox.notify_one();
            }
            Err(e) => warn!(error = %e, "espera del solicitante: no se pudo revisar; se reintenta"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.wait() => break,
        }
    }
}

/// One buzón: connect, sync, wait (IDLE or poll), again; reconnect with backoff on errors.
struct Watcher {
    /// Read anew for each batch: a reload applies from the next message on.
    live: Live,
    telemetry: Arc<Telemetry>,
    store: Store,
    buzon: Buzon,
    imap: ImapSettings,
    connector: Connector,
    shutdown: Shutdown,
    /// Told after each batch, so answers leave at once instead of at the worker's next round.
    outbox: Arc<Notify>,
    /// The buzón is read only under its lease (on a shared database, one node at a time).
    leases: Leases,
}

impl Watcher {
    async fn run(&self) {
        let _left = Leaving { watcher: self };
        let name = watcher_task(&self.buzon.name);
        let waiting = |holder: &str| self.telemetry.elsewhere(&self.buzon.name, holder);
        self.leases.serve(&name, &self.shutdown, waiting, |lease| self.sessions(lease)).await;
        info!(buzon = %self.buzon.name, "buzón detenido");
    }

    /// Sessions one after another while the lease holds, until shutdown.
    async fn sessions(&self, lease: Arc<Lease>) {
        let mut backoff = Backoff::default();
        while !self.shutdown.requested() {
            match self.session(&mut backoff, &lease).await {
                Ok(()) => break,
                Err(failure) => {
                    let wait = backoff.after(&failure);
                    log_failure(&self.buzon.name, &failure, wait);
                    if let WatchError::Store(e) = &failure
                        && let Some(fault) = e.fault()
                    {
                        self.telemetry.database_failed(&self.buzon.name, fault.describe());
                    }
                    let token = matches!(&failure, WatchError::Imap(e) if e.is_token_failure());
                    self.telemetry.disconnected(&self.buzon.name, &failure.to_string(), token);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.shutdown.wait() => break,
                    }
                }
            }
        }
    }

    /// One IMAP session, until shutdown (Ok) or an error (the caller reconnects).
    async fn session(&self, backoff: &mut Backoff, lease: &Lease) -> Result<(), WatchError> {
        let mut mailbox = self.connector.connect().await?;
        info!(buzon = %self.buzon.name, idle = mailbox.has_idle(), "conectado al buzón");
        self.telemetry.connected(&self.buzon.name);
        loop {
            self.sync(&mut mailbox, lease).await?;
            backoff.reset();
            self.telemetry.database_ok(&self.buzon.name);
            if self.shutdown.requested() {
                mailbox.logout().await;
                return Ok(());
            }
            if self.imap.idle && mailbox.has_idle() {
                let renew = Duration::from_secs(self.imap.idle_renew_minutes * 60);
                let (back, outcome) = mailbox.idle(renew, self.shutdown.wait()).await?;
                mailbox = back;
                if outcome == IdleOutcome::Shutdown {
                    mailbox.logout().await;
                    return Ok(());
                }
            } else {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(self.imap.poll_seconds)) => {}
                    () = self.shutdown.wait() => {
                        mailbox.logout().await;
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Everything the folder holds that needs work: leftovers stored but not yet marked on the
    /// server, then new messages a batch at a time.
    async fn sync(&self, mailbox: &mut Mailbox, lease: &Lease) -> Result<(), WatchError> {
        let name = self.buzon.name.as_str();
        let uidvalidity = mailbox.uidvalidity();
        let last_uid = match self.store.buzon_progress(name).await? {
            Some((stored_validity, last)) if stored_validity == uidvalidity => last,
            Some(_) => {
                warn!(buzon = %name, uidvalidity, "UIDVALIDITY cambió: se relee el buzón y se evitan duplicados por Message-ID");
                self.store.reset_progress(name, uidvalidity).await?;
                0
            }
            None => 0,
        };
        let candidates = mailbox.candidates(last_uid).await?;
        let stored = self.store.stored_uids(name, uidvalidity, &candidates).await?;
        if !stored.is_empty() {
            // A crash between the commit and the server's move: finish the move now.
            mailbox.mark_processed(&stored).await?;
        }
        let new: Vec<u32> =
            candidates.into_iter().filter(|uid| stored.binary_search(uid).is_err()).collect();
        let batch = usize::try_from(self.imap.batch).unwrap_or(50).max(1);
        let mut chunks = new.chunks(batch).peekable();
        let mut fetched = None;
        while let Some(chunk) = chunks.next() {
            let this = match fetched.take() {
                Some(this) => this,
                None => self.fetch_batch(mailbox, chunk).await?,
            };
            let (stored, on_server) = self.store_batch(uidvalidity, this, lease).await?;
            // Stored and committed: while this batch is processed (its writes mostly wait on the
            // database), the server is told and the next batch is read; it is stored after, in
            // order.
            let next = chunks.peek().filter(|_| !self.shutdown.requested());
            let serving = async {
                mailbox.mark_processed(&on_server).await?;
                match next {
                    Some(next) => self.fetch_batch(mailbox, next).await.map(Some),
                    None => Ok(None),
                }
            };
            let (processed, served) = tokio::join!(self.process_batch(stored), serving);
            processed?;
            fetched = served?;
            if self.shutdown.requested() {
                break;
            }
        }
        self.outbox.notify_one();
        // Messages left pending by a transient store error get another chance.
        if !self.shutdown.requested() {
            for outcome in self.live.desk().process_pending_of(&self.store, name).await? {
                log_outcome(name, &outcome);
            }
        }
        Ok(())
    }

    /// Store + progress (one commit): the batch's new messages, to process, and the UIDs the
    /// server may now forget.
    async fn store_batch(
        &self,
        uidvalidity: u32,
        batch: FetchedBatch,
        lease: &Lease,
    ) -> Result<(StoredBatch, Vec<u32>), WatchError> {
        let FetchedBatch { started, last_uid, messages: fetched } = batch;
        let origins: Vec<Origin> = fetched
            .iter()
            .map(|f| Origin {
                buzon: self.buzon.name.clone(),
                uidvalidity: Some(uidvalidity),
                uid: Some(f.uid),
                declared_size: f.declared_size,
            })
            .collect();
        let message_ids: Vec<Option<String>> =
            fetched.iter().map(|f| crate::pipeline::message_id_of(&f.raw)).collect();
        let incoming: Vec<IncomingRaw<'_>> = fetched
            .iter()
            .zip(&origins)
            .zip(&message_ids)
            .map(|((f, origin), message_id)| IncomingRaw {
                origin,
                message_id: message_id.as_deref(),
                raw: &f.raw,
            })
            .collect();
        let progress =
            BuzonProgress { buzon: &self.buzon.name, uidvalidity, last_uid, fence: lease.fence() };
        let stored = self.store.store_fetched(&incoming, Some(progress)).await?;
        let on_server: Vec<u32> = fetched.iter().map(|f| f.uid).collect();
        let fresh: Vec<Fresh> = stored
            .into_iter()
            .zip(fetched)
            .zip(origins)
            .filter_map(|((stored, f), origin)| match stored {
                Stored::New(raw_id) => Some(Fresh { raw_id, origin, raw: f.raw }),
                Stored::Duplicate { .. } => None,
            })
            .collect();
        Ok((StoredBatch { started, fresh }, on_server))
    }

    /// Processes a stored batch (group commit) and settles each message's outcome.
    async fn process_batch(&self, batch: StoredBatch) -> Result<(), WatchError> {
        let StoredBatch { started, fresh } = batch;
        let processed = self.live.desk().process_fresh(&self.store, fresh).await;
        for (raw_id, outcome) in processed {
            self.settle(raw_id, outcome).await?;
            self.telemetry.ingested(started.elapsed());
        }
        // This batch's answers go out while the next batches are read (a burst's first
        // acknowledgements do not wait for its last message).
        self.outbox.notify_one();
        Ok(())
    }

    /// The batch's bytes: whole messages, and only the headers of those over the size limit.
    async fn fetch_batch(
        &self,
        mailbox: &mut Mailbox,
        uids: &[u32],
    ) -> Result<FetchedBatch, WatchError> {
        let started = std::time::Instant::now();
        let max_bytes = self.live.desk().config.limites.message_max_bytes;
        let sizes = mailbox.sizes(uids).await?;
        let whole: Vec<u32> =
            sizes.iter().filter(|(_, size)| *size <= max_bytes).map(|(uid, _)| *uid).collect();
        let oversized: Vec<(u32, u64)> =
            sizes.into_iter().filter(|(_, size)| *size > max_bytes).collect();
        let mut fetched: Vec<Fetched> = mailbox
            .fetch(&whole)
            .await?
            .into_iter()
            .map(|(uid, raw)| Fetched { uid, raw, declared_size: None })
            .collect();
        let big: Vec<u32> = oversized.iter().map(|(uid, _)| *uid).collect();
        for (uid, headers) in mailbox.fetch_headers(&big).await? {
            let size = oversized.iter().find(|(u, _)| *u == uid).map(|(_, s)| *s);
            warn!(buzon = %self.buzon.name, uid, size, "mensaje sobre el tamaño máximo: se guardan solo sus encabezados");
            fetched.push(Fetched { uid, raw: headers, declared_size: size });
        }
        fetched.sort_by_key(|f| f.uid);
        let last_uid = uids.iter().copied().max().unwrap_or(0);
        Ok(FetchedBatch { started, last_uid, messages: fetched })
    }

    /// What processing one message gave: a transient store error leaves it pending (retried at
    /// the next sync); any other failure quarantines it so the buzón goes on.
    async fn settle(
        &self,
        raw_id: i64,
        outcome: Result<Outcome, StoreError>,
    ) -> Result<(), WatchError> {
        match outcome {
            Ok(outcome) => {
                log_outcome(&self.buzon.name, &outcome);
                Ok(())
            }
            // A damaged database would turn every message into a false quarantine: stop here.
            Err(failure) if failure.fault() == Some(crate::store::Fault::Damaged) => {
                Err(failure.into())
            }
            Err(failure) if failure.is_retriable() => {
                warn!(buzon = %self.buzon.name, raw_id, error = %mask_personal(&failure.to_string()), "no se pudo procesar ahora; queda pendiente");
                Ok(())
            }
            Err(failure) => {
                error!(buzon = %self.buzon.name, raw_id, error = %mask_personal(&failure.to_string()), "mensaje en cuarentena por un error al procesarlo");
                let reason = format!("error al procesar el mensaje: {failure}");
                self.store.set_raw_status(raw_id, RawStatus::Cuarentena, Some(&reason)).await?;
                Ok(())
            }
        }
    }
}

/// Marks the buzón disconnected when its watcher goes away for any reason but shutdown (a panic
/// unwinds through here), so `/readyz` and the metrics do not show a dead session as open.
struct Leaving<'a> {
    watcher: &'a Watcher,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let w = self.watcher;
        if !w.shutdown.requested() {
            w.telemetry
                .watcher_stopped(&w.buzon.name, "el vigilante del buzón se detuvo; se reinicia");
        }
    }
}

/// A batch read from the server, not stored yet.
struct FetchedBatch {
    /// When its reading began (telemetry: fetch to processed).
    started: std::time::Instant,
    /// The highest UID asked for: the buzón's progress once the batch is stored.
    last_uid: u32,
    messages: Vec<Fetched>,
}

/// A batch stored and told to the server: its new messages, to process.
struct StoredBatch {
    started: std::time::Instant,
    fresh: Vec<Fresh>,
}

/// One message as fetched from the server.
struct Fetched {
    uid: u32,
    raw: Vec<u8>,
    /// RFC822.SIZE when only the headers were fetched.
    declared_size: Option<u64>,
}

/// Either side of a session can fail; both mean "reconnect later".
#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error(transparent)]
    Imap(#[from] ImapError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The wait between failed sessions of one buzón.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: BACKOFF_START }
    }
}

impl Backoff {
    /// How long to wait after `failure`: doubling, capped lower when the database failed (it
    /// comes back by itself, e.g. when space is freed) than when the server did.
    fn after(&mut self, failure: &WatchError) -> Duration {
        let cap = match failure {
            WatchError::Store(_) => STORE_BACKOFF_MAX,
            WatchError::Imap(_) => BACKOFF_MAX,
        };
        let wait = self.next.min(cap);
        self.next = (wait * 2).min(cap);
        jittered(wait)
    }

    fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

fn log_failure(buzon: &str, failure: &WatchError, wait: Duration) {
    let retry_in_seconds = wait.as_secs_f32();
    match failure {
        WatchError::Store(e) if e.fault() == Some(crate::store::Fault::Damaged) => {
            error!(buzon = %buzon, error = %e, retry_in_seconds, "la base de datos está dañada: no se toca el buzón hasta repararla")
        }
        WatchError::Store(e) => {
            warn!(buzon = %buzon, error = %e, retry_in_seconds, "la base de datos no aceptó el correo; sigue en el buzón y se reintenta")
        }
        WatchError::Imap(e @ (ImapError::Auth { .. } | ImapError::Config(_))) => {
            error!(buzon = %buzon, error = %e, retry_in_seconds, "el buzón no puede autenticarse; revise credenciales y configuración")
        }
        other => {
            warn!(buzon = %buzon, error = %other, retry_in_seconds, "se perdió la conexión con el buzón; se reintenta")
        }
    }
}

fn log_outcome(buzon: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Opened { case, decision, .. } => {
            info!(buzon = %buzon, case = %case, decision = decision.as_str(), "caso abierto")
        }
        Outcome::Appended { case, .. } => {
            info!(buzon = %buzon, case = %case, "mensaje agregado a un caso")
        }
        Outcome::Duplicate { of, .. } => {
            info!(buzon = %buzon, original = of, "mensaje repetido; no se procesa otra vez")
        }
        Outcome::Quarantined { raw_id, .. } => {
            warn!(buzon = %buzon, raw_id, "mensaje ilegible en cuarentena")
        }
        Outcome::Ignored { raw_id } => {
            info!(buzon = %buzon, raw_id, "mensaje automático sin caso; guardado sin respuesta")
        }
    }
}

/// `base` ±25 %, so many daemons (or buzones) do not reconnect in lockstep.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(0.75 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..1000 {
            let wait = jittered(Duration::from_secs(8));
            assert!(wait >= Duration::from_secs(6) && wait <= Duration::from_secs(10), "{wait:?}");
        }
    }

    fn store_failure() -> WatchError {
        WatchError::Store(StoreError::Conflict)
    }

    fn imap_failure() -> WatchError {
        WatchError::Imap(ImapError::Config("prueba".into()))
    }

    /// The bases of the waits (the jitter removed by bounds).
    fn waits(backoff: &mut Backoff, failure: fn() -> WatchError, n: usize) -> Vec<Duration> {
        (0..n).map(|_| backoff.after(&failure())).collect()
    }

    #[test]
    fn a_failing_database_is_retried_at_least_every_half_minute() {
        let mut backoff = Backoff::default();
        // A long server outage first grew the wait; then the database fails.
        waits(&mut backoff, imap_failure, 12);
        for wait in waits(&mut backoff, store_failure, 20) {
            assert!(wait <= STORE_BACKOFF_MAX.mul_f64(1.25), "{wait:?}");
        }
    }

    #[test]
    fn the_wait_starts_over_after_a_sync_went_through() {
        let mut backoff = Backoff::default();
        let grown = waits(&mut backoff, imap_failure, 12);
        assert!(grown[11] >= BACKOFF_MAX.mul_f64(0.75), "{grown:?}");
        backoff.reset();
        let first = backoff.after(&imap_failure());
        assert!(first <= BACKOFF_START.mul_f64(1.25), "{first:?}");
    }

    #[tokio::test]
    async fn shutdown_wait_completes_once_asked() {
        let (sender, shutdown) = Shutdown::new();
        assert!(!shutdown.requested());
        let waiter = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.wait().await }
        });
        sender.send(true).expect("send");
        tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("in time").expect("join");
        assert!(shutdown.requested());
    }
}
