//! The desk's time zone and how a time is written for people. Storage stays UTC (RFC 3339);
//! every time a person reads (`case show`, mails, reports, lists) goes through [`Zone`], so it
//! reads as the desk's local time, never UTC.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use chrono_tz::Tz;

/// Where the desk is: a zone of the tz database (`general.zona_horaria`, "America/Bogota" by
/// default) or, for configurations written before it existed, a fixed offset
/// (`general.zona_horaria_horas`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// America/Bogota: UTC-05:00 all year (no daylight saving since 1993).
    pub fn bogota() -> Zone {
        Zone::Named(chrono_tz::America::Bogota)
    }

    /// A zone of the tz database by its name ("America/Bogota").
    pub fn named(name: &str) -> Option<Zone> {
        name.trim().parse::<Tz>().ok().map(Zone::Named)
    }

    /// A fixed offset in whole hours (-12 … 14).
    pub fn fixed_hours(hours: i32) -> Option<Zone> {
        (-12..=14)
            .contains(&hours)
            .then(|| FixedOffset::east_opt(hours * 3600))
            .flatten()
            .map(Zone::Fixed)
    }

    /// `at` as the desk's local time (with the offset in force then).
    pub fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Named(tz) => at.with_timezone(tz).fixed_offset(),
            Zone::Fixed(offset) => at.with_timezone(offset),
        }
    }

    /// The tz database name ("America/Bogota"); `None` for a fixed offset.
    pub fn tz_name(&self) -> Option<&'static str> {
        match self {
            Zone::Named(tz) => Some(tz.name()),
            Zone::Fixed(_) => None,
        }
    }

    /// The offset from UTC in whole hours at `at` (what the period of a report works with).
    pub fn offset_hours(&self, at: DateTime<Utc>) -> i32 {
        self.local(at).offset().fix().local_minus_utc() / 3600
    }

    /// How the zone is named after a time: "hora de Colombia", "hora de America/Lima", "UTC-05:00".
    pub fn label(&self) -> String {
        match self {
            Zone::Named(chrono_tz::America::Bogota) => "hora de Colombia".to_string(),
            Zone::Named(tz) => format!("hora de {}", tz.name()),
            Zone::Fixed(offset) => format!("UTC{offset}"),
        }
    }

    /// "2026-12-06 22:00": local, to the minute, without the zone (for columns and lists whose
    /// heading names the zone once).
    pub fn show(&self, at: DateTime<Utc>) -> String {
        self.local(at).format("%Y-%m-%d %H:%M").to_string()
    }

    /// "2026-12-06 22:00 (hora de Colombia)": local, with the zone named.
    pub fn show_with_zone(&self, at: DateTime<Utc>) -> String {
        format!("{} ({})", self.show(at), self.label())
    }

    /// A stored timestamp (RFC 3339) shown as [`Zone::show`]; text that does not read as one is
    /// shown as it is, never dropped.
    pub fn show_stored(&self, stored: &str) -> String {
        match DateTime::parse_from_rfc3339(stored.trim()) {
            Ok(at) => self.show(at.with_timezone(&Utc)),
            Err(_) => stored.to_string(),
        }
    }

    /// A stored timestamp shown as [`Zone::show_with_zone`] (text that does not read as one, as
    /// it is).
    pub fn show_with_zone_stored(&self, stored: &str) -> String {
        match DateTime::parse_from_rfc3339(stored.trim()) {
            Ok(at) => self.show_with_zone(at.with_timezone(&Utc)),
            Err(_) => stored.to_string(),
        }
    }

    /// A stored timestamp as RFC 3339 in the desk's offset ("2026-12-06T22:00:00-05:00"): the
    /// same instant for a program, the local hour for a person reading the JSON.
    pub fn rfc3339_stored(&self, stored: &str) -> String {
        match DateTime::parse_from_rfc3339(stored.trim()) {
            Ok(at) => self.local(at.with_timezone(&Utc)).to_rfc3339(),
            Err(_) => stored.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("timestamp").with_timezone(&Utc)
    }

    #[test]
    fn three_in_the_morning_utc_is_ten_at_night_the_day_before_in_bogota() {
        let zone = Zone::bogota();
        assert_eq!(zone.show(utc("2026-12-07T03:00:00Z")), "2026-12-06 22:00");
        assert_eq!(
            zone.show_with_zone(utc("2026-12-07T13:30:00Z")),
            "2026-12-07 08:30 (hora de Colombia)"
        );
        assert_eq!(
            zone.local(utc("2026-12-07T03:00:00Z")).to_rfc3339(),
            "2026-12-06T22:00:00-05:00"
        );
        assert_eq!(zone.offset_hours(utc("2026-12-07T03:00:00Z")), -5);
    }

    #[test]
    fn stored_text_is_shown_local_and_unreadable_text_as_it_is() {
        let zone = Zone::bogota();
        assert_eq!(zone.show_stored("2027-01-01T04:59:00Z"), "2026-12-31 23:59");
        assert_eq!(zone.rfc3339_stored("2027-01-01T05:00:00Z"), "2027-01-01T00:00:00-05:00");
        assert_eq!(zone.show_stored("ayer"), "ayer");
        assert_eq!(zone.rfc3339_stored(""), "");
    }

    #[test]
    fn names_and_fixed_offsets() {
        assert_eq!(Zone::named("America/Bogota"), Some(Zone::bogota()));
        assert_eq!(Zone::named("America/Bogotá"), None);
        assert_eq!(Zone::named("Colombia"), None);
        let fixed = Zone::fixed_hours(-5).expect("in range");
        assert_eq!(
            fixed.show_with_zone(utc("2026-12-07T03:00:00Z")),
            "2026-12-06 22:00 (UTC-05:00)"
        );
        assert_eq!(Zone::fixed_hours(15), None);
        // A zone with daylight saving takes the offset in force at that instant.
        let madrid = Zone::named("Europe/Madrid").expect("known zone");
        assert_eq!(madrid.show(utc("2026-07-01T10:00:00Z")), "2026-07-01 12:00");
        assert_eq!(madrid.show(utc("2026-12-01T10:00:00Z")), "2026-12-01 11:00");
        assert_eq!(madrid.label(), "hora de Europe/Madrid");
    }
}
