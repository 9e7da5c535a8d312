//! The four cases of the research, as reference data: illustrative and
//! approximate figures, never an official record.

use chrono::NaiveDate;

use super::DemoError;
use crate::db::DbConnection;
use crate::domain::{CountryCode, DisplayName};
use crate::missions::DeploymentFields;
use crate::missions::queries;
use crate::missions::{Base, Mission, MissionFields};

pub struct DemoMission {
    pub name: &'static str,
    pub country: &'static str,
    pub start: &'static str,
    pub end: Option<&'static str>,
    /// Nationalities the synthetic victims are drawn from.
    pub nationalities: &'static [&'static str],
    pub bases: &'static [DemoBase],
}

pub struct DemoBase {
    pub name: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    /// (start, end, troops, contributing country)
    pub deployments: &'static [(&'static str, Option<&'static str>, i32, &'static str)],
}

pub const MISSIONS: &[DemoMission] = &[
    DemoMission {
        name: "KFOR (Kosovo)",
        country: "XK",
        start: "1999-06-12",
        end: None,
        nationalities: &["MD", "UA", "RO", "BG", "AL", "XK"],
        bases: &[
            DemoBase {
                name: "Pristina",
                latitude: 42.66,
                longitude: 21.16,
                deployments: &[
                    ("1999-06-12", Some("2001-12-31"), 24_000, "GB"),
                    ("2002-01-01", Some("2004-12-31"), 14_000, "DE"),
                    ("2005-01-01", Some("2009-12-31"), 9_000, "IT"),
                    ("2010-01-01", None, 3_000, "IT"),
                ],
            },
            DemoBase {
                name: "Camp Bondsteel",
                latitude: 42.36,
                longitude: 21.25,
                deployments: &[
                    ("1999-06-12", Some("2001-12-31"), 7_000, "US"),
                    ("2002-01-01", Some("2007-12-31"), 2_500, "US"),
                    ("2008-01-01", None, 700, "US"),
                ],
            },
        ],
    },
    DemoMission {
        name: "MINUSTAH (Haiti)",
        country: "HT",
        start: "2004-06-01",
        end: Some("2017-10-15"),
        nationalities: &["HT", "DO"],
        bases: &[DemoBase {
            name: "Port-au-Prince",
            latitude: 18.54,
            longitude: -72.34,
            deployments: &[
                ("2004-06-01", Some("2010-01-11"), 6_700, "BR"),
                ("2010-01-12", Some("2012-12-31"), 8_900, "BR"),
                ("2013-01-01", Some("2017-10-15"), 4_500, "UY"),
            ],
        }],
    },
    DemoMission {
        name: "UNAMSIL (Sierra Leone)",
        country: "SL",
        start: "1999-10-22",
        end: Some("2005-12-31"),
        nationalities: &["SL", "LR", "GN"],
        bases: &[DemoBase {
            name: "Freetown",
            latitude: 8.48,
            longitude: -13.23,
            deployments: &[
                ("1999-10-22", Some("2000-04-30"), 6_000, "NG"),
                ("2000-05-01", Some("2002-12-31"), 17_500, "IN"),
                ("2003-01-01", Some("2005-12-31"), 5_000, "PK"),
            ],
        }],
    },
    DemoMission {
        name: "Nepal (comparison, no deployment)",
        country: "NP",
        start: "1999-01-01",
        end: None,
        nationalities: &["NP", "IN"],
        bases: &[DemoBase {
            name: "Kathmandu",
            latitude: 27.70,
            longitude: 85.32,
            deployments: &[],
        }],
    },
];

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("demo dates are valid")
}

/// Creates whatever reference data is missing; returns each mission with its bases.
pub fn seed(conn: &mut DbConnection) -> Result<Vec<(Mission, Vec<Base>)>, DemoError> {
    let existing = queries::list_missions(conn, None, 10_000)?;
    let mut seeded = Vec::new();
    for demo in MISSIONS {
        let mission_id = match existing.iter().find(|m| m.name == demo.name) {
            Some(m) => m.id.clone(),
            None => queries::insert_mission(
                conn,
                &MissionFields {
                    name: DisplayName::parse(demo.name).map_err(DemoError::failed)?,
                    country: CountryCode::parse(demo.country).map_err(DemoError::failed)?,
                    mandate_start: date(demo.start),
                    mandate_end: demo.end.map(date),
                },
            )?,
        };
        let bases = queries::all_bases(conn, &mission_id)?;
        for base in demo.bases {
            if bases.iter().any(|b| b.name == base.name) {
                continue;
            }
            let base_id =
                queries::insert_base(conn, &mission_id, base.name, base.latitude, base.longitude)?;
            for (start, end, troops, country) in base.deployments {
                let fields = DeploymentFields::parse(date(start), end.map(date), *troops, country)?;
                queries::insert_deployment(conn, &base_id, &fields)?;
            }
        }
        let mission = queries::find_mission(conn, &mission_id)?
            .ok_or_else(|| DemoError::failed("mission vanished"))?;
        seeded.push((mission, queries::all_bases(conn, &mission_id)?));
    }
    Ok(seeded)
}
