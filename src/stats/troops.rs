//! Troop strength per month: deployments at a base add up, and a month's
//! strength is the average over its days.

use chrono::{Datelike, Months, NaiveDate};

/// A deployment: its base, first and last day (open-ended: `None`), troops.
pub struct Deployment {
    pub base_id: String,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    pub troops: i32,
}

/// The first day of the month named `YYYY-MM`.
pub fn month_start(month: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()
}

/// Average daily troops over `month` at the bases for which `at` is true.
pub fn monthly_strength(
    deployments: &[Deployment],
    at: impl Fn(&str) -> bool,
    month: NaiveDate,
) -> f64 {
    let first = month.with_day(1).expect("day 1 exists");
    let last = first + Months::new(1) - chrono::Duration::days(1);
    let days = f64::from(last.day());
    let troop_days: f64 = deployments
        .iter()
        .filter(|d| at(&d.base_id))
        .map(|d| {
            let from = d.start.max(first);
            let to = d.end.map_or(last, |e| e.min(last));
            let overlap = (to - from).num_days() + 1;
            if overlap > 0 {
                overlap as f64 * f64::from(d.troops)
            } else {
                0.0
            }
        })
        // From +0.0: an empty `sum()` of f64 is -0.0, which reached JSON and CSV
        // as `-0.0` / `-0` for a base without deployments.
        .fold(0.0, |total, n| total + n);
    troop_days / days
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(base: &str, start: &str, end: Option<&str>, troops: i32) -> Deployment {
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        Deployment {
            base_id: base.into(),
            start: date(start),
            end: end.map(date),
            troops,
        }
    }

    #[test]
    fn overlapping_deployments_add_up_and_partial_months_average() {
        let deployments = [
            d("a", "2004-01-01", None, 3000),
            // 10 of June's 30 days.
            d("a", "2004-06-21", Some("2004-07-31"), 1500),
            d("b", "2004-06-01", Some("2004-06-30"), 999),
        ];
        let june = month_start("2004-06").unwrap();
        assert_eq!(
            monthly_strength(&deployments, |b| b == "a", june),
            3000.0 + 1500.0 * 10.0 / 30.0
        );
        assert_eq!(
            monthly_strength(&deployments, |_| true, june),
            3000.0 + 500.0 + 999.0
        );
        let may = month_start("2004-05").unwrap();
        assert_eq!(monthly_strength(&deployments, |b| b == "a", may), 3000.0);
        let dec_2003 = month_start("2003-12").unwrap();
        assert_eq!(monthly_strength(&deployments, |_| true, dec_2003), 0.0);
        // No deployment at all: +0.0, never -0.0 (which prints as `-0`).
        let none = monthly_strength(&deployments, |b| b == "c", june);
        assert!(none == 0.0 && none.is_sign_positive(), "{none}");
    }
}
