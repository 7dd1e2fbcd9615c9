//! The outbox worker: one scheduler that owns the sending. It waits until the next row is due or
//! the watchers say new rows were written, renders each row from its template, sends it from
//! the buzón the case came in on, and records `enviado`, `fallo_temporal` (retried with backoff
//! up to `general.reintentos_horas`) or `fallo_permanente` with the server's reply.
//!
//! Each buzón has its own loop (a slow or dead server holds back only its own mail), and each
//! loop sends up to `conexiones_smtp` rows at once. What one reader must see in order stays in
//! order: a round's rows to the same recipient in the same case (the acknowledgement before the
//! solution) go one after the other, as do an agent's notifications (one of them may fold the
//! others into a digest, and a row being sent alone must not be folded meanwhile).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::desk::case::ReplyKind;
use crate::lease::{Leases, buzon_lease};
use crate::live::Live;
use crate::mail::outgoing::{self, Outgoing, OutgoingError, OutgoingFile};
use crate::mail::smtp::{Sender, SmtpError};
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::store::outbox::{DigestPlan, DraftContext, OutboxItem, UnreadableRow};
use crate::text::mask_personal;

/// Most bytes of the requester's files forwarded with one agent notification.
const FORWARD_MAX_BYTES: usize = 10 * 1024 * 1024;
/// Rows taken per round.
const ROUND: i64 = 32;
/// Longest sleep when nothing is due (the watchers wake the worker earlier).
const IDLE_WAIT: Duration = Duration::from_secs(60);
/// First retry after a transient failure; doubles per attempt up to [`RETRY_MAX`].
const RETRY_START: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(30 * 60);

/// One buzón's way out.
struct Way {
    address: String,
    name: String,
    sender: Sender,
}

pub struct OutboxWorker {
    /// Templates, known errors and limits are read anew for each mail (SIGHUP reloads them).
    live: Live,
    store: Store,
    ways: HashMap<String, Way>,
    wake: Arc<Notify>,
    shutdown: Shutdown,
    leases: Leases,
}

impl OutboxWorker {
    /// A worker for every buzón with SMTP settings; `None` when no buzón has them.
    pub fn new(
        live: Live,
        store: Store,
        wake: Arc<Notify>,
        shutdown: Shutdown,
        leases: Leases,
    ) -> Result<Option<OutboxWorker>, (String, SmtpError)> {
        let mut ways = HashMap::new();
        for buzon in &live.desk().config.buzones {
            if let Some(smtp) = &buzon.smtp {
                let sender = Sender::new(smtp).map_err(|e| (buzon.name.clone(), e))?;
                let way =
                    Way { address: buzon.address.clone(), name: smtp.sender_name.clone(), sender };
                ways.insert(buzon.name.clone(), way);
            }
        }
        if ways.is_empty() {
            return Ok(None);
        }
        Ok(Some(OutboxWorker { live, store, ways, wake, shutdown, leases }))
    }

    /// Sends until shutdown: one loop per buzón, all in this one task. Takes `&self` so that
    /// the supervisor can start it again after a panic (every loop starts again with it);
    /// everything it knows between rounds is in the store.
    pub async fn run(&self) {
        let loops: Vec<(&str, &Way, Notify)> =
            self.ways.iter().map(|(name, way)| (name.as_str(), way, Notify::new())).collect();
        let buzones = loops.iter().map(|(name, way, wake)| self.run_buzon(name, way, wake));
        tokio::join!(self.relay_wakes(&loops), futures::future::join_all(buzones));
        info!("cola de salida detenida");
    }

    /// Passes each wake-up of the watchers on to every buzón's loop (`notify_one` wakes only
    /// one waiter; a per-loop `Notify` keeps the wake-up for a loop that is busy sending).
    async fn relay_wakes(&self, loops: &[(&str, &Way, Notify)]) {
        loop {
            tokio::select! {
                () = self.wake.notified() => loops.iter().for_each(|(_, _, wake)| wake.notify_one()),
                () = self.shutdown.wait() => return,
            }
        }
    }

    /// One buzón's rounds until shutdown.
    async fn run_buzon(&self, name: &str, way: &Way, wake: &Notify) {
        while !self.shutdown.requested() {
            // Mail leaves from the node that reads its buzón (on a shared database, the holder
            // of the buzón's lease): one sender per mail, and it is the node that just wrote it.
            let buzones: Vec<String> = if self.leases.holds(&buzon_lease(name)) {
                vec![name.to_string()]
            } else {
                Vec::new()
            };
            let due = match self.store.due_outbox(&buzones, ROUND).await {
                Ok(due) => due,
                Err(e) => {
                    warn!(buzon = %name, error = %e, "no se pudo leer la cola de salida; se reintenta");
                    Vec::new()
                }
            };
            if !due.is_empty() {
                test_hooks::panic_once("tarea");
            }
            let full = due.len() as i64 == ROUND;
            self.send_round(due, way.sender.connections()).await;
            if full {
                continue;
            }
            let wait = self.until_next_due(&buzones).await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => {}
                () = self.shutdown.wait() => break,
            }
        }
    }

    /// One round of a buzón: the rows of each [`in_order`] group one after the other, up to
    /// `connections` groups at once.
    async fn send_round(&self, due: Vec<Row>, connections: usize) {
        let groups = in_order(due, order_keys);
        futures::stream::iter(groups)
            .for_each_concurrent(connections.max(1), |group| self.send_in_order(group))
            .await;
    }

    async fn send_in_order(&self, rows: Vec<Row>) {
        for row in &rows {
            if self.shutdown.requested() {
                return;
            }
            match row {
                // The lease may be lost in the middle of a round (each send takes a while):
                // the new holder sends the rest, so this node stops at once, not after up
                // to a round of mail sent twice.
                Ok(item) if !self.leases.holds(&buzon_lease(&item.buzon)) => continue,
                Ok(item) => self.dispatch_guarded(item).await,
                Err(unreadable) => self.fail_unreadable(unreadable).await,
            }
        }
    }

    async fn until_next_due(&self, buzones: &[String]) -> Duration {
        let Ok(Some(next)) = self.store.next_outbox_due(buzones).await else { return IDLE_WAIT };
        let until = next - chrono::Utc::now();
        until.to_std().unwrap_or(Duration::ZERO).min(IDLE_WAIT)
    }

    /// [`Worker::dispatch`], with a panic kept to its row: the row is failed for good (it may
    /// even have been sent) instead of stopping the worker, which would pick the same row first
    /// again after every restart and send nothing else.
    async fn dispatch_guarded(&self, item: &OutboxItem) {
        let Err(panic) = AssertUnwindSafe(self.dispatch(item)).catch_unwind().await else {
            return;
        };
        let detail = mask_personal(&crate::supervisor::panic_text(panic.as_ref()));
        error!(event = "panico_envio", outbox = item.id, case = %item.case_number, error = %detail, "fallo interno (pánico) con este correo; no se reintenta");
        let reason = "fallo interno (pánico) al armar o enviar este correo; el detalle está en el \
                      registro del servicio (event=panico_envio)";
        self.record(item, self.store.mark_failed(item.id, reason).await);
    }

    /// Render, send, record. Store errors are logged: the row stays due and is tried again.
    async fn dispatch(&self, item: &OutboxItem) {
        test_hooks::panic_once("fila");
        let Some(way) = self.ways.get(&item.buzon) else { return };
        let Some(context) = self.readable_context(item).await else { return };
        if item.kind == ReplyKind::NotificacionAgente && self.folded(item).await {
            return;
        }
        let files = if item.kind.forwards_files() {
            self.original_files(item, &context).await
        } else {
            Vec::new()
        };
        let message = match self.compose(item, &context, way, files) {
            Ok(message) => message,
            Err(e) => {
                error!(outbox = item.id, case = %item.case_number, error = %mask_personal(&e.to_string()), "no se pudo armar el correo");
                self.record(item, self.store.mark_failed(item.id, &e.to_string()).await);
                return;
            }
        };
        let recipients = [item.to_addr.clone()];
        match way.sender.send(&way.address, &recipients, &message).await {
            Ok(reply) => {
                info!(outbox = item.id, case = %item.case_number, kind = item.kind.as_str(), "correo enviado");
                self.record(item, self.store.mark_sent(item.id, &reply).await);
            }
            Err(e) if e.is_transient() && !self.past_horizon(item) => {
                let next = chrono::Utc::now() + retry_delay(item.attempts);
                warn!(outbox = item.id, attempts = item.attempts + 1, error = %mask_personal(&e.to_string()), "envío aplazado; se reintenta");
                self.record(item, self.store.mark_retry(item.id, next, &e.to_string()).await);
            }
            Err(e) => {
                error!(outbox = item.id, case = %item.case_number, error = %mask_personal(&e.to_string()), "envío fallido definitivamente");
                self.record(item, self.store.mark_failed(item.id, &e.to_string()).await);
            }
        }
    }

    /// The row's context; one that does not read is that row's permanent failure (sending it
    /// would drop its attachments or its text without a word).
    async fn readable_context(&self, item: &OutboxItem) -> Option<DraftContext> {
        match item.context() {
            Ok(context) => Some(context),
            Err(e) => {
                error!(outbox = item.id, case = %item.case_number, error = %e, "no se pudo leer el contexto del correo");
                self.record(item, self.store.mark_failed(item.id, &e.to_string()).await);
                None
            }
        }
    }

    /// Whether an agent notification does not go alone: it went into a digest (queued now, sent
    /// next round) or waits for its agent's next digest. A store error sends it alone.
    async fn folded(&self, item: &OutboxItem) -> bool {
        let desk = self.live.desk();
        let more_than = desk.config.notificaciones.digest_from;
        if more_than == 0 {
            return false;
        }
        let rows = match self.store.digest_plan(item, more_than).await {
            Ok(DigestPlan::Alone) => return false,
            Ok(DigestPlan::Later) => return true,
            Ok(DigestPlan::Gather(rows)) => rows,
            Err(e) => {
                warn!(outbox = item.id, error = %e, "no se pudo decidir el resumen; sale sola");
                return false;
            }
        };
        let Some(buzon) = desk.config.buzon(&item.buzon) else { return false };
        let mut readable = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(context) = self.readable_context(&row).await {
                readable.push((row, context));
            }
        }
        if readable.len() < 2 {
            return false;
        }
        let Some(draft) = crate::pipeline::digest_draft(&desk.ids, &desk.config, buzon, &readable)
        else {
            return false;
        };
        let covered: Vec<i64> = readable.iter().map(|(r, _)| r.id).collect();
        match self.store.queue_digest(&draft, &covered).await {
            Ok(Some(digest)) => {
                info!(
                    outbox = digest,
                    notifications = covered.len(),
                    "notificaciones agrupadas en un resumen"
                );
                true
            }
            Ok(None) => true,
            Err(e) => {
                warn!(outbox = item.id, error = %e, "no se pudo armar el resumen; sale sola");
                false
            }
        }
    }

    /// A row this version cannot read is never sent: marked failed, with why, for an operator.
    async fn fail_unreadable(&self, row: &UnreadableRow) {
        let why = format!("fila ilegible: {}", row.error);
        error!(outbox = row.id, error = %why, "no se pudo leer el correo de la cola");
        if let Err(e) = self.store.mark_failed(row.id, &why).await {
            warn!(outbox = row.id, error = %e, "no se pudo registrar el resultado del envío");
        }
    }

    fn record(&self, item: &OutboxItem, result: Result<(), crate::store::StoreError>) {
        if let Err(e) = result {
            // Sent but not marked: at worst the same Message-ID goes out once more.
            warn!(outbox = item.id, error = %e, "no se pudo registrar el resultado del envío");
        }
    }

    fn past_horizon(&self, item: &OutboxItem) -> bool {
        let horizon = chrono::Duration::hours(
            i64::try_from(self.live.desk().config.general.retry_hours).unwrap_or(48),
        );
        chrono::Utc::now() - item.created_at > horizon
    }

    /// The row's template rendered with its context, as RFC 5322 bytes.
    fn compose(
        &self,
        item: &OutboxItem,
        context: &DraftContext,
        way: &Way,
        attachments: Vec<OutgoingFile>,
    ) -> Result<Vec<u8>, OutgoingError> {
        let rendered = self.render_context(item, context, way);
        let (text, html) = self.live.templates().render(item.kind.as_str(), &rendered)?;
        let references: Vec<String> = item
            .refs
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let outgoing = Outgoing {
            from_name: way.name.clone(),
            from_address: way.address.clone(),
            to: vec![item.to_addr.clone()],
            subject: item.subject.clone(),
            message_id: item.message_id.clone(),
            in_reply_to: item.in_reply_to.clone(),
            references,
            thread_topic: outgoing::thread_topic(&item.subject),
            // Agent mail carries its place in the agents' conversation of the case; mail to the
            // requester extends the requester's own Outlook conversation when they sent one.
            thread_index: context.agent_thread_index.clone().unwrap_or_else(|| {
                outgoing::thread_index_of(
                    context.thread_index.as_deref(),
                    item.created_at,
                    item.case_number.as_bytes(),
                    item.message_id.as_bytes(),
                )
            }),
            text,
            html: Some(html),
            attachments,
            written_by_person: item.kind.written_by_person(),
        };
        outgoing::build(&outgoing)
    }

    /// The XML and evidence the requester sent, re-read from the stored raw messages (no second
    /// copy is kept), for an agent's notification or the CSAT package; at most
    /// [`FORWARD_MAX_BYTES`] in all. A redacted (security) mail carries none.
    async fn original_files(&self, item: &OutboxItem, context: &DraftContext) -> Vec<OutgoingFile> {
        if context.redacted {
            return Vec::new();
        }
        let raw_ids: Vec<i64> = match &context.raw_message_ids {
            Some(ids) => ids.clone(),
            None => context.raw_message_id.into_iter().collect(),
        };
        let limits = self.live.desk().config.limites.attachments();
        let mut files = Vec::new();
        let mut total = 0;
        for raw_id in raw_ids {
            let Ok(Some((_, raw))) = self.store.raw_message(raw_id).await else {
                warn!(
                    outbox = item.id,
                    raw = raw_id,
                    "el mensaje original ya no está (retención): el correo sale sin sus adjuntos"
                );
                continue;
            };
            let Ok(inbound) = crate::mail::parse(&raw, &limits) else { continue };
            for file in inbound.files.into_iter().filter(|f| f.is_xml() || f.is_evidence()) {
                total += file.bytes.len();
                if total > FORWARD_MAX_BYTES {
                    return files;
                }
                files.push(OutgoingFile {
                    name: file.source,
                    content_type: file.content_type,
                    bytes: file.bytes,
                });
            }
        }
        files
    }

    /// The stored context plus what is looked up at send time: the known-error answers, the
    /// buzón's address and the desk's name.
    fn render_context(&self, item: &OutboxItem, stored: &DraftContext, way: &Way) -> Value {
        let desk = self.live.desk();
        let answers: Vec<Value> = stored
            .known_errors
            .iter()
            .flatten()
            .filter_map(|code| desk.knowledge.get(code))
            .map(|known| {
                json!({
                    "code": known.code,
                    "official_message": known.official_message,
                    "meaning": known.meaning,
                    "answer": known.first_contact_answer,
                })
            })
            .collect();
        // Known errors learned from problemas travel in the context (they are not in the file).
        let mut answers = answers;
        answers.extend(stored.learned_answers.iter().flatten().map(|learned| json!(learned)));
        let mut context = stored.to_value();
        if let Value::Object(map) = &mut context {
            map.insert("known_error_answers".into(), Value::Array(answers));
            map.insert("buzon_address".into(), json!(way.address));
            map.insert("desk_name".into(), json!(way.name));
            // The template filter `fecha` writes times in this zone (the offset for old templates).
            let zone = desk.config.zone();
            map.insert("zona_horaria".into(), json!(zone.tz_name()));
            map.insert("zona_horaria_horas".into(), json!(zone.offset_hours(chrono::Utc::now())));
            map.entry("case").or_insert_with(|| json!(item.case_number));
        }
        context
    }
}

/// A due row, or one this version cannot read.
type Row = Result<OutboxItem, UnreadableRow>;

/// What ties a row to others that must go before it: the same recipient in the same case (an
/// acknowledgement before the solution), and for an agent's notifications and digests, the
/// agent. An unreadable row is tied to nothing.
fn order_keys(row: &Row) -> Vec<String> {
    let Ok(item) = row else { return Vec::new() };
    let to = item.to_addr.trim().to_lowercase();
    let mut keys = vec![format!("{}\n{to}", item.case_number)];
    if matches!(item.kind, ReplyKind::NotificacionAgente | ReplyKind::ResumenNotificaciones) {
        keys.push(format!("agente\n{to}"));
    }
    keys
}

/// `rows` (in due order) split into groups that share no key, each group in due order: rows
/// sharing a key, even through a third row, land in the same group.
fn in_order<T>(rows: Vec<T>, keys: impl Fn(&T) -> Vec<String>) -> Vec<Vec<T>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..rows.len()).collect();
    let mut first_with: HashMap<String, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        for key in keys(row) {
            let other = *first_with.entry(key).or_insert(i);
            let (a, b) = (root(&mut parent, i), root(&mut parent, other));
            // The earlier row's root wins, so a group's root is its first row.
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut slot_of: HashMap<usize, usize> = HashMap::new();
    for (i, row) in rows.into_iter().enumerate() {
        let root = root(&mut parent, i);
        let slot = *slot_of.entry(root).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(row);
    }
    groups
}

/// Failure injection for the test that the supervisor restarts the worker. Only in debug builds:
/// a release binary has no such switch.
mod test_hooks {
    /// Panics once in this process at `place` when `MESA_FE_PRUEBA_PANICO_COLA_SALIDA` names it:
    /// `tarea` (the worker's round, before any send: the supervisor restarts it and the mail
    /// goes out after) or `fila` (one row's dispatch: that row fails, the rest go on).
    pub fn panic_once(place: &str) {
        #[cfg(debug_assertions)]
        {
            use std::sync::atomic::{AtomicBool, Ordering};
            static PANICKED: AtomicBool = AtomicBool::new(false);
            if std::env::var("MESA_FE_PRUEBA_PANICO_COLA_SALIDA").is_ok_and(|p| p == place)
                && !PANICKED.swap(true, Ordering::SeqCst)
            {
                panic!("MESA_FE_PRUEBA_PANICO_COLA_SALIDA: pánico de prueba de la cola de salida");
            }
        }
        #[cfg(not(debug_assertions))]
        let _ = place;
    }
}

/// 5 s, 10 s, 20 s … up to 30 min, ±25 %.
fn retry_delay(attempts: i64) -> chrono::Duration {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let base = RETRY_START.saturating_mul(2u32.saturating_pow(exponent)).min(RETRY_MAX);
    let jittered = base.mul_f64(0.75 + fastrand::f64() * 0.5);
    chrono::Duration::from_std(jittered).unwrap_or_else(|_| chrono::Duration::minutes(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_tied_by_a_key_stay_together_in_due_order() {
        // (id, keys): 1 and 3 share a case; 2 and 5 an agent; 4 ties 3 to 5; 6 is alone.
        let rows = vec![
            (1, vec!["c1"]),
            (2, vec!["c2", "agente"]),
            (3, vec!["c1"]),
            (4, vec!["c1", "agente"]),
            (5, vec!["c3", "agente"]),
            (6, vec!["c4"]),
            (7, vec![]),
        ];
        let groups = in_order(rows, |(_, keys)| keys.iter().map(|k| k.to_string()).collect());
        let ids: Vec<Vec<i32>> =
            groups.iter().map(|g| g.iter().map(|(id, _)| *id).collect()).collect();
        assert_eq!(ids, vec![vec![1, 2, 3, 4, 5], vec![6], vec![7]]);

        let apart = in_order(vec![(1, vec!["a"]), (2, vec!["b"]), (3, vec!["a"])], |(_, keys)| {
            keys.iter().map(|k| k.to_string()).collect()
        });
        let ids: Vec<Vec<i32>> =
            apart.iter().map(|g| g.iter().map(|(id, _)| *id).collect()).collect();
        assert_eq!(ids, vec![vec![1, 3], vec![2]]);
    }

    #[test]
    fn retries_back_off_to_half_an_hour() {
        let first = retry_delay(0).num_milliseconds();
        assert!((3_750..=6_250).contains(&first), "{first}");
        let later = retry_delay(3).num_seconds();
        assert!((30..=50).contains(&later), "{later}");
        let capped = retry_delay(40).num_seconds();
        assert!((1350..=2250).contains(&capped), "{capped}");
    }
}
