//! Business time: the control window of activity 12 counts Monday to Friday only.

use chrono::{DateTime, Datelike, Duration, FixedOffset, Weekday};

/// `start` plus `days` business days (fractions allowed), counted in the desk's local time:
/// Saturdays and Sundays do not count.
pub fn add_business_days(start: DateTime<FixedOffset>, days: f64) -> DateTime<FixedOffset> {
    let mut remaining = Duration::milliseconds((days.max(0.0) * 86_400_000.0) as i64);
    let mut now = start;
    // At most a few hundred iterations: one per day crossed.
    while remaining > Duration::zero() {
        let next_midnight = (now.date_naive() + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(*now.offset()).single())
            .unwrap_or(now + Duration::days(1));
        if matches!(now.weekday(), Weekday::Sat | Weekday::Sun) {
            now = next_midnight;
            continue;
        }
        let rest_of_day = next_midnight - now;
        if remaining <= rest_of_day {
            return now + remaining;
        }
        remaining -= rest_of_day;
        now = next_midnight;
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).expect("valid timestamp")
    }

    #[test]
    fn weekends_do_not_count() {
        // Thursday 10:00 + 3 business days = Tuesday 10:00.
        assert_eq!(
            add_business_days(at("2026-11-26T10:00:00-05:00"), 3.0),
            at("2026-12-01T10:00:00-05:00")
        );
        // Saturday: counting starts on Monday.
        assert_eq!(
            add_business_days(at("2026-11-28T15:00:00-05:00"), 1.0),
            at("2026-12-01T00:00:00-05:00")
        );
        // Friday noon + 18 hours: 12 on Friday, 6 on Monday.
        assert_eq!(
            add_business_days(at("2026-11-27T12:00:00-05:00"), 0.75),
            at("2026-11-30T06:00:00-05:00")
        );
    }

    #[test]
    fn a_zero_window_ends_at_once() {
        let start = at("2026-11-26T10:00:00-05:00");
        assert_eq!(add_business_days(start, 0.0), start);
    }
}
