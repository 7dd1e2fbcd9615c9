//! The SQL of [`crate::store::cases`]: cases, their messages, documents, rejections, events and
//! outbox rows. Written once against the backend aliases of its parent (`super::{DB, Row, Tx}`), so
//! each backend that mounts it compiles the same text.

use crate::store::cases::*;
use std::collections::HashMap;

use sqlx::{QueryBuilder, Row as _};

use crate::store::message::MessageRecord;
use crate::store::outbox::OutboxDraft;
use crate::store::raw::{RawStatus, sha256_hex};
use chrono::Utc;

use super::prior::{Asked, Known};
use super::writes::Writes;
use super::{
    Connection, DB, Row, Store, StoreError, Tx, now_text, optional_instant_column, timestamp,
};
use crate::desk::case::{Case, Event, ReplyKind, Status, Transition};
use crate::desk::{Channel, Level, Tema};

/// The part of [`Case`] kept as JSON (everything not in its own column).
#[derive(serde::Serialize, serde::Deserialize)]
struct EngineState {
    required: Vec<crate::desk::Requirement>,
    evidence: crate::desk::requirements::Evidence,
    #[serde(default)]
    path: Vec<crate::desk::case::Hop>,
    #[serde(default)]
    diagnosed: bool,
}

impl Store {
    /// Opens a case: number, rows and outbox in one transaction. `drafts` composes the outbox rows
    /// once the case number is known.
    pub async fn open_case(
        &self,
        new: NewCase<'_>,
        drafts: impl FnOnce(&str) -> Vec<OutboxDraft>,
    ) -> Result<String, StoreError> {
        let message = new.message;
        let requester = message.requester();
        let mut tx = self.write_tx().await?;
        let number = next_case_number(&mut tx, new.prefix, new.year).await?;
        let drafts = drafts(&number);
        let asked = Asked::new(new.raw_id, &drafts, new.reply_cap);
        let asked = match new.case_cap {
            Some(_) => asked.opened_by(requester),
            None => asked,
        };
        let known = asked.read(&mut tx).await?;
        // Counted inside the transaction: two messages of one sender cannot both pass the cap.
        if let Some(cap) = new.case_cap
            && known.opened_last_hour >= i64::from(cap)
        {
            return Err(StoreError::CaseCap);
        }
        let case = &new.transition.case;
        let now = now_text();
        let case_id: i64 = sqlx::query_scalar(
            "INSERT INTO cases (number, year, status, level, tema, channel, buzon, requester, requester_name, \
             subject, security_category, group_name, agent, first_contact, engine_state, missing_requirements, \
             created_at, updated_at, solved_at, follow_up_until, level_since, provider_nit, parent_id, external_ref, \
             search_text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, \
             CASE WHEN $18 IS NULL THEN NULL ELSE $17 END, $18, $17, $19, \
             (SELECT p.id FROM cases p WHERE p.number = $20), $21, $22) RETURNING id",
        )
        .bind(&number)
        .bind(new.year)
        .bind(case.status.as_str())
        .bind(case.level.as_str())
        .bind(case.tema.as_str())
        .bind(case.channel.as_str())
        .bind(new.buzon)
        .bind(requester)
        .bind(message.from_name)
        .bind(message.subject)
        .bind(case.security_category.map(String::from))
        .bind(case.group.as_deref())
        .bind(case.agent.as_deref())
        .bind(i64::from(case.first_contact))
        .bind(engine_state(case)?)
        .bind(missing_text(case))
        .bind(&now)
        .bind(new.follow_up_until.map(timestamp))
        .bind(new.provider_nit.as_deref())
        .bind(case.parent.as_deref())
        // Aranda's ticket or PQSR's radicado, read from the notification that opened the case.
        .bind(case.external_ref.as_deref())
        // What the console's search by words reads.
        .bind(crate::store::console_cases::search_text(message.subject, message.own_words))
        .fetch_one(&mut *tx)
        .await?;
        if let Some(related) = new.related {
            let event = (related.event)(&number);
            insert_events(&mut tx, related.case_id, &[event], SYSTEM_ACTOR).await?;
        }
        write_message_and_effects(
            &mut tx,
            case_id,
            new.raw_id,
            message,
            new.transition,
            drafts,
            &known,
        )
        .await?;
        tx.commit().await?;
        Ok(number)
    }

    /// Appends a message to an existing case and applies the engine's transition.
    pub async fn append_to_case(
        &self,
        raw_id: i64,
        found: &FoundCase,
        message: &MessageRecord<'_>,
        change: &CaseChange<'_>,
        reply_cap: u32,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let mut drafts = change.drafts.clone();
        // The coordinator hears of a sender past the cap once an hour: the notice's outbox row is
        // the marker, read in this same transaction.
        let notice = drafts.iter().any(|d| d.kind == ReplyKind::AvisoTopeCasos);
        let asked = Asked::new(raw_id, &drafts, reply_cap);
        let asked = if notice { asked.cap_notice_for(&found.requester) } else { asked };
        let known = asked.read(&mut tx).await?;
        update_case(&mut tx, found, change).await?;
        if known.cap_notice_sent {
            drafts.retain(|d| d.kind != ReplyKind::AvisoTopeCasos);
        }
        write_message_and_effects(
            &mut tx,
            found.id,
            raw_id,
            message,
            change.transition,
            drafts,
            &known,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The case a sender's mail joins once the sender opened `cap` cases in the last hour: its
    /// latest open case, else its latest case. `None` while under the cap.
    pub async fn case_cap_target(
        &self,
        requester: &str,
        cap: u32,
    ) -> Result<Option<FoundCase>, StoreError> {
        let opened = cases_opened_last_hour(&mut *self.reader().await?, requester).await?;
        if opened < i64::from(cap) {
            return Ok(None);
        }
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM cases WHERE requester = $1 AND merged_into_id IS NULL \
             ORDER BY status IN ('solucionado', 'cerrado'), id DESC LIMIT 1",
        )
        .bind(requester)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        match latest {
            Some(id) => self.case_by_id(id).await,
            None => Ok(None),
        }
    }

    /// The case a message belongs to: a reply to one of our outbox messages, then the subject
    /// tag, then a reply to any message stored on a case.
    /// A duplicate merged into another case (`#fusionar`) hands its mail to that case.
    pub async fn find_case_for(
        &self,
        message: &MessageRecord<'_>,
        signed_case: Option<&str>,
    ) -> Result<Option<(FoundCase, ThreadMatch)>, StoreError> {
        let Some((found, how)) = self.find_own_case_for(message, signed_case).await? else {
            return Ok(None);
        };
        Ok(Some((self.follow_merges(found).await?, how)))
    }

    /// The case a merged duplicate's rows went to (through earlier merges too); the case itself
    /// when it was not merged.
    async fn follow_merges(&self, mut found: FoundCase) -> Result<FoundCase, StoreError> {
        // Merges refuse a target that was merged, so a chain is short; the bound stops a loop.
        for _ in 0..8 {
            let Some(number) = found.merged_into.clone() else { break };
            match self.case_by_number(&number).await? {
                Some(target) => found = target,
                None => break,
            }
        }
        Ok(found)
    }

    async fn find_own_case_for(
        &self,
        message: &MessageRecord<'_>,
        signed_case: Option<&str>,
    ) -> Result<Option<(FoundCase, ThreadMatch)>, StoreError> {
        if let Some(number) = signed_case
            && let Some(found) = self.case_by_number(number).await?
        {
            return Ok(Some((found, ThreadMatch::Signed)));
        }
        let thread: Vec<&str> = message.thread().collect();
        for id in &thread {
            // Our outbox keeps the angle brackets; parsed headers do not.
            let by_outbox: Option<i64> =
                sqlx::query_scalar("SELECT case_id FROM outbox WHERE message_id = $1")
                    .bind(format!("<{id}>"))
                    .fetch_optional(&mut *self.reader().await?)
                    .await?;
            if let Some(case_id) = by_outbox {
                return Ok(self.case_by_id(case_id).await?.map(|f| (f, ThreadMatch::OurMessage)));
            }
        }
        if let Some(number) = message.case_ref
            && let Some(found) = self.case_by_number(number).await?
        {
            return Ok(Some((found, ThreadMatch::SubjectTag)));
        }
        for id in &thread {
            let by_message: Option<i64> = sqlx::query_scalar(
                "SELECT case_id FROM case_messages WHERE message_id = $1 ORDER BY id LIMIT 1",
            )
            .bind(*id)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
            if let Some(case_id) = by_message {
                return Ok(self.case_by_id(case_id).await?.map(|f| (f, ThreadMatch::TheirMessage)));
            }
        }
        Ok(None)
    }

    pub async fn case_by_number(&self, number: &str) -> Result<Option<FoundCase>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM cases WHERE number = $1")
            .bind(number)
            .fetch_optional(&mut *self.reader().await?)
            .await?;
        match id {
            Some(id) => self.case_by_id(id).await,
            None => Ok(None),
        }
    }

    pub async fn case_by_id(&self, id: i64) -> Result<Option<FoundCase>, StoreError> {
        let row = sqlx::query(
            "SELECT c.id, c.number, c.status, c.level, c.tema, c.channel, c.buzon, c.requester, c.security_category, \
             c.group_name, c.agent, c.first_contact, c.engine_state, c.version, c.external_ref, \
             c.case_type, c.root_cause, c.level_since, c.waiting_since, \
             p.number AS parent_number, m.number AS merged_number FROM cases c \
             LEFT JOIN cases p ON p.id = c.parent_id LEFT JOIN cases m ON m.id = c.merged_into_id \
             WHERE c.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        row.map(|row| found_case(&row)).transpose()
    }

    /// Open cases held by each of these agents: read from `agent_loads`, which triggers on
    /// `cases` keep (counting them here cost one index entry per open case at every new case).
    pub async fn open_case_counts(
        &self,
        agents: &[String],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let mut counts: HashMap<String, i64> = agents.iter().map(|a| (a.clone(), 0)).collect();
        if agents.is_empty() {
            return Ok(counts);
        }
        let mut query =
            QueryBuilder::<DB>::new("SELECT agent, open_cases FROM agent_loads WHERE agent IN (");
        let mut list = query.separated(", ");
        for agent in agents {
            list.push_bind(agent);
        }
        query.push(")");
        let rows: Vec<(String, i64)> = query.build_query_as().fetch_all(&mut *self.reader().await?).await?;
        counts.extend(rows);
        Ok(counts)
    }

    /// The case a stored raw message went to, if any.
    pub async fn case_of_raw(&self, raw_id: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT c.number FROM case_messages m JOIN cases c ON c.id = m.case_id WHERE m.raw_message_id = $1",
        )
        .bind(raw_id)
        .fetch_optional(&mut *self.reader().await?)
        .await?)
    }

    pub async fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT number, status, level, tema, channel, case_type, agent, subject, created_at FROM cases \
             WHERE ($1 IS NULL OR level = $1) AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR tema = $3) \
             AND ($4 IS NULL OR parent_id = (SELECT p.id FROM cases p WHERE p.number = $4)) \
             AND ($5 = 0 OR (status NOT IN ('solucionado', 'cerrado') AND EXISTS \
                 (SELECT 1 FROM sla_breaches b WHERE b.case_id = cases.id AND b.level = cases.level))) \
             AND ($6 IS NULL OR case_type = $6) AND ($7 IS NULL OR channel = $7) \
             AND ($8 IS NULL OR EXISTS (SELECT 1 FROM documents d WHERE d.case_id = cases.id \
                 AND (d.uuid IN ($8, $9) OR d.referenced_uuid IN ($8, $9)))) \
             AND ($10 IS NULL OR provider_nit = $10 OR EXISTS (SELECT 1 FROM documents d \
                 WHERE d.case_id = cases.id AND (d.supplier_nit = $10 OR d.customer_nit = $10))) \
             AND ($11 IS NULL OR requester = $11) \
             AND ($12 IS NULL OR external_ref IN ($12, $13, $14)) \
             ORDER BY id",
        )
        .bind(filter.level.map(Level::as_str))
        .bind(filter.status.map(Status::as_str))
        .bind(filter.tema.map(Tema::as_str))
        .bind(filter.parent.as_deref())
        .bind(i64::from(filter.overdue))
        .bind(filter.case_type.map(crate::desk::CaseType::as_str))
        .bind(filter.channel.map(Channel::as_str))
        // A CUFE is hexadecimal: written in either case, it is found as the XML wrote it.
        .bind(filter.cufe.as_ref().map(|c| c.to_lowercase()))
        .bind(filter.cufe.as_ref().map(|c| c.to_uppercase()))
        .bind(filter.nit.as_deref())
        .bind(filter.requester.as_deref())
        // `778812` finds `Aranda 778812` and `PQSR 778812` as well as itself.
        .bind(filter.external_ref.as_deref())
        .bind(filter.external_ref.as_deref().map(|r| format!("Aranda {r}")))
        .bind(filter.external_ref.as_deref().map(|r| format!("PQSR {r}")))
        .fetch_all(&mut *self.reader().await?)
        .await?;
        rows.iter().map(case_summary).collect()
    }
}

fn case_summary(row: &Row) -> Result<CaseSummary, StoreError> {
    Ok(CaseSummary {
        number: row.try_get("number")?,
        status: row.try_get("status")?,
        level: row.try_get("level")?,
        tema: row.try_get("tema")?,
        channel: row.try_get("channel")?,
        case_type: row.try_get("case_type")?,
        agent: row.try_get("agent")?,
        subject: row.try_get("subject")?,
        created_at: row.try_get("created_at")?,
    })
}

fn corrupt(what: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt { what, detail: format!("valor desconocido \"{value}\"") }
}

pub(super) fn found_case(row: &Row) -> Result<FoundCase, StoreError> {
    let text =
        |column: &str| -> Result<String, StoreError> { Ok(row.try_get::<String, _>(column)?) };
    let status = text("status")?;
    let level = text("level")?;
    let tema = text("tema")?;
    let channel = text("channel")?;
    let state: EngineState = serde_json::from_str(&text("engine_state")?)
        .map_err(|e| StoreError::Corrupt { what: "engine_state", detail: e.to_string() })?;
    let case = Case {
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        level: Level::parse(&level).ok_or_else(|| corrupt("level", &level))?,
        tema: Tema::parse(&tema).ok_or_else(|| corrupt("tema", &tema))?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        security_category: row
            .try_get::<Option<String>, _>("security_category")?
            .and_then(|c| c.chars().next()),
        group: row.try_get("group_name")?,
        agent: row.try_get("agent")?,
        required: state.required,
        evidence: state.evidence,
        first_contact: row.try_get::<i64, _>("first_contact")? != 0,
        path: state.path,
        diagnosed: state.diagnosed,
        parent: row.try_get("parent_number")?,
        external_ref: row.try_get("external_ref")?,
        case_type: {
            let name = text("case_type")?;
            crate::desk::CaseType::parse(&name).ok_or_else(|| corrupt("case_type", &name))?
        },
        root_cause: row.try_get("root_cause")?,
    };
    Ok(FoundCase {
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        number: text("number")?,
        case,
        requester: text("requester")?,
        buzon: text("buzon")?,
        merged_into: row.try_get("merged_number")?,
        level_since: optional_instant_column(row, "level_since")?,
        waiting_since: optional_instant_column(row, "waiting_since")?,
    })
}

/// The next number of `year`, taken inside the transaction that opens the case (gap-free).
pub(super) async fn next_case_number(
    tx: &mut Tx<'_>,
    prefix: &str,
    year: i32,
) -> Result<String, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO case_counters (year, last) VALUES ($1, 1) \
         ON CONFLICT (year) DO UPDATE SET last = case_counters.last + 1 RETURNING last",
    )
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    Ok(format!("{prefix}-{year}-{seq:06}"))
}

/// Writes the case's new state, if nobody changed it since it was read ([`StoreError::Conflict`]
/// otherwise). The control window is kept while the case stays solved and cleared when not; the
/// time spent waiting for the requester moves the level's SLA clock forward when the answer comes.
pub(super) async fn update_case(
    tx: &mut Tx<'_>,
    found: &FoundCase,
    change: &CaseChange<'_>,
) -> Result<(), StoreError> {
    let case = &change.transition.case;
    let instant = Utc::now();
    let now = timestamp(instant);
    let updated = sqlx::query(
        "UPDATE cases SET status = $1, level = $2, tema = $3, group_name = $4, agent = $5, first_contact = $6, \
         engine_state = $7, missing_requirements = $8, updated_at = $9, version = version + 1, \
         level_since = CASE WHEN level <> $2 OR (status IN ('solucionado', 'cerrado') \
             AND $1 NOT IN ('solucionado', 'cerrado')) THEN $9 \
             WHEN status = 'pendiente_informacion' AND $1 <> 'pendiente_informacion' AND waiting_since IS NOT NULL \
             THEN COALESCE($17, level_since) ELSE level_since END, \
         waiting_since = CASE WHEN $1 = 'pendiente_informacion' THEN COALESCE(waiting_since, $9) ELSE NULL END, \
         parent_id = (SELECT p.id FROM cases p WHERE p.number = $12), external_ref = $13, \
         case_type = $15, root_cause = $16, security_category = $18, \
         solved_at = CASE WHEN $1 <> 'solucionado' THEN NULL WHEN $14 IS NULL THEN solved_at ELSE $9 END, \
         follow_up_until = CASE WHEN $1 <> 'solucionado' THEN NULL ELSE COALESCE($14, follow_up_until) END \
         WHERE id = $10 AND version = $11",
    )
    .bind(case.status.as_str())
    .bind(case.level.as_str())
    .bind(case.tema.as_str())
    .bind(case.group.as_deref())
    .bind(case.agent.as_deref())
    .bind(i64::from(case.first_contact))
    .bind(engine_state(case)?)
    .bind(missing_text(case))
    .bind(&now)
    .bind(found.id)
    .bind(found.version)
    .bind(case.parent.as_deref())
    .bind(case.external_ref.as_deref())
    .bind(change.follow_up_until.map(timestamp))
    .bind(case.case_type.as_str())
    .bind(case.root_cause.as_deref())
    .bind(found.level_since_after_waiting(instant).map(timestamp))
    // `#seguridad` marks a case afterwards.
    .bind(case.security_category.map(String::from))
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

pub(super) fn engine_state(case: &Case) -> Result<String, StoreError> {
    serde_json::to_string(&EngineState {
        required: case.required.clone(),
        evidence: case.evidence.clone(),
        path: case.path.clone(),
        diagnosed: case.diagnosed,
    })
    .map_err(|e| StoreError::Corrupt { what: "engine_state", detail: e.to_string() })
}

fn missing_text(case: &Case) -> String {
    case.missing().iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

/// The message, its attachments, documents, rejections, the events and the outbox rows; then the
/// raw message is marked processed. Runs inside the caller's transaction.
pub(super) async fn write_message_and_effects(
    tx: &mut Tx<'_>,
    case_id: i64,
    raw_id: i64,
    message: &MessageRecord<'_>,
    transition: &Transition,
    drafts: Vec<OutboxDraft>,
    known: &Known,
) -> Result<(), StoreError> {
    let message_id = insert_message_row(tx, case_id, raw_id, message, "entrante").await?;
    let mut writes = Writes::default();
    push_attachments(&mut writes, message_id, message);
    insert_documents(tx, &mut writes, case_id, message_id, message).await?;
    let (drafts, held) = known.brake(drafts);
    let mut events = transition.events.clone();
    if held > 0 {
        events.push(note(
            &transition.case,
            format!(
                "Tope de {} respuestas automáticas por hora a este remitente: {held} respuesta(s) no se envían.",
                known.reply_cap
            ),
        ));
    }
    if let Some(earlier) = known.reused_message_id {
        events.push(note(
            &transition.case,
            format!(
                "El Message-ID de este correo ya lo traía otro correo con contenido distinto \
                 (mensaje {earlier}): el remitente lo reutilizó y este se procesa como un correo nuevo."
            ),
        ));
    }
    push_events(&mut writes, case_id, &events, SYSTEM_ACTOR);
    push_outbox(&mut writes, case_id, &drafts)?;
    push_claim(&mut writes, raw_id);
    // The claim is the one statement whose count is not known in advance.
    if writes.run(tx).await? == 0 {
        return Err(StoreError::AlreadyProcessed);
    }
    Ok(())
}

pub(super) fn hour_ago() -> String {
    timestamp(chrono::Utc::now() - chrono::Duration::hours(1))
}

/// Cases opened by `requester` in the last hour.
async fn cases_opened_last_hour(conn: &mut Connection, requester: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM cases WHERE requester = $1 AND created_at >= $2")
        .bind(requester)
        .bind(hour_ago())
        .fetch_one(conn)
        .await?)
}

/// An event that leaves the case where it stands (activity 1: what arrived and how).
fn note(case: &Case, detail: String) -> Event {
    Event {
        activity: crate::desk::case::Activity::RecibirSolicitud,
        from_status: Some(case.status),
        to_status: case.status,
        from_level: Some(case.level),
        to_level: case.level,
        detail,
    }
}

/// Claims the raw message: if another worker processed it meanwhile, the whole transaction
/// rolls back ([`StoreError::AlreadyProcessed`]).
pub(super) async fn claim_raw(tx: &mut Tx<'_>, raw_id: i64) -> Result<(), StoreError> {
    let mut writes = Writes::default();
    push_claim(&mut writes, raw_id);
    if writes.run(tx).await? == 0 {
        return Err(StoreError::AlreadyProcessed);
    }
    Ok(())
}

/// The claim of [`claim_raw`], among other writes: it changes one row, or none when the message
/// was processed already.
fn push_claim(writes: &mut Writes, raw_id: i64) {
    let claim = writes.statement("UPDATE raw_messages SET status = ");
    claim.push_bind(RawStatus::Procesado.as_str());
    claim.push(", processed_at = ").push_bind(now_text());
    claim.push(" WHERE id = ").push_bind(raw_id);
    claim.push(" AND status = ").push_bind(RawStatus::Pendiente.as_str());
}

/// `direction`: `entrante` (requester and others) or `agente` (an agent's or CSAT's command).
pub(super) async fn insert_message(
    tx: &mut Tx<'_>,
    case_id: i64,
    raw_id: i64,
    message: &MessageRecord<'_>,
    direction: &str,
) -> Result<i64, StoreError> {
    let id = insert_message_row(tx, case_id, raw_id, message, direction).await?;
    let mut writes = Writes::default();
    push_attachments(&mut writes, id, message);
    writes.run(tx).await?;
    Ok(id)
}

/// The message's row alone (its attachments: [`push_attachments`]).
async fn insert_message_row(
    tx: &mut Tx<'_>,
    case_id: i64,
    raw_id: i64,
    message: &MessageRecord<'_>,
    direction: &str,
) -> Result<i64, StoreError> {
    let problems = serde_json::to_string(&message.problems).unwrap_or_else(|_| "[]".into());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO case_messages (case_id, raw_message_id, direction, message_id, in_reply_to, from_addr, subject, \
         own_words, auto_generated, attachment_problems, created_at, thread_index) \
         VALUES ($1, $2, $11, $3, $4, $5, $6, $7, $8, $9, $10, $12) RETURNING id",
    )
    .bind(case_id)
    .bind(raw_id)
    .bind(message.message_id)
    .bind(message.in_reply_to.first().map(String::as_str))
    .bind(message.from)
    .bind(message.subject)
    .bind(message.own_words)
    .bind(i64::from(message.auto_generated))
    .bind(problems)
    .bind(now_text())
    .bind(direction)
    .bind(message.thread_index)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

fn push_attachments(writes: &mut Writes, message_id: i64, message: &MessageRecord<'_>) {
    if message.files.is_empty() {
        return;
    }
    let insert = writes.insert(
        "INSERT INTO attachments (case_message_id, source, content_type, size_bytes, sha256) ",
        message.files.len(),
    );
    insert.push_values(&message.files, |mut row, file| {
        row.push_bind(message_id)
            .push_bind(file.source)
            .push_bind(file.content_type)
            .push_bind(i64::try_from(file.bytes.len()).unwrap_or(i64::MAX))
            .push_bind(sha256_hex(file.bytes));
    });
}

/// At most this many documents per INSERT (19 parameters each, well under either backend's cap).
const DOCUMENTS_PER_INSERT: usize = 256;

const INSERT_DOCUMENTS: &str = "INSERT INTO documents (case_message_id, case_id, kind, type_code, uuid, \
     uuid_scheme, number, issue_date, environment, supplier_nit, customer_nit, software_provider_nit, \
     software_id, payable_amount, currency, response_code, referenced_uuid, source, findings) ";

/// The documents of a message in their order, with their rejections. Documents without
/// rejections join `writes`, in one statement per run of them (a round trip each is most of
/// their cost); one with rejections is inserted at once, alone, for its id, after the writes
/// before it (the documents keep their order).
async fn insert_documents(
    tx: &mut Tx<'_>,
    writes: &mut Writes,
    case_id: i64,
    message_id: i64,
    message: &MessageRecord<'_>,
) -> Result<(), StoreError> {
    let now = now_text();
    let mut documents = message.documents;
    while !documents.is_empty() {
        let plain = documents.iter().take_while(|d| d.rejections.is_empty()).count();
        if plain > 0 {
            let (run, rest) = documents.split_at(plain.min(DOCUMENTS_PER_INSERT));
            let insert = writes.insert(INSERT_DOCUMENTS, run.len());
            insert.push_values(run, |mut row, d| {
                bind_document(&mut row, case_id, message_id, d);
            });
            documents = rest;
            continue;
        }
        std::mem::take(writes).run(tx).await?;
        let Some((d, rest)) = documents.split_first() else { break };
        let mut insert = QueryBuilder::<DB>::new(INSERT_DOCUMENTS);
        insert.push_values(std::iter::once(d), |mut row, d| {
            bind_document(&mut row, case_id, message_id, d);
        });
        insert.push(" RETURNING id");
        let document_id: i64 = insert.build_query_scalar().fetch_one(&mut **tx).await?;
        for r in &d.rejections {
            insert_rejection(tx, case_id, Some(document_id), &r.code, &r.description, &now).await?;
        }
        documents = rest;
    }
    let in_documents =
        |code: &str| message.documents.iter().flat_map(|d| &d.rejections).any(|r| r.code == code);
    let alone: Vec<_> = message.rejections.iter().filter(|r| !in_documents(&r.code)).collect();
    if !alone.is_empty() {
        let insert = writes.insert(
            "INSERT INTO rejections (document_id, case_id, code, description, created_at) ",
            alone.len(),
        );
        insert.push_values(alone, |mut row, r| {
            row.push_bind(None::<i64>)
                .push_bind(case_id)
                .push_bind(r.code.as_str())
                .push_bind(r.description.as_str())
                .push_bind(now.clone());
        });
    }
    Ok(())
}

fn bind_document(
    row: &mut sqlx::query_builder::Separated<'_, DB, &'static str>,
    case_id: i64,
    message_id: i64,
    d: &crate::dian::Document,
) {
    row.push_bind(message_id)
        .push_bind(case_id)
        .push_bind(d.kind.as_str())
        .push_bind(d.type_code.as_deref())
        .push_bind(d.uuid.as_deref())
        .push_bind(d.uuid_scheme.as_deref())
        .push_bind(d.number.as_deref())
        .push_bind(d.issue_date.as_deref())
        .push_bind(d.environment.map(|e| match e {
            crate::dian::Environment::Produccion => "produccion",
            crate::dian::Environment::Pruebas => "pruebas",
        }))
        .push_bind(d.supplier_nit.as_deref())
        .push_bind(d.customer_nit.as_deref())
        .push_bind(d.software_provider_nit.as_deref())
        .push_bind(d.software_id.as_deref())
        .push_bind(d.payable_amount.as_deref())
        .push_bind(d.currency.as_deref())
        .push_bind(d.response_code.as_deref())
        .push_bind(d.referenced_uuid.as_deref())
        .push_bind(d.source.as_str())
        .push_bind(serde_json::to_string(&d.findings).unwrap_or_else(|_| "[]".into()));
}

async fn insert_rejection(
    tx: &mut Tx<'_>,
    case_id: i64,
    document_id: Option<i64>,
    code: &str,
    description: &str,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO rejections (document_id, case_id, code, description, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(document_id)
        .bind(case_id)
        .bind(code)
        .bind(description)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The actor of the events the desk records on its own.
pub(super) const SYSTEM_ACTOR: &str = "mesa-fe";

/// All events of a transition in one statement.
pub(super) async fn insert_events(
    tx: &mut Tx<'_>,
    case_id: i64,
    events: &[Event],
    actor: &str,
) -> Result<(), StoreError> {
    let mut writes = Writes::default();
    push_events(&mut writes, case_id, events, actor);
    writes.run(tx).await?;
    Ok(())
}

fn push_events(writes: &mut Writes, case_id: i64, events: &[Event], actor: &str) {
    if events.is_empty() {
        return;
    }
    let now = now_text();
    let insert = writes.insert(
        "INSERT INTO events (case_id, activity, from_status, to_status, from_level, to_level, actor, detail, created_at) ",
        events.len(),
    );
    insert.push_values(events, |mut row, event| {
        row.push_bind(case_id)
            .push_bind(i64::from(event.activity.number()))
            .push_bind(event.from_status.map(Status::as_str))
            .push_bind(event.to_status.as_str())
            .push_bind(event.from_level.map(Level::as_str))
            .push_bind(event.to_level.as_str())
            .push_bind(actor)
            .push_bind(&event.detail)
            .push_bind(&now);
    });
}

/// All outbox rows of a transition in one statement, due now.
pub(super) async fn insert_outbox(
    tx: &mut Tx<'_>,
    case_id: i64,
    drafts: &[OutboxDraft],
) -> Result<(), StoreError> {
    let mut writes = Writes::default();
    push_outbox(&mut writes, case_id, drafts)?;
    writes.run(tx).await?;
    Ok(())
}

fn push_outbox(writes: &mut Writes, case_id: i64, drafts: &[OutboxDraft]) -> Result<(), StoreError> {
    if drafts.is_empty() {
        return Ok(());
    }
    let now = now_text();
    let contexts = drafts
        .iter()
        .map(|d| serde_json::to_string(&d.context))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| StoreError::Corrupt { what: "contexto", detail: e.to_string() })?;
    let insert = writes.insert(
        "INSERT INTO outbox (case_id, kind, buzon, to_addr, subject, message_id, in_reply_to, refs, context, \
         next_attempt_at, created_at) ",
        drafts.len(),
    );
    insert.push_values(drafts.iter().zip(contexts), |mut row, (draft, context)| {
        row.push_bind(case_id)
            .push_bind(draft.kind.as_str())
            .push_bind(&draft.buzon)
            .push_bind(&draft.to)
            .push_bind(&draft.subject)
            .push_bind(&draft.message_id)
            .push_bind(draft.in_reply_to.as_deref())
            .push_bind(draft.references.join(" "))
            .push_bind(context)
            .push_bind(&now)
            .push_bind(&now);
    });
    Ok(())
}

impl Store {
    pub async fn case_detail(&self, number: &str) -> Result<Option<CaseDetail>, StoreError> {
        let row = sqlx::query(
            "SELECT c.id, c.number, c.status, c.level, c.tema, c.channel, c.case_type, c.agent, c.subject, c.created_at, c.buzon, \
             c.requester, c.requester_name, c.security_category, c.group_name, c.first_contact, \
             c.missing_requirements, c.external_ref, c.follow_up_until, c.purged_at, c.root_cause, c.provider_nit, \
             p.number AS parent_number, m.number AS merged_number \
             FROM cases c LEFT JOIN cases p ON p.id = c.parent_id \
             LEFT JOIN cases m ON m.id = c.merged_into_id WHERE c.number = $1",
        )
        .bind(number)
        .fetch_optional(&mut *self.reader().await?)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let missing: String = row.try_get("missing_requirements")?;
        let mut conn = self.reader().await?;
        Ok(Some(CaseDetail {
            summary: case_summary(&row)?,
            buzon: row.try_get("buzon")?,
            requester: row.try_get("requester")?,
            requester_name: row.try_get("requester_name")?,
            security_category: row.try_get("security_category")?,
            group: row.try_get("group_name")?,
            first_contact: row.try_get::<i64, _>("first_contact")? != 0,
            missing_requirements: missing.split(',').filter(|m| !m.is_empty()).map(String::from).collect(),
            parent: row.try_get("parent_number")?,
            children: sqlx::query_scalar("SELECT number FROM cases WHERE parent_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?,
            external_ref: row.try_get("external_ref")?,
            merged_into: row.try_get("merged_number")?,
            merged_here: sqlx::query_scalar(
                "SELECT number FROM cases WHERE merged_into_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            same_cufe: sqlx::query_as(
                "SELECT c.number, c.status, MIN(CASE WHEN d.uuid = mine.uuid OR d.referenced_uuid = mine.uuid \
                     THEN mine.uuid ELSE mine.referenced_uuid END) AS uuid FROM documents mine \
                 JOIN documents d ON d.case_id <> mine.case_id AND (d.uuid = mine.uuid \
                     OR d.referenced_uuid = mine.uuid OR d.uuid = mine.referenced_uuid \
                     OR d.referenced_uuid = mine.referenced_uuid) \
                 JOIN cases c ON c.id = d.case_id \
                 WHERE mine.case_id = $1 AND c.merged_into_id IS NULL \
                 GROUP BY c.id, c.number, c.status ORDER BY c.id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            follow_up_until: row.try_get("follow_up_until")?,
            purged_at: row.try_get("purged_at")?,
            root_cause: row.try_get("root_cause")?,
            provider_nit: row.try_get("provider_nit")?,
            messages: sqlx::query_as(
                "SELECT direction, from_addr, subject, auto_generated, attachment_problems, created_at \
                 FROM case_messages WHERE case_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            documents: sqlx::query_as(
                "SELECT kind, number, uuid, environment, supplier_nit, response_code, source, findings \
                 FROM documents WHERE case_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            rejections: sqlx::query_as("SELECT code, description FROM rejections WHERE case_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?,
            events: sqlx::query_as(
                "SELECT activity, from_status, to_status, to_level, actor, detail, created_at \
                 FROM events WHERE case_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            actions: sqlx::query_as(
                "SELECT actor, level, command, text, refused, created_at FROM case_actions WHERE case_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&mut *conn)
            .await?,
            outbox: sqlx::query_as("SELECT kind, buzon, to_addr, subject, message_id, status FROM outbox WHERE case_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?,
        }))
    }
}
