//! Dates of birth in every shape the providers write them, read into one calendar day.
//! Day first when the fields are numbers (Nigerian usage, and every provider's): `27/09/1979`
//! is the 27th of September, never the 9th of the 27th month.

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Date {
    pub(crate) year: u16,
    pub(crate) month: u8,
    pub(crate) day: u8,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Reads `1979-09-27`, `1979/09/27`, `27-Sep-1979`, `27-Sept-1979`, `27-September-1979`,
/// `27 Sep 1979`, `27/09/1979`, `27-09-1979`, `27.09.1979`, an ISO time after the date
/// (`1986-06-04T00:00:00Z`, `1979-09-27 00:00:00`), and, when `two_digit_year` is set (a
/// provider's record: `28-Jun-00`), a two-digit year: the latest year ending so that is not in
/// the future. `None` when it is not a real calendar day.
pub(crate) fn parse(text: &str, two_digit_year: bool) -> Option<Date> {
    let text = text.trim();
    // A time of day after the date says nothing about the date.
    let date = match text.find(':') {
        None => text,
        Some(colon) => &text[..text[..colon].rfind(['T', ' '])?],
    };
    let parts: Vec<&str> = date
        .split(['-', '/', '.', ' ', ','])
        .filter(|p| !p.is_empty())
        .collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let number = |s: &str| -> Option<u32> {
        (s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day) = if a.len() == 4 {
        // Year first: 1979-09-27.
        (number(a)?, month_of(b)?, number(c)?)
    } else {
        let year = match c.len() {
            4 => number(c)?,
            2 if two_digit_year => century(number(c)?),
            _ => return None,
        };
        (year, month_of(b)?, number(a)?)
    };
    let date = Date {
        year: u16::try_from(year).ok()?,
        month: u8::try_from(month).ok()?,
        day: u8::try_from(day).ok()?,
    };
    date.is_real().then_some(date)
}

/// A month as a number (`09`, `9`) or a name (`Sep`, `Sept`, `September`, any case).
fn month_of(text: &str) -> Option<u32> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return (text.len() <= 2).then(|| text.parse().ok()).flatten();
    }
    let lower = text.to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(&lower))
        .map(|i| i as u32 + 1)
}

/// The most recent year ending in `yy` that is not after this year.
fn century(yy: u32) -> u32 {
    let this_year = this_year();
    let candidate = this_year - this_year % 100 + yy;
    if candidate > this_year {
        candidate - 100
    } else {
        candidate
    }
}

/// This year (UTC), from the system clock.
fn this_year() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970 to a civil year (Howard Hinnant's algorithm, year part only).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let year = yoe + era * 400 + i64::from(mp >= 10);
    year as u32
}

impl Date {
    /// A day that exists (29 February only in leap years), between 1850 and 2100.
    fn is_real(&self) -> bool {
        let leap = self.year % 4 == 0 && (self.year % 100 != 0 || self.year % 400 == 0);
        let days = match self.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return false,
        };
        (1850..=2100).contains(&self.year) && (1..=days).contains(&self.day)
    }

    /// The same day with day and month exchanged (a date typed month first), if that is a
    /// different real day.
    pub(crate) fn swapped(&self) -> Option<Date> {
        let d = Date {
            year: self.year,
            month: self.day,
            day: self.month,
        };
        (d != *self && d.is_real()).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_shape_reads_as_the_same_day() {
        let day = Some(Date {
            year: 1979,
            month: 9,
            day: 27,
        });
        for text in [
            "1979-09-27",
            "1979/09/27",
            "27-Sep-1979",
            "27-SEP-1979",
            "27-Sept-1979",
            "27-September-1979",
            "27 September 1979",
            "27/09/1979",
            "27-09-1979",
            "27.09.1979",
            "1979-09-27T00:00:00Z",
            "1979-09-27 00:00:00",
            " 27/9/1979 ",
        ] {
            assert_eq!(parse(text, false), day, "{text}");
        }
        assert_eq!(parse("27-Sep-79", true), day);
        assert_eq!(
            parse("27-Sep-79", false),
            None,
            "a customer writes the year whole"
        );
    }

    #[test]
    fn impossible_days_are_not_dates() {
        for text in [
            "1979-02-30",
            "31/04/1979",
            "29-Feb-1979",
            "1979-13-01",
            "09/27/1979",
            "27-Sip-1979",
            "yesterday",
            "",
            "1979",
            "0001-01-01",
        ] {
            assert_eq!(parse(text, false), None, "{text}");
        }
        assert!(parse("29-Feb-2000", false).is_some());
    }

    #[test]
    fn two_digit_years_are_never_in_the_future() {
        let now = this_year();
        assert!((2024..2200).contains(&now), "{now}");
        assert_eq!(century(now % 100), now);
        assert_eq!(century((now + 1) % 100), now + 1 - 100);
    }
}
