//! Business time: working days and hours in the desk's time zone, with Colombia's holidays
//! (computed for any year, see [`colombia_holidays`]) and the additions and exceptions of the
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
    pub holidays: Holidays,
}

/// Which days are holidays: Colombia's national ones (when `national`), plus `added`, minus
/// `removed` (a configured exception wins over both).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Holidays {
    pub national: bool,
    pub added: HashSet<NaiveDate>,
    pub removed: HashSet<NaiveDate>,
}

impl Holidays {
    /// Colombia's holidays and nothing else.
    pub fn colombia() -> Holidays {
        Holidays { national: true, ..Holidays::default() }
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        if self.removed.contains(&date) {
            return false;
        }
        self.added.contains(&date) || (self.national && is_colombian_holiday(date))
    }
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
            holidays: Holidays::default(),
        }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.weekdays.contains(&date.weekday()) && !self.holidays.contains(date)
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

/// Colombia's holidays of `year`, in date order, each with its name: the fixed ones, those that
/// Ley 51 de 1983 ("Ley Emiliani") moves to the next Monday, and those that hang on Easter. Two
/// may fall on one day (2030: Sagrado Corazón and San Pedro y San Pablo on 1 July); both are
/// listed.
pub fn colombia_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut days = Vec::with_capacity(18);
    let mut fixed = |month: u32, day: u32, name: &'static str, moves: bool| {
        if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
            days.push((if moves { next_monday(date) } else { date }, name));
        }
    };
    fixed(1, 1, "Año Nuevo", false);
    fixed(1, 6, "Reyes Magos", true);
    fixed(3, 19, "San José", true);
    fixed(5, 1, "Día del Trabajo", false);
    fixed(6, 29, "San Pedro y San Pablo", true);
    fixed(7, 20, "Independencia", false);
    fixed(8, 7, "Batalla de Boyacá", false);
    fixed(8, 15, "Asunción de la Virgen", true);
    fixed(10, 12, "Día de la Raza", true);
    fixed(11, 1, "Todos los Santos", true);
    fixed(11, 11, "Independencia de Cartagena", true);
    fixed(12, 8, "Inmaculada Concepción", false);
    fixed(12, 25, "Navidad", false);
    if let Some(easter) = easter_sunday(year) {
        // Ascensión (+39), Corpus Christi (+60) and Sagrado Corazón (+68) fall on a Thursday or
        // a Friday; the law moves them to the next Monday: +43, +64, +71.
        for (offset, name) in [
            (-3, "Jueves Santo"),
            (-2, "Viernes Santo"),
            (43, "Ascensión del Señor"),
            (64, "Corpus Christi"),
            (71, "Sagrado Corazón"),
        ] {
            days.push((easter + Duration::days(offset), name));
        }
    }
    days.sort();
    days
}

/// Whether `date` is one of Colombia's holidays (see [`colombia_holidays`]).
pub fn is_colombian_holiday(date: NaiveDate) -> bool {
    colombia_holidays(date.year()).iter().any(|(day, _)| *day == date)
}

/// Easter Sunday of the Gregorian calendar (the anonymous algorithm, as in Meeus, "Astronomical
/// Algorithms", ch. 8); `None` only outside chrono's range of dates.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let (b, c) = (year.div_euclid(100), year.rem_euclid(100));
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c.div_euclid(4), c.rem_euclid(4));
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The date itself when it is a Monday, else the Monday after it (Ley 51 de 1983).
fn next_monday(date: NaiveDate) -> NaiveDate {
    let days_ahead = (7 - date.weekday().num_days_from_monday()) % 7;
    date + Duration::days(i64::from(days_ahead))
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
        calendar.holidays.added.insert(NaiveDate::from_ymd_opt(2026, 12, 8).expect("date"));
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

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("AAAA-MM-DD")
    }

    /// The published calendars of 2026–2030 (tests/fixtures/festivos), year by year, against the
    /// computed ones: a mismatch names the year and both lists.
    #[test]
    fn computed_holidays_match_the_published_calendars_2026_to_2030() {
        let fixture = include_str!("../../tests/fixtures/festivos/colombia_2026_2030.csv");
        let mut published: Vec<(NaiveDate, String)> = fixture
            .lines()
            .filter(|line| !line.starts_with('#') && !line.starts_with("fecha,"))
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (day, name) = line.split_once(',').expect("fecha,festivo");
                (date(day), name.to_string())
            })
            .collect();
        published.sort();
        for year in 2026..=2030 {
            let expected: Vec<(NaiveDate, &str)> = published
                .iter()
                .filter(|(day, _)| day.year() == year)
                .map(|(day, name)| (*day, name.as_str()))
                .collect();
            assert_eq!(expected.len(), 18, "{year}: the fixture lists 18 holidays");
            assert_eq!(colombia_holidays(year), expected, "{year}");
        }
        // 2030: two holidays on one Monday, so one day off fewer.
        let days: HashSet<NaiveDate> = colombia_holidays(2030).iter().map(|(d, _)| *d).collect();
        assert_eq!(days.len(), 17);
    }

    #[test]
    fn easter_by_the_gregorian_computus() {
        for (year, easter) in [
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2000, "2000-04-23"),
            (2038, "2038-04-25"), // the latest possible
            (2285, "2285-03-22"), // the earliest possible
            (1983, "1983-04-03"),
        ] {
            assert_eq!(easter_sunday(year), Some(date(easter)), "{year}");
        }
    }

    #[test]
    fn a_moved_holiday_is_off_on_the_monday_not_on_its_date() {
        let holidays = Holidays::colombia();
        // Reyes 2028: Thursday 6 January is worked, Monday 10 is the holiday.
        assert!(!holidays.contains(date("2028-01-06")));
        assert!(holidays.contains(date("2028-01-10")));
        // Fixed ones stay on their date whatever the weekday (Tuesday 8 December 2026).
        assert!(holidays.contains(date("2026-12-08")));
        assert!(!holidays.contains(date("2026-12-07")));
    }

    #[test]
    fn configured_additions_and_exceptions() {
        let mut holidays = Holidays::colombia();
        holidays.added.insert(date("2026-12-24"));
        holidays.removed.insert(date("2026-12-08"));
        assert!(holidays.contains(date("2026-12-24")));
        assert!(!holidays.contains(date("2026-12-08")), "an exception wins over the law");
        assert!(holidays.contains(date("2026-12-25")));
        let none = Holidays::default();
        assert!(!none.contains(date("2026-12-25")), "national holidays off");
    }

    /// Monday to Friday, all day, with Colombia's holidays.
    fn colombian_weekdays() -> Calendar {
        Calendar { holidays: Holidays::colombia(), ..Calendar::weekdays_only() }
    }

    #[test]
    fn working_days_across_a_year_boundary() {
        let calendar = colombian_weekdays();
        // 21 Dec 2026 – 15 Jan 2027: Christmas, New Year and Reyes (Wednesday 6 January moved to
        // Monday 11) are off: 4 + 4 + 5 + 4 working days.
        let working = date("2026-12-21")
            .iter_days()
            .take_while(|d| *d <= date("2027-01-15"))
            .filter(|d| calendar.is_working_day(*d))
            .count();
        assert_eq!(working, 17);
        // Wednesday 30 Dec 10:00 + 3 business days: the rest of the 30th, the 31st, then
        // 1 January (holiday) and the weekend are skipped; Monday 4 January counts.
        assert_eq!(
            calendar.add_business_days(at("2026-12-30T10:00:00-05:00"), 3.0),
            at("2027-01-05T10:00:00-05:00")
        );
        // Friday 31 Dec 2027 + 6 business days reaches over Thursday 6 January 2028 (worked)
        // and skips Monday 10 (Reyes, moved).
        assert_eq!(
            calendar.add_business_days(at("2027-12-31T10:00:00-05:00"), 6.0),
            at("2028-01-11T10:00:00-05:00")
        );
    }

    #[test]
    fn business_hours_skip_a_monday_moved_holiday() {
        let office = Calendar { holidays: Holidays::colombia(), ..office() };
        // Friday 14 Aug 2026 16:00 + 4 h: 1 h on Friday; Monday 17 is Asunción (Saturday 15
        // moved); 3 h on Tuesday.
        assert_eq!(
            office.add_business_hours(at("2026-08-14T16:00:00-05:00"), 4.0),
            at("2026-08-18T11:00:00-05:00")
        );
        // Friday 26 June 2026 08:00 + 10 h: 9 on Friday; Monday 29 June is San Pedro y San
        // Pablo; 1 on Tuesday.
        assert_eq!(
            office.add_business_hours(at("2026-06-26T08:00:00-05:00"), 10.0),
            at("2026-06-30T09:00:00-05:00")
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
