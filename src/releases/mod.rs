//! The partner release: what a partner may learn about other organisations'
//! incidents, and nothing more.
//!
//! Per closed calendar month, `BASEWATCH_RELEASE_LAG_DAYS` after it ends, the
//! non-draft incidents of every organisation are counted once at a fixed grain,
//! noised with OpenDP's discrete Laplace mechanism, made non-negative, stored and
//! never recomputed (`build`). Every partner answer is arithmetic over those
//! stored cells (`queries`), so asking again, or differently, reveals nothing more.
//!
//! The rules live here, as tables: which cells exist, how much one incident may
//! move them (its contribution bound), and how the budget ε is split.

pub mod build;
pub mod queries;
pub mod routes;

use chrono::{Datelike, Duration, Months, NaiveDate};
use opendp::core::Measurement;
use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::make_laplace;
use opendp::measures::MaxDivergence;
use opendp::metrics::L1Distance;
use serde::Serialize;
use utoipa::ToSchema;

use crate::incidents::vocabulary::{Affiliation, ConsentAssessment, ExploitationType, Venue};

/// What the answers say the noise is.
pub const MECHANISM: &str =
    "discrete Laplace (OpenDP make_laplace), ε-differential privacy per incident";

/// The value of a cell where an incident has no value for the dimension (no
/// base, no venue, no exploitation type given…).
pub const NONE: &str = "none";

/// Victims count up to this many per incident in the victims cells; a report of
/// 40 victims adds 5. Without a clamp one incident could move a cell without bound.
pub const VICTIM_CLAMP: i64 = 5;

/// An incident with several exploitation types (or affiliations) counts in at
/// most this many of them, the first in vocabulary order.
pub const MULTI_VALUE_CLAMP: usize = 2;

/// One released table: mission × month × one dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// mission × base × month: incidents and victims. `value` is the base id or `none`.
    Base,
    ExploitationType,
    ConsentAssessment,
    Venue,
    DistanceBand,
    PerpetratorAffiliation,
}

/// Distance bands, as the stats use them.
pub const DISTANCE_BANDS: [&str; 5] = ["0-2", "2-5", "5-10", "10-25", "25+"];

pub fn distance_band(km: Option<f64>) -> &'static str {
    match km {
        None => NONE,
        Some(km) if km < 2.0 => "0-2",
        Some(km) if km < 5.0 => "2-5",
        Some(km) if km < 10.0 => "5-10",
        Some(km) if km < 25.0 => "10-25",
        Some(_) => "25+",
    }
}

impl Table {
    pub const ALL: [Table; 6] = [
        Table::Base,
        Table::ExploitationType,
        Table::ConsentAssessment,
        Table::Venue,
        Table::DistanceBand,
        Table::PerpetratorAffiliation,
    ];

    /// The name in `release_cells.dimension` (and in `group_by`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Base => "base",
            Table::ExploitationType => "exploitation_type",
            Table::ConsentAssessment => "consent_assessment",
            Table::Venue => "venue",
            Table::DistanceBand => "distance_band",
            Table::PerpetratorAffiliation => "perpetrator_affiliation",
        }
    }

    /// The values of a vocabulary table: every one, plus `none` where an
    /// incident may have none. The set never depends on the data: a cell that
    /// exists only when someone reported there would itself be a disclosure.
    /// (The base table's values are the bases at build time, plus `none`.)
    pub fn values(self) -> Vec<&'static str> {
        let mut values: Vec<&'static str> = match self {
            Table::Base => Vec::new(),
            Table::ExploitationType => ExploitationType::ALL.iter().map(|v| v.as_str()).collect(),
            Table::ConsentAssessment => {
                return ConsentAssessment::ALL.iter().map(|v| v.as_str()).collect();
            }
            Table::Venue => Venue::ALL.iter().map(|v| v.as_str()).collect(),
            Table::DistanceBand => DISTANCE_BANDS.to_vec(),
            Table::PerpetratorAffiliation => Affiliation::ALL.iter().map(|v| v.as_str()).collect(),
        };
        values.push(NONE);
        values
    }

    /// How far one incident, added or removed, can move this table's incident
    /// counts in L1 norm: its contribution bound.
    pub fn sensitivity(self) -> i64 {
        match self {
            Table::ExploitationType | Table::PerpetratorAffiliation => MULTI_VALUE_CLAMP as i64,
            _ => 1,
        }
    }

    /// This table's share of a month's ε (the victims of the base table have
    /// their own share, `VICTIM_SHARE`). Incidents per base per month are what
    /// partners use most, so they get the largest share. Shares add up to 1.
    pub fn share(self) -> f64 {
        match self {
            Table::Base => 0.3,
            _ => 0.1,
        }
    }
}

/// The share of ε spent on the victims per base per month.
pub const VICTIM_SHARE: f64 = 0.2;

/// A discrete Laplace measurement over a vector of counts.
pub type Laplace =
    Measurement<VectorDomain<AtomDomain<i64>>, L1Distance<i64>, MaxDivergence, Vec<i64>>;

pub fn laplace(scale: f64) -> Result<Laplace, String> {
    make_laplace::<_, _, MaxDivergence>(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L1Distance::<i64>::default(),
        scale,
        None,
    )
    .map_err(|e| format!("OpenDP: {e}"))
}

/// One noised series of a release: its scale and what the privacy map says it costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Part {
    pub name: String,
    /// L1 sensitivity (the contribution bound of one incident).
    pub sensitivity: i64,
    pub scale: f64,
    /// `measurement.map(sensitivity)`: OpenDP's exact privacy map.
    pub epsilon: f64,
}

/// The noised series of a month, with the budget `epsilon` split as documented.
pub fn plan(epsilon: f64) -> Result<Vec<Part>, String> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(format!("epsilon must be positive, not {epsilon}"));
    }
    let mut parts = Vec::new();
    let mut push = |name: String, sensitivity: i64, share: f64| -> Result<(), String> {
        let scale = sensitivity as f64 / (epsilon * share);
        let spent = laplace(scale)?
            .map(&sensitivity)
            .map_err(|e| format!("OpenDP privacy map: {e}"))?;
        parts.push(Part {
            name,
            sensitivity,
            scale,
            epsilon: spent,
        });
        Ok(())
    };
    for table in Table::ALL {
        push(
            format!("{}.incidents", table.name()),
            table.sensitivity(),
            table.share(),
        )?;
    }
    push("base.victims".into(), VICTIM_CLAMP, VICTIM_SHARE)?;
    Ok(parts)
}

/// Sequential composition within a month: the sum of the parts' ε, rounded up
/// to six decimals (the privacy maps round up too, so a configured 1.0 may come
/// back as 1.0000000000000002; stating it rounded up stays true).
pub fn total_epsilon(parts: &[Part]) -> f64 {
    let sum: f64 = parts.iter().map(|p| p.epsilon).sum();
    (sum * 1e6).ceil() / 1e6
}

/// Adds discrete Laplace noise of `scale` to each count, then post-processes:
/// counts are never negative. (Post-processing costs no privacy.)
pub fn noise(counts: Vec<i64>, scale: f64) -> Result<Vec<i64>, String> {
    if counts.is_empty() {
        return Ok(counts);
    }
    let noised = laplace(scale)?
        .invoke(&counts)
        .map_err(|e| format!("OpenDP sampling: {e}"))?;
    Ok(noised.into_iter().map(|n| n.max(0)).collect())
}

/// How far a released cell is from the truth, for a discrete Laplace of `scale`:
/// its standard deviation, and the bound that 95 % of cells stay within.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, ToSchema)]
pub struct Error {
    /// Standard deviation of the noise in one cell.
    pub standard_deviation: f64,
    /// 95 % of cells are within this many of the true count (before the
    /// negative ones are raised to 0).
    pub within_95_percent: i64,
}

pub fn expected_error(scale: f64) -> Error {
    // P(Z = k) ∝ exp(−|k|/s); with a = exp(−1/s): Var = 2a / (1 − a)²,
    // P(|Z| ≥ t) = 2aᵗ / (1 + a) for t ≥ 1.
    let a = (-1.0 / scale).exp();
    let sd = (2.0 * a).sqrt() / (1.0 - a);
    let mut t = 0i64;
    while 2.0 * a.powi((t + 1) as i32) / (1.0 + a) > 0.05 {
        t += 1;
    }
    Error {
        standard_deviation: (sd * 100.0).round() / 100.0,
        within_95_percent: t,
    }
}

/// A calendar month, `YYYY-MM` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(NaiveDate);

impl Month {
    pub fn containing(date: NaiveDate) -> Self {
        Month(date.with_day(1).expect("day 1 exists"))
    }

    /// Exactly `YYYY-MM` in ASCII digits (chrono alone also took `+2024-1`).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 7 || b[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return None;
        }
        NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
            .ok()
            .map(Month)
    }

    pub fn first_day(self) -> NaiveDate {
        self.0
    }

    pub fn next(self) -> Self {
        Month(self.0 + Months::new(1))
    }

    pub fn previous(self) -> Self {
        Month(self.0 - Months::new(1))
    }

    /// The first day on which this month may be released.
    pub fn due_on(self, lag_days: u32) -> NaiveDate {
        self.next().0 + Duration::days(i64::from(lag_days))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m"))
    }
}

/// The last month due on `today`: closed, and `lag_days` past its end.
pub fn last_due(today: NaiveDate, lag_days: u32) -> Month {
    let mut month = Month::containing(today).previous();
    while month.due_on(lag_days) > today {
        month = month.previous();
    }
    month
}

/// Releases start this long before the earliest mandate, so that the
/// deployment-effect analysis has a "before" period (the demo's data starts there too).
pub const MONTHS_BEFORE_MANDATE: u32 = 24;

/// The first month released: `MONTHS_BEFORE_MANDATE` before the earliest mandate start.
pub fn first_month(earliest_mandate: NaiveDate) -> Month {
    Month::containing(earliest_mandate - Months::new(MONTHS_BEFORE_MANDATE))
}

/// The months a release covers: from `MONTHS_BEFORE_MANDATE` before the earliest
/// mandate start to the last due month. Chosen from reference data, never from
/// incidents: a range starting at the first incident would tell when it happened.
pub fn range(earliest_mandate: NaiveDate, last_due: Month) -> Vec<Month> {
    let first = first_month(earliest_mandate);
    std::iter::successors(Some(first), |m| Some(m.next()))
        .take_while(|m| *m <= last_due)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_budget_adds_up_to_epsilon_through_the_privacy_map() {
        let shares: f64 = Table::ALL.iter().map(|t| t.share()).sum::<f64>() + VICTIM_SHARE;
        assert!((shares - 1.0).abs() < 1e-12);
        let parts = plan(1.0).unwrap();
        assert_eq!(parts.len(), 7);
        assert!((total_epsilon(&parts) - 1.0).abs() < 1e-9, "{parts:?}");
        let base = &parts[0];
        assert_eq!(
            (base.name.as_str(), base.sensitivity),
            ("base.incidents", 1)
        );
        assert!((base.scale - 1.0 / 0.3).abs() < 1e-12);
        let victims = parts.last().unwrap();
        assert_eq!((victims.sensitivity, victims.scale), (5, 25.0));
        assert!(plan(0.0).is_err() && plan(f64::NAN).is_err());
    }

    #[test]
    fn cells_never_depend_on_the_data() {
        assert_eq!(Table::Venue.values().len(), 9);
        assert_eq!(Table::ConsentAssessment.values().len(), 3);
        assert_eq!(Table::ExploitationType.values().last(), Some(&NONE));
        assert_eq!(Table::DistanceBand.values().len(), 6);
        assert_eq!(distance_band(Some(1.99)), "0-2");
        assert_eq!(distance_band(Some(25.0)), "25+");
        assert_eq!(distance_band(None), NONE);
    }

    #[test]
    fn noise_is_applied_and_never_negative() {
        let counts = vec![0i64; 2000];
        let noised = noise(counts.clone(), 3.0).unwrap();
        assert_eq!(noised.len(), 2000);
        assert!(noised.iter().all(|n| *n >= 0));
        // P(a cell stays 0) = P(Z ≤ 0) = 1/(1 + e^(-1/3)) ≈ 0.58; all 2,000: 0.58^2000, never.
        assert_ne!(noised, counts);
    }

    #[test]
    fn expected_error_of_a_discrete_laplace() {
        // s = 1: a = e^-1, sd = sqrt(2a)/(1-a) = 1.3606; P(|Z| ≥ 3) = 2a³/(1+a) = 0.0729,
        // P(|Z| ≥ 4) = 0.0268, so 95 % within 3.
        let e = expected_error(1.0);
        assert_eq!((e.standard_deviation, e.within_95_percent), (1.36, 3));
        assert!(expected_error(10.0).within_95_percent > 20);
    }

    #[test]
    fn months_are_due_after_the_lag() {
        let m = Month::parse("2024-01").unwrap();
        assert_eq!(m.due_on(14), date("2024-02-15"));
        assert_eq!(last_due(date("2024-02-14"), 14).to_string(), "2023-12");
        assert_eq!(last_due(date("2024-02-15"), 14).to_string(), "2024-01");
        assert_eq!(last_due(date("2024-02-15"), 0).to_string(), "2024-01");
        assert_eq!(last_due(date("2024-03-31"), 45).to_string(), "2024-01");
        let months = range(date("1999-06-12"), Month::parse("2001-06").unwrap());
        assert_eq!(months.first().unwrap().to_string(), "1997-06");
        assert_eq!(months.len(), 49);
        assert!(Month::parse("2024-1").is_none() && Month::parse("2024-13").is_none());
        for bad in [
            "+2024-1",
            " 2024-1",
            "2024-1 ",
            "-001-01",
            "2024+01",
            "２０-01",
        ] {
            assert!(Month::parse(bad).is_none(), "{bad}");
        }
    }
}
