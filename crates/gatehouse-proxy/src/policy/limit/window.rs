//! Calendar windows in UTC for quotas.

use gatehouse_config::model::QuotaWindow;

use crate::telemetry::time::civil_from_days;

/// Returns the start and end (seconds since the epoch) of the window that contains `now`.
pub fn bounds(window: QuotaWindow, now: u64) -> (u64, u64) {
    match window {
        QuotaWindow::Hour => {
            let start = now - now % 3600;
            (start, start + 3600)
        }
        QuotaWindow::Day => {
            let start = now - now % 86_400;
            (start, start + 86_400)
        }
        QuotaWindow::Month => {
            let (year, month, _) = civil_from_days((now / 86_400) as i64);
            let (next_year, next_month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            let start = days_from_civil(year, month, 1) as u64 * 86_400;
            let end = days_from_civil(next_year, next_month, 1) as u64 * 86_400;
            (start, end)
        }
    }
}

pub fn name(window: QuotaWindow) -> &'static str {
    match window {
        QuotaWindow::Hour => "hour",
        QuotaWindow::Day => "day",
        QuotaWindow::Month => "month",
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds() {
        // 2026-12-04T20:48:52Z lies in December 2026.
        let (start, end) = bounds(QuotaWindow::Month, 1_796_417_332);
        assert_eq!(start, 1_796_083_200); // 2026-12-01
        assert_eq!(end, 1_798_761_600); // 2027-01-01
    }

    #[test]
    fn february_of_leap_year() {
        let (start, end) = bounds(QuotaWindow::Month, 951_782_400); // 2000-02-29
        assert_eq!((end - start) / 86_400, 29);
    }

    #[test]
    fn hour_and_day_bounds() {
        assert_eq!(bounds(QuotaWindow::Hour, 7_201), (7_200, 10_800));
        assert_eq!(bounds(QuotaWindow::Day, 90_000), (86_400, 172_800));
    }
}
