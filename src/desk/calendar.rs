//! Business time: working days and hours in the desk's time zone, with the holidays of the
//! configuration. The control window of activity 12 counts business days; SLA targets count
//! business hours.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Weekday};

/// When the desk works.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// Working weekdays.
    pub weekdays: Vec<Weekday>,
    /// Start and end of the working day, in minutes after midnight (end may be 1440).
    pub opens: u32,
    pub closes: u32,
    pub holidays: HashSet<NaiveDate>,
}

/// Days crossed at most while looking for working time (a misconfigured calendar must not loop).
const MAX_DAYS: u32 = 3 * 366;

impl Calendar {
    /// Monday to Friday, all day, no holidays.
    pub fn weekdays_only() -> Calendar {
        Calendar {
            weekdays: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            opens: 0,
            closes: 24 * 60,
            holidays: HashSet::new(),
        }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.weekdays.contains(&date.weekday()) && !self.holidays.contains(&date)
    }

    /// `start` plus `days` business days (fractions allowed): non-working days and holidays do
    /// not count; a business day is a whole calendar day.
    pub fn add_business_days(
        &self,
        start: DateTime<FixedOffset>,
        days: f64,
    ) -> DateTime<FixedOffset> {
        let mut remaining = Duration::milliseconds((days.max(0.0) * 86_400_000.0) as i64);
        let mut now = start;
        for _ in 0..MAX_DAYS {
            if remaining <= Duration::zero() {
                break;
            }
            let next_midnight = midnight_after(now);
            if !self.is_working_day(now.date_naive()) {
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

    /// `start` plus `hours` of working time (within opening hours of working days).
    pub fn add_business_hours(
        &self,
        start: DateTime<FixedOffset>,
        hours: f64,
    ) -> DateTime<FixedOffset> {
        let mut remaining = Duration::milliseconds((hours.max(0.0) * 3_600_000.0) as i64);
        let mut now = start;
        for _ in 0..MAX_DAYS {
            let day = now.date_naive();
            if self.is_working_day(day) {
                let opens = at_minute(now, self.opens);
                let closes = at_minute(now, self.closes);
                if now < opens {
                    now = opens;
                }
                if now < closes {
                    let available = closes - now;
                    if remaining <= available {
                        return now + remaining;
                    }
                    remaining -= available;
                }
            }
            now = midnight_after(now);
        }
        now
    }
}

fn midnight_after(at: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    at_minute(at, 24 * 60)
}

/// The instant `minute` minutes after the midnight that starts `at`'s day (1440 = next midnight).
fn at_minute(at: DateTime<FixedOffset>, minute: u32) -> DateTime<FixedOffset> {
    let midnight = at.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
    let local = midnight + Duration::minutes(i64::from(minute));
    local.and_local_timezone(*at.offset()).single().unwrap_or(at)
}

/// "lunes" … "domingo" (without accents too).
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    match crate::text::fold(name).as_str() {
        "lunes" => Some(Weekday::Mon),
        "martes" => Some(Weekday::Tue),
        "miercoles" => Some(Weekday::Wed),
        "jueves" => Some(Weekday::Thu),
        "viernes" => Some(Weekday::Fri),
        "sabado" => Some(Weekday::Sat),
        "domingo" => Some(Weekday::Sun),
        _ => None,
    }
}

/// "08:00" → 480; "24:00" → 1440.
pub fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= 24 * 60).then_some(minutes)
}

/// Times and an office calendar for the tests of business time (here and in the SLA).
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub(crate) fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).expect("valid timestamp")
    }

    /// Monday to Friday 08:00–17:00, with 8 December 2026 a holiday.
    pub(crate) fn office() -> Calendar {
        let mut calendar = Calendar::weekdays_only();
        calendar.opens = 8 * 60;
        calendar.closes = 17 * 60;
        calendar.holidays.insert(NaiveDate::from_ymd_opt(2026, 12, 8).expect("date"));
        calendar
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{at, office};
    use super::*;

    #[test]
    fn weekends_do_not_count() {
        let days = Calendar::weekdays_only();
        // Thursday 10:00 + 3 business days = Tuesday 10:00.
        assert_eq!(
            days.add_business_days(at("2026-11-26T10:00:00-05:00"), 3.0),
            at("2026-12-01T10:00:00-05:00")
        );
        // Saturday: counting starts on Monday.
        assert_eq!(
            days.add_business_days(at("2026-11-28T15:00:00-05:00"), 1.0),
            at("2026-12-01T00:00:00-05:00")
        );
        // Friday noon + 18 hours: 12 on Friday, 6 on Monday.
        assert_eq!(
            days.add_business_days(at("2026-11-27T12:00:00-05:00"), 0.75),
            at("2026-11-30T06:00:00-05:00")
        );
    }

    #[test]
    fn a_zero_window_ends_at_once() {
        let start = at("2026-11-26T10:00:00-05:00");
        assert_eq!(Calendar::weekdays_only().add_business_days(start, 0.0), start);
    }

    #[test]
    fn business_hours_skip_nights_weekends_and_holidays() {
        let office = office();
        // Friday 15:00 + 4 h: 2 h on Friday, 2 h on Monday from 08:00.
        assert_eq!(
            office.add_business_hours(at("2026-11-27T15:00:00-05:00"), 4.0),
            at("2026-11-30T10:00:00-05:00")
        );
        // Before opening: the clock starts at 08:00.
        assert_eq!(
            office.add_business_hours(at("2026-11-30T06:30:00-05:00"), 1.5),
            at("2026-11-30T09:30:00-05:00")
        );
        // Monday 7 Dec 16:00 + 2 h: 1 h on Monday, Tuesday 8 is a holiday, 1 h on Wednesday.
        assert_eq!(
            office.add_business_hours(at("2026-12-07T16:00:00-05:00"), 2.0),
            at("2026-12-09T09:00:00-05:00")
        );
    }

    #[test]
    fn clock_and_day_names() {
        assert_eq!(parse_clock("08:00"), Some(480));
        assert_eq!(parse_clock("24:00"), Some(1440));
        assert_eq!(parse_clock("24:30"), None);
        assert_eq!(parse_clock("8"), None);
        assert_eq!(parse_weekday("Miércoles"), Some(Weekday::Wed));
        assert_eq!(parse_weekday("feriado"), None);
    }
}
