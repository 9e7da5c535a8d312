//! About 2,000 synthetic incidents, spread over the years around each mission
//! (from two years before its mandate to two years after), denser where and
//! when more troops were deployed, in every workflow state, all marked
//! `synthetic`. A fixed seed makes every demo database the same.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use diesel::prelude::*;

use super::DemoError;
use super::reference::{DemoBase, DemoMission, MISSIONS, date};
use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::DbConnection;
use crate::db::schema::incidents;
use crate::incidents::IncidentRow;
use crate::incidents::content::{AgeBands, IncidentContent, Perpetrator, Sexes, Source, Victims};
use crate::incidents::intake::{derive_with, event, row_from};
use crate::incidents::queries;
use crate::incidents::queries::EventRow;
use crate::incidents::vocabulary::*;
use crate::missions::{Base, Mission};

pub const SYNTHETIC_INCIDENTS: usize = 2_000;
const LAST_MONTH: &str = "2019-12-01";

/// xorshift64*: enough randomness for demo data, with no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, f64)]) -> T {
        let total: f64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.unit() * total;
        for (item, w) in items {
            if x < *w {
                return *item;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }
}

/// Troops at a base on a day, and the main contributing country.
fn troops_at(base: &DemoBase, day: NaiveDate) -> (i32, Option<&'static str>) {
    base.deployments
        .iter()
        .filter(|(start, end, _, _)| date(start) <= day && end.is_none_or(|e| day <= date(e)))
        .fold((0, None), |(sum, country), (_, _, troops, c)| {
            (sum + troops, country.or(Some(*c)))
        })
}

fn months(demo: &DemoMission) -> Vec<NaiveDate> {
    let start = date(demo.start).with_day(1).expect("day 1 exists") - Months::new(24);
    let end = demo
        .end
        .map(|e| date(e) + Months::new(24))
        .unwrap_or(date(LAST_MONTH))
        .min(date(LAST_MONTH));
    std::iter::successors(Some(start), |m| Some(*m + Months::new(1)))
        .take_while(|m| *m <= end)
        .collect()
}

/// Which mission and month each of `n` incidents falls in: one weight per
/// mission-month, a background rate plus one per 1,000 troops.
pub fn plan(n: usize) -> Vec<(usize, NaiveDate)> {
    let mut cells = Vec::new();
    for (index, demo) in MISSIONS.iter().enumerate() {
        for month in months(demo) {
            let mid = month + Duration::days(14);
            let troops: i32 = demo.bases.iter().map(|b| troops_at(b, mid).0).sum();
            cells.push((index, month, 0.6 + f64::from(troops) / 1000.0));
        }
    }
    let total: f64 = cells.iter().map(|c| c.2).sum();
    let mut plan = Vec::with_capacity(n);
    let mut carry = 0.0;
    for (index, month, weight) in cells {
        carry += weight * n as f64 / total;
        // (Not quite 1.0: the shares of all cells must add up to exactly n despite rounding.)
        while carry >= 1.0 - 1e-9 && plan.len() < n {
            carry -= 1.0;
            plan.push((index, month));
        }
    }
    // Rounding may leave the last one or two out: they go in the last month.
    while let (true, Some(last)) = (plan.len() < n, plan.last().copied()) {
        plan.push(last);
    }
    plan
}

/// Makes synthetic incidents, rows ready to store, from a fixed seed.
pub struct Generator<'a> {
    rng: Rng,
    missions: &'a [(Mission, Vec<Base>)],
    reporters: &'a [Actor],
    keys: DataKeys,
}

pub type Synthetic = (IncidentRow, IncidentContent, EventRow);

impl<'a> Generator<'a> {
    pub fn new(
        missions: &'a [(Mission, Vec<Base>)],
        reporters: &'a [Actor],
        keys: DataKeys,
        seed: u64,
    ) -> Self {
        Self {
            rng: Rng(seed | 1),
            missions,
            reporters,
            keys,
        }
    }

    pub fn incident(
        &mut self,
        mission_index: usize,
        month: NaiveDate,
    ) -> Result<Synthetic, DemoError> {
        let (mission, bases) = &self.missions[mission_index];
        generate(
            &mut self.rng,
            &MISSIONS[mission_index],
            mission,
            bases,
            month,
            self.reporters,
            &self.keys,
        )
    }
}

/// Stores the demo's synthetic incidents unless there already are some; returns how many.
pub fn seed(
    conn: &mut DbConnection,
    missions: &[(Mission, Vec<Base>)],
    reporters: &[Actor],
    keys: &DataKeys,
) -> Result<usize, DemoError> {
    let existing: i64 = incidents::table
        .filter(incidents::synthetic.eq(true))
        .count()
        .get_result(conn)?;
    if existing > 0 || reporters.is_empty() {
        return Ok(0);
    }
    let mut generator = Generator::new(missions, reporters, keys.clone(), 0x0ba5_e0a7_c4ed_2024);
    let batch = plan(SYNTHETIC_INCIDENTS)
        .into_iter()
        .map(|(m, month)| generator.incident(m, month))
        .collect::<Result<Vec<_>, _>>()?;
    queries::insert_many(conn, &batch)?;
    super::audit_seeded(conn, batch.len())?;
    Ok(batch.len())
}

fn generate(
    rng: &mut Rng,
    demo: &DemoMission,
    mission: &Mission,
    bases: &[Base],
    month: NaiveDate,
    reporters: &[Actor],
    keys: &DataKeys,
) -> Result<Synthetic, DemoError> {
    let day = month + Duration::days(rng.below(28) as i64);
    let occurred_at: DateTime<Utc> = (day.and_hms_opt(0, 0, 0).expect("midnight exists")
        + Duration::minutes(rng.below(24 * 60) as i64))
    .and_utc();
    // The base: more troops, more incidents.
    let choices: Vec<(usize, f64)> = demo
        .bases
        .iter()
        .enumerate()
        .map(|(i, b)| (i, 0.5 + f64::from(troops_at(b, day).0) / 1000.0))
        .collect();
    let demo_base = &demo.bases[rng.weighted(&choices)];
    let base = bases
        .iter()
        .find(|b| b.name == demo_base.name)
        .unwrap_or(&bases[0]);
    let (troops, contingent) = troops_at(demo_base, day);
    // Mostly close to the base: distance grows with the square of a uniform draw.
    let (distance, bearing) = (
        0.2 + 25.0 * rng.unit().powi(2),
        rng.unit() * std::f64::consts::TAU,
    );
    let latitude = base.latitude + distance / 111.2 * bearing.cos();
    let longitude =
        base.longitude + distance / (111.2 * base.latitude.to_radians().cos()) * bearing.sin();

    let count = 1 + rng.below(5) as u32;
    let (mut ages, mut sexes) = (AgeBands::default(), Sexes::default());
    for _ in 0..count {
        match rng.below(20) {
            0 | 1 => ages.age_9_17 += 1,
            2..=6 => ages.age_18_20 += 1,
            7..=10 => ages.age_21_23 += 1,
            11..=13 => ages.age_24_26 += 1,
            14 | 15 => ages.age_27_29 += 1,
            16 => ages.age_30_38 += 1,
            _ => ages.unknown += 1,
        }
        match rng.below(20) {
            0 | 1 => sexes.male += 1,
            2 => sexes.unknown += 1,
            _ => sexes.female += 1,
        }
    }
    let coerced = rng.chance(0.7);
    let means: Vec<MeansOfControl> = if coerced {
        (0..1 + rng.below(3))
            .map(|_| rng.pick(&MeansOfControl::ALL[..16]))
            .collect()
    } else {
        Vec::new()
    };
    let affiliations: &[(Affiliation, f64)] = if troops > 0 {
        &[
            (Affiliation::UnMilitary, 25.0),
            (Affiliation::Contractor, 10.0),
            (Affiliation::LocalCriminalNetwork, 40.0),
            (Affiliation::LocalCivilian, 15.0),
            (Affiliation::Unknown, 10.0),
        ]
    } else {
        &[
            (Affiliation::LocalCriminalNetwork, 60.0),
            (Affiliation::LocalCivilian, 25.0),
            (Affiliation::Unknown, 15.0),
        ]
    };
    let affiliation = rng.weighted(affiliations);
    let exploitation = rng.weighted(&[
        (ExploitationType::SexualExploitation, 70.0),
        (ExploitationType::ForcedLabour, 15.0),
        (ExploitationType::DomesticServitude, 7.0),
        (ExploitationType::ForcedMarriage, 4.0),
        (ExploitationType::Other, 4.0),
    ]);
    let venue = rng.pick(Venue::ALL);
    let mut content = IncidentContent {
        mission_id: mission.id.clone(),
        occurred_at,
        latitude,
        longitude,
        location_precision: Some(rng.pick(LocationPrecision::ALL)),
        venue: Some(venue),
        exploitation_types: vec![exploitation],
        means_of_control: means,
        recruitment: vec![rng.pick(Recruitment::ALL)],
        movement_facilitated: Some(rng.chance(0.5)),
        victims: Victims {
            count,
            age_bands: ages,
            sexes,
            nationalities: vec![rng.pick(demo.nationalities).to_owned()],
        },
        perpetrators: vec![Perpetrator {
            affiliation,
            contingent_country: (affiliation == Affiliation::UnMilitary)
                .then(|| contingent.unwrap_or("US").to_owned()),
            count: Some(1 + rng.below(4) as u32),
        }],
        source: Some(Source {
            source_type: rng.pick(SourceType::ALL),
            reliability: rng.pick(&Reliability::ALL[..4]),
            credibility: 1 + rng.below(4) as u8,
        }),
        narrative: Some(format!(
            "SYNTHETIC DEMO DATA, not a real report. {count} person(s) reported at a {} about {distance:.1} km from {}.",
            venue.as_str().replace('_', " "),
            base.name
        )),
    };
    content.check(Utc::now())?;

    let status = rng.weighted(&[
        (Status::Draft, 5.0),
        (Status::Submitted, 15.0),
        (Status::InReview, 15.0),
        (Status::Verified, 20.0),
        (Status::Unsubstantiated, 10.0),
        (Status::NeedsInfo, 5.0),
        (Status::Referred, 10.0),
        (Status::Closed, 20.0),
    ]);
    let reporter = &reporters[rng.below(reporters.len())];
    let reported = occurred_at.naive_utc() + Duration::hours(2 + rng.below(72) as i64);
    let id = crate::db::new_id();
    let derived = derive_with(bases, keys, &id, &content)?;
    let mut row = row_from(&id, reporter, derived, status, reported);
    row.synthetic = true;
    row.submitted_at = (status != Status::Draft).then_some(reported);
    let mut created = event(
        keys,
        &row.id,
        reporter,
        queries::HistoryKind::Created,
        None,
        Some(status),
        Some("synthetic demo data"),
        1,
        None,
    );
    created.at = reported;
    Ok((row, content, created))
}
