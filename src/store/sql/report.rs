//! The SQL of [`crate::store::report`]: the rows of the desk report. Written once against the
//! backend aliases of its parent (`super::{DB, Row, Tx}`), so each backend that mounts it compiles
//! the same text.

use crate::store::report::*;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row as _;

use super::{Row, Store, StoreError};
use crate::desk::case::{Activity, Status};
use crate::desk::{Channel, Level, Tema};

impl Store {
    /// The report's rows for the cases created at or after `start` and before `end`.
    pub async fn report_rows(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ReportRows, StoreError> {
        // Stored timestamps are RFC 3339 UTC with seconds: as text, they sort as instants.
        let start = start.to_rfc3339_opts(SecondsFormat::Secs, true);
        let end = end.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut tx = self.snapshot_tx().await?;
        let cases = sqlx::query(
            "SELECT id, number, status, level, tema, channel, case_type, first_contact, parent_id, created_at \
             FROM cases WHERE created_at >= $1 AND created_at < $2 ORDER BY id",
        )
        .bind(&start)
        .bind(&end)
        .fetch_all(&mut *tx)
        .await?;
        let visits = sqlx::query(
            "SELECT DISTINCT e.case_id, e.to_level AS level FROM events e \
             JOIN cases c ON c.id = e.case_id WHERE c.created_at >= $1 AND c.created_at < $2 \
             ORDER BY e.case_id",
        )
        .bind(&start)
        .bind(&end)
        .fetch_all(&mut *tx)
        .await?;
        let solutions = sqlx::query(
            "SELECT e.case_id, e.to_level AS level, e.created_at FROM events e \
             JOIN cases c ON c.id = e.case_id \
             WHERE e.activity = $3 AND c.created_at >= $1 AND c.created_at < $2 ORDER BY e.id",
        )
        .bind(&start)
        .bind(&end)
        .bind(i64::from(Activity::EntregarSolucion.number()))
        .fetch_all(&mut *tx)
        .await?;
        let breaches = sqlx::query(
            "SELECT b.case_id, b.level, b.target FROM sla_breaches b \
             JOIN cases c ON c.id = b.case_id WHERE c.created_at >= $1 AND c.created_at < $2 \
             ORDER BY b.id",
        )
        .bind(&start)
        .bind(&end)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ReportRows {
            cases: cases.iter().map(report_case).collect::<Result<_, _>>()?,
            visits: visits
                .iter()
                .map(|row| {
                    Ok(LevelVisit {
                        case_id: row.try_get("case_id")?,
                        level: level(row, "events.to_level")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            solutions: solutions
                .iter()
                .map(|row| {
                    Ok(SolutionEvent {
                        case_id: row.try_get("case_id")?,
                        level: level(row, "events.to_level")?,
                        delivered_at: instant(row, "events.created_at")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            breaches: breaches
                .iter()
                .map(|row| {
                    Ok(BreachRow {
                        case_id: row.try_get("case_id")?,
                        level: level(row, "sla_breaches.level")?,
                        target: row.try_get("target")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }
}

fn report_case(row: &Row) -> Result<ReportCase, StoreError> {
    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let status = text("status")?;
    let tema = text("tema")?;
    let channel = text("channel")?;
    Ok(ReportCase {
        id: row.try_get("id")?,
        number: text("number")?,
        status: Status::parse(&status).ok_or_else(|| unknown("cases.status", &status))?,
        level: level(row, "cases.level")?,
        tema: Tema::parse(&tema).ok_or_else(|| unknown("cases.tema", &tema))?,
        channel: Channel::parse(&channel).ok_or_else(|| unknown("cases.channel", &channel))?,
        case_type: {
            let name = text("case_type")?;
            crate::desk::CaseType::parse(&name).ok_or_else(|| unknown("cases.case_type", &name))?
        },
        first_contact: row.try_get::<i64, _>("first_contact")? != 0,
        parent_id: row.try_get("parent_id")?,
        created_at: instant(row, "cases.created_at")?,
    })
}

/// The `level` column (`to_level AS level` for events); `what` names it in the error.
fn level(row: &Row, what: &'static str) -> Result<Level, StoreError> {
    let value: String = row.try_get("level")?;
    Level::parse(&value).ok_or_else(|| unknown(what, &value))
}

/// The `created_at` column, RFC 3339.
fn instant(row: &Row, what: &'static str) -> Result<DateTime<Utc>, StoreError> {
    let value: String = row.try_get("created_at")?;
    DateTime::parse_from_rfc3339(&value)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt { what, detail: format!("fecha \"{value}\": {e}") })
}

fn unknown(what: &'static str, value: &str) -> StoreError {
    StoreError::Corrupt { what, detail: format!("valor desconocido \"{value}\"") }
}
