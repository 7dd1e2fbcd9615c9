//! Timestamp columns read back from a row of the backend (`super::Row`); the parsing itself is
//! backend-neutral ([`crate::store::parse_timestamp`]).

use chrono::{DateTime, Utc};
use sqlx::Row as _;

use super::Row;
use crate::store::parse_timestamp;

/// A timestamp column read back.
pub(super) fn instant_column(row: &Row, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    let value: String = row.try_get(column)?;
    parse_timestamp(value, column)
}

/// A timestamp column that may be NULL.
pub(super) fn optional_instant_column(
    row: &Row,
    column: &str,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let value: Option<String> = row.try_get(column)?;
    value.map(|value| parse_timestamp(value, column)).transpose()
}
