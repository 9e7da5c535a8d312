//! The research question behind Basewatch: does trafficking rise with the size
//! of a deployment? Monthly incidents near each base beside its troop strength,
//! before, during and after deployment, and their correlation.

pub mod correlation;
pub mod routes;

use chrono::{Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

/// One month of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Month {
    #[schema(example = "2004-06")]
    pub month: String,
    /// Incidents within the radius (exact), or at every distance (the release).
    pub incidents: i64,
    /// Troops deployed, averaged over the days of the month.
    pub troop_strength: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Correlation {
    /// Months in the series.
    pub n: usize,
    pub pearson: f64,
    pub spearman: f64,
}

/// What a series says.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    pub mean_monthly_incidents: Option<f64>,
    /// Months before the first with troops.
    pub mean_monthly_incidents_before: Option<f64>,
    /// Months with troops.
    pub mean_monthly_incidents_during: Option<f64>,
    /// Months after the last with troops (none while a deployment lasts).
    pub mean_monthly_incidents_after: Option<f64>,
    /// Incidents per 1,000 troops per month, over the months with troops.
    pub incidents_per_1000_troops_during: Option<f64>,
    /// Between monthly strength and monthly incidents; absent without deployments
    /// (or when either series is constant).
    pub correlation: Option<Correlation>,
}

/// The series of a base, or of the whole mission.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Series {
    /// Absent for the mission's own series.
    #[schema(format = Uuid)]
    pub base_id: Option<String>,
    pub name: String,
    pub months: Vec<Month>,
    pub summary: Summary,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentEffect {
    #[schema(format = Uuid)]
    pub mission_id: String,
    pub mission_name: String,
    /// `null` with the release, which counts every distance.
    pub radius_km: Option<f64>,
    pub scope: routes::AnalysisScope,
    /// With `scope=release`: the mechanism, ε, the months released, the noise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy: Option<crate::releases::queries::Privacy>,
    pub mission: Series,
    pub bases: Vec<Series>,
}

/// Every month from `first` to `last`, as `YYYY-MM`.
pub fn months_between(first: NaiveDate, last: NaiveDate) -> Vec<NaiveDate> {
    std::iter::successors(Some(first), |m| Some(*m + Months::new(1)))
        .take_while(|m| *m <= last)
        .collect()
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round(values.iter().sum::<f64>() / values.len() as f64, 4))
}

/// The summary of exact monthly counts beside strengths.
pub fn summarise(incidents: &[i64], strength: &[f64]) -> Summary {
    let counts: Vec<f64> = incidents.iter().map(|n| *n as f64).collect();
    let first = strength.iter().position(|s| *s > 0.0);
    let last = strength.iter().rposition(|s| *s > 0.0);
    let ongoing = strength.last().is_some_and(|s| *s > 0.0);
    let (before, during, after) = match (first, last) {
        (Some(f), Some(l)) => {
            let during: Vec<f64> = (f..=l)
                .filter(|i| strength[*i] > 0.0)
                .map(|i| counts[i])
                .collect();
            let after = if ongoing {
                Vec::new()
            } else {
                counts[l + 1..].to_vec()
            };
            (counts[..f].to_vec(), during, after)
        }
        _ => (Vec::new(), Vec::new(), Vec::new()),
    };
    let troop_months: f64 = strength.iter().filter(|s| **s > 0.0).sum();
    let during_total: f64 = during.iter().sum();
    Summary {
        mean_monthly_incidents: mean(&counts),
        mean_monthly_incidents_before: if first.is_some() { mean(&before) } else { None },
        mean_monthly_incidents_during: mean(&during),
        mean_monthly_incidents_after: mean(&after),
        incidents_per_1000_troops_during: (troop_months > 0.0)
            .then(|| round(during_total * 1000.0 / troop_months, 4)),
        correlation: if first.is_some() {
            correlation::pearson(strength, &counts)
                .zip(correlation::spearman(strength, &counts))
                .map(|(p, s)| Correlation {
                    n: counts.len(),
                    pearson: round(p, 4),
                    spearman: round(s, 4),
                })
        } else {
            None
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_during_after() {
        let s = summarise(
            &[2, 1, 3, 2, 5, 1],
            &[0.0, 0.0, 1000.0, 1000.0, 3000.0, 0.0],
        );
        assert_eq!(s.mean_monthly_incidents_before, Some(1.5));
        assert_eq!(s.mean_monthly_incidents_during, Some(3.3333));
        assert_eq!(s.mean_monthly_incidents_after, Some(1.0));
        assert_eq!(s.incidents_per_1000_troops_during, Some(2.0));
        let c = s.correlation.unwrap();
        assert_eq!((c.n, c.pearson, c.spearman), (6, 0.9469, 0.874));
    }

    #[test]
    fn no_deployment_no_correlation() {
        let s = summarise(&[2, 1, 3], &[0.0; 3]);
        assert_eq!(s.mean_monthly_incidents, Some(2.0));
        assert!(s.correlation.is_none() && s.mean_monthly_incidents_during.is_none());
        assert!(
            s.mean_monthly_incidents_before.is_none()
                && s.incidents_per_1000_troops_during.is_none()
        );
    }

    #[test]
    fn an_ongoing_deployment_has_no_after() {
        let s = summarise(&[1, 4, 5], &[0.0, 100.0, 100.0]);
        assert_eq!(s.mean_monthly_incidents_after, None);
        assert!(s.correlation.is_some());
    }
}
