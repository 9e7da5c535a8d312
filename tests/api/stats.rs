//! /api/v1/stats/incidents against a hand-counted fixture.

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestUser};
use crate::incidents::{World, create, world};

crate::scenarios![
    every_dimension_against_hand_counts,
    rates_per_1000_troops_with_overlapping_deployments,
    partners_get_the_release_not_exact_counts,
    names_in_the_csv_are_never_formulas,
    secondary_suppression_hides_what_the_total_would_reveal,
    stats_as_csv_and_refused_roles,
];

/// Five submitted incidents (and a draft that never counts):
/// | # | when   | base (km)          | victims | exploitation            | affiliations                 | venue             |
/// | 1 | Jan 10 | Bondsteel (1.383)  | 3       | sexual                  | un_military                  | bar_or_club       |
/// | 2 | Jan 20 | Bondsteel (1.383)  | 2       | forced_labour           | contractor                   | hotel             |
/// | 5 | Jan 25 | Bondsteel (7.836)  | 1       | domestic_servitude      | –                            | private_residence |
/// | 3 | Feb 5  | Pristina (7.431)   | 1       | sexual + forced_labour  | un_military + local_criminal | street            |
/// | 4 | Feb 20 | Pristina (0)       | 4       | –                       | –                            | –                 |
pub async fn fixture(backend: Backend) -> (World, TestUser) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let reviewer = w.app.seed_user(Role::Reviewer);
    let incident = |day: &str, lat: f64, lon: f64, victims: u32, extra: Value| {
        let mut body = json!({
            "mission_id": w.mission, "occurred_at": format!("2024-{day}T10:00:00Z"),
            "latitude": lat, "longitude": lon, "victims": {"count": victims}, "submit": true,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let bodies = [
        incident(
            "01-10",
            42.35,
            21.26,
            3,
            json!({"exploitation_types": ["sexual_exploitation"], "means_of_control": ["debt_bondage"],
            "perpetrators": [{"affiliation": "un_military", "contingent_country": "US"}], "venue": "bar_or_club"}),
        ),
        incident(
            "01-20",
            42.35,
            21.26,
            2,
            json!({"exploitation_types": ["forced_labour"], "movement_facilitated": true,
            "perpetrators": [{"affiliation": "contractor"}], "venue": "hotel"}),
        ),
        incident(
            "02-05",
            42.60,
            21.20,
            1,
            json!({"exploitation_types": ["sexual_exploitation", "forced_labour"],
            "perpetrators": [{"affiliation": "un_military"}, {"affiliation": "local_criminal_network"}], "venue": "street"}),
        ),
        incident("02-20", 42.66, 21.16, 4, json!({})),
        incident(
            "01-25",
            42.30,
            21.30,
            1,
            json!({"exploitation_types": ["domestic_servitude"], "venue": "private_residence"}),
        ),
    ];
    let mut first = None;
    for body in &bodies {
        let created = create(&w.app, &monitor, body).await.expect(201);
        first.get_or_insert(created["id"].as_str().unwrap().to_owned());
    }
    let mut draft = bodies[0].clone();
    draft["submit"] = json!(false);
    create(&w.app, &monitor, &draft).await.expect(201);
    let id = first.unwrap();
    w.app
        .raw(
            awc::http::Method::POST,
            &format!("/api/v1/incidents/{id}/transitions"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", reviewer.token)),
                ("if-match", "\"1\""),
            ],
            json!({"to": "in_review"}).to_string().into_bytes(),
        )
        .await
        .expect(200);
    // Deployments: Pristina 3,000 from January, plus 1,000 for the last 15 of February's 29 days;
    // Bondsteel 2,000 in January only.
    for (base, start, end, troops) in [
        (&w.pristina, "2024-01-01", None, 3000),
        (&w.pristina, "2024-02-15", Some("2024-02-29"), 1000),
        (&w.bondsteel, "2024-01-01", Some("2024-01-31"), 2000),
    ] {
        w.app
            .post(
                &format!("/api/v1/bases/{base}/deployments"),
                Some(&w.admin.token),
                &json!({"start_date": start, "end_date": end, "troop_count": troops, "contributing_country": "GB"}),
            )
            .await
            .expect(201);
    }
    let analyst = w.app.seed_user(Role::Analyst);
    (w, analyst)
}

async fn stats(w: &World, user: &TestUser, query: &str) -> Value {
    w.app
        .get(
            &format!("/api/v1/stats/incidents?{query}"),
            Some(&user.token),
        )
        .await
        .expect(200)
}

/// (value of the dimension, incidents, victims) per cell.
fn cells(aggregate: &Value, column: &str) -> Vec<(Value, Value, Value)> {
    aggregate["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[column].clone(),
                c["incidents"].clone(),
                c["victims"].clone(),
            )
        })
        .collect()
}

async fn every_dimension_against_hand_counts(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let all = stats(&w, &analyst, "").await;
    assert_eq!(
        all["cells"],
        json!([{"incidents": 5, "victims": 11, "suppressed": false}])
    );
    assert_eq!(
        all["total"],
        json!({"incidents": 5, "victims": 11, "suppressed": false})
    );
    assert_eq!(all["k"], Value::Null);

    type Cells = Vec<(Value, i64, i64)>;
    let expected: Vec<(&str, &str, Cells)> = vec![
        ("mission", "mission_id", vec![(json!(w.mission), 5, 11)]),
        (
            "base",
            "base_name",
            vec![(json!("Camp Bondsteel"), 3, 6), (json!("Pristina"), 2, 5)],
        ),
        ("year", "year", vec![(json!("2024"), 5, 11)]),
        (
            "month",
            "month",
            vec![(json!("2024-01"), 3, 6), (json!("2024-02"), 2, 5)],
        ),
        (
            "exploitation_type",
            "exploitation_type",
            vec![
                (json!("domestic_servitude"), 1, 1),
                (json!("forced_labour"), 2, 3),
                (json!("sexual_exploitation"), 2, 4),
                (Value::Null, 1, 4),
            ],
        ),
        (
            "consent_assessment",
            "consent_assessment",
            vec![
                (json!("smuggling_indicated"), 1, 2),
                (json!("trafficking_indicated"), 1, 3),
                (json!("undetermined"), 3, 6),
            ],
        ),
        (
            "venue",
            "venue",
            vec![
                (json!("bar_or_club"), 1, 3),
                (json!("hotel"), 1, 2),
                (json!("private_residence"), 1, 1),
                (json!("street"), 1, 1),
                (Value::Null, 1, 4),
            ],
        ),
        (
            "perpetrator_affiliation",
            "perpetrator_affiliation",
            vec![
                (json!("contractor"), 1, 2),
                (json!("local_criminal_network"), 1, 1),
                (json!("un_military"), 2, 4),
                (Value::Null, 2, 5),
            ],
        ),
        (
            "distance_band",
            "distance_band",
            vec![(json!("0-2"), 3, 9), (json!("5-10"), 2, 2)],
        ),
        (
            "status",
            "status",
            vec![(json!("in_review"), 1, 3), (json!("submitted"), 4, 8)],
        ),
    ];
    for (group_by, column, want) in expected {
        let got = cells(
            &stats(&w, &analyst, &format!("group_by={group_by}")).await,
            column,
        );
        let want: Vec<_> = want
            .into_iter()
            .map(|(v, n, victims)| (v, json!(n), json!(victims)))
            .collect();
        assert_eq!(got, want, "group_by={group_by}");
    }
    // Two dimensions at once, and filters.
    let two = stats(&w, &analyst, "group_by=month,distance_band").await;
    let pairs: Vec<_> = two["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["month"].clone(),
                c["distance_band"].clone(),
                c["incidents"].clone(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            (json!("2024-01"), json!("0-2"), json!(2)),
            (json!("2024-01"), json!("5-10"), json!(1)),
            (json!("2024-02"), json!("0-2"), json!(1)),
            (json!("2024-02"), json!("5-10"), json!(1))
        ]
    );
    let filtered = stats(
        &w,
        &analyst,
        &format!(
            "base_id={}&status=submitted&occurred_from=2024-01-15T00:00:00Z",
            w.bondsteel
        ),
    )
    .await;
    assert_eq!(filtered["total"]["incidents"], 2);
    let none = stats(
        &w,
        &analyst,
        &format!("mission_id={}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(none["total"]["incidents"], 0);
    // A dimension named twice counts once.
    assert_eq!(
        stats(&w, &analyst, "group_by=month,%20month,").await,
        stats(&w, &analyst, "group_by=month").await
    );
    for bad in [
        "group_by=planet",
        "status=draft",
        "k=0",
        "mission_id=x",
        "format=xml",
        "extra=1",
    ] {
        w.app
            .get(
                &format!("/api/v1/stats/incidents?{bad}"),
                Some(&analyst.token),
            )
            .await
            .expect(400);
    }
}

async fn rates_per_1000_troops_with_overlapping_deployments(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let by_base = stats(&w, &analyst, "group_by=base,month").await;
    let rows: Vec<_> = by_base["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["base_name"].clone(),
                c["month"].clone(),
                c["incidents"].clone(),
                c["troop_strength"].clone(),
                c["incidents_per_1000_troops"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                json!("Camp Bondsteel"),
                json!("2024-01"),
                json!(3),
                json!(2000.0),
                json!(1.5)
            ),
            // 3,000 + 1,000 × 15/29 = 3,517.24; 2 / 3.51724 = 0.5686
            (
                json!("Pristina"),
                json!("2024-02"),
                json!(2),
                json!(3517.24),
                json!(0.5686)
            ),
        ]
    );
    let by_mission = stats(&w, &analyst, "group_by=mission,month").await;
    let rows: Vec<_> = by_mission["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["troop_strength"].clone(),
                c["incidents_per_1000_troops"].clone(),
            )
        })
        .collect();
    // January: 3,000 + 2,000 at both bases; February: Pristina alone.
    assert_eq!(
        rows,
        [(json!(5000.0), json!(0.6)), (json!(3517.24), json!(0.5686))]
    );
    // Without a month, or without a place, there is no rate.
    let no_rate = stats(&w, &analyst, "group_by=base").await;
    let no_rate = no_rate["cells"].as_array().unwrap();
    assert_eq!(no_rate.len(), 2, "{no_rate:?}");
    assert!(
        no_rate
            .iter()
            .all(|c| c.get("troop_strength").is_none()
                && c.get("incidents_per_1000_troops").is_none()),
        "{no_rate:?}"
    );
    // A month without deployments has no rate, not a division by zero: Bondsteel's
    // troops left at the end of January.
    let monitor = w.app.seed_user(Role::Monitor);
    let body = json!({"mission_id": w.mission, "occurred_at": "2024-02-10T10:00:00Z",
        "latitude": 42.35, "longitude": 21.26, "victims": {"count": 1}, "submit": true});
    create(&w.app, &monitor, &body).await.expect(201);
    let later = stats(
        &w,
        &analyst,
        "group_by=base,month&occurred_from=2024-02-01T00:00:00Z",
    )
    .await;
    let rows: Vec<_> = later["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["base_name"].clone(),
                c["month"].clone(),
                c["incidents"].clone(),
                c["troop_strength"].clone(),
                c["incidents_per_1000_troops"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                json!("Camp Bondsteel"),
                json!("2024-02"),
                json!(1),
                json!(0.0),
                Value::Null
            ),
            (
                json!("Pristina"),
                json!("2024-02"),
                json!(2),
                json!(3517.24),
                json!(0.5686)
            ),
        ]
    );
    assert!(
        later["cells"][0]
            .as_object()
            .unwrap()
            .contains_key("incidents_per_1000_troops"),
        "the rate is there, and null: {later}"
    );
}

async fn partners_get_the_release_not_exact_counts(backend: Backend) {
    let (w, _) = fixture(backend).await;
    let partner = w.app.seed_user(Role::Partner);
    // Before any release a partner sees nothing of others, and is told so.
    let agg = stats(&w, &partner, "group_by=base").await;
    assert_eq!(agg["scope"], "release");
    assert_eq!(agg["cells"], json!([]));
    assert_eq!(
        agg["total"],
        json!({"incidents": 0, "victims": 0, "suppressed": false})
    );
    assert_eq!(
        agg["privacy"]["release"],
        json!({"first_month": null, "last_month": null, "months": 0})
    );
    // Once released: every base and `none`, from the release, with rates from noised counts.
    crate::releases::build_on(&w.app, "2024-03-15");
    let agg = stats(&w, &partner, "group_by=base").await;
    assert_eq!(agg["k"], Value::Null);
    assert_eq!(agg["cells"].as_array().unwrap().len(), 3);
    let sum: i64 = agg["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["incidents"].as_i64().unwrap())
        .sum();
    assert_eq!(agg["total"]["incidents"], sum);
    let rated = stats(
        &w,
        &partner,
        "group_by=base,month&occurred_from=2024-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(rated["cells"].as_array().unwrap().len(), 6);
    assert!(
        rated["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["troop_strength"].is_number())
    );
    assert!(!rated.to_string().contains("narrative") && !rated.to_string().contains("reporter"));
    // k is not theirs to ask: the release is noised, not suppressed.
    w.app
        .get("/api/v1/stats/incidents?k=50", Some(&partner.token))
        .await
        .expect(400);
}

async fn secondary_suppression_hides_what_the_total_would_reveal(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    // Exact for analysts by default; with k=3 Pristina (2) is withheld, and Bondsteel (3)
    // with it, since total − Bondsteel would give Pristina back.
    let exact = stats(&w, &analyst, "group_by=base").await;
    assert_eq!(
        cells(&exact, "base_name"),
        [
            (json!("Camp Bondsteel"), json!(3), json!(6)),
            (json!("Pristina"), json!(2), json!(5))
        ]
    );
    assert!(
        exact["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["suppressed"] == false)
    );
    let agg = stats(&w, &analyst, "group_by=base&k=3").await;
    assert_eq!(agg["k"], 3);
    assert_eq!(
        cells(&agg, "base_name"),
        [
            (json!("Camp Bondsteel"), Value::Null, Value::Null),
            (json!("Pristina"), Value::Null, Value::Null)
        ]
    );
    assert_eq!(agg["total"]["incidents"], 5);
    // Two small cells protect each other: no secondary suppression needed.
    let agg = stats(&w, &analyst, "group_by=venue&k=2").await;
    let shown: Vec<_> = agg["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["suppressed"].clone())
        .collect();
    assert_eq!(shown, vec![json!(true); 5]);
    let agg = stats(&w, &analyst, "group_by=consent_assessment&k=2").await;
    assert_eq!(
        cells(&agg, "consent_assessment"),
        [
            (json!("smuggling_indicated"), Value::Null, Value::Null),
            (json!("trafficking_indicated"), Value::Null, Value::Null),
            (json!("undetermined"), json!(3), json!(6))
        ]
    );
}

async fn stats_as_csv_and_refused_roles(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let res = w
        .app
        .get(
            "/api/v1/stats/incidents?group_by=base,month&format=csv",
            Some(&analyst.token),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        res.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    let text = String::from_utf8(res.body.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "base_id,base_name,month,incidents,victims,suppressed,troop_strength,incidents_per_1000_troops"
    );
    assert_eq!(
        lines[1],
        format!("{},Camp Bondsteel,2024-01,3,6,false,2000,1.5", w.bondsteel)
    );
    assert_eq!(lines.len(), 3);
    let by_accept = w
        .app
        .raw(
            awc::http::Method::GET,
            "/api/v1/stats/incidents?group_by=venue",
            &[
                ("accept", "text/csv"),
                ("authorization", &format!("Bearer {}", analyst.token)),
            ],
            vec![],
        )
        .await;
    assert!(
        String::from_utf8_lossy(&by_accept.body)
            .starts_with("venue,incidents,victims,suppressed\n")
    );

    for role in [Role::Monitor, Role::Reviewer] {
        let user = w.app.seed_user(role);
        w.app
            .get("/api/v1/stats/incidents", Some(&user.token))
            .await
            .expect(403);
    }
    w.app.get("/api/v1/stats/incidents", None).await.expect(401);
    // Each aggregate is audited with its filters and row count.
    let audited = w.app.count("audit_log WHERE action = 'stats.queried'");
    assert_eq!(audited, 2);
    let admin = &w.admin;
    let log = w
        .app
        .get("/api/v1/audit?action=stats.queried", Some(&admin.token))
        .await
        .expect(200);
    let details = &log["items"][1]["details"];
    assert_eq!(details["rows"], 2);
    assert_eq!(details["filters"]["group_by"], json!(["base", "month"]));
    assert_eq!(details["filters"]["format"], "csv");
    assert_eq!(log["items"][1]["actor_id"], analyst.id.as_str());
}

async fn names_in_the_csv_are_never_formulas(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let mission = w
        .app
        .post(
            "/api/v1/missions",
            Some(&w.admin.token),
            &json!({"name": "=HYPERLINK(\"https://evil.example\",\"x\")", "country": "XK", "mandate_start": "2020-01-01"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.app
        .post(
            &format!("/api/v1/missions/{mission}/bases"),
            Some(&w.admin.token),
            &json!({"name": "@SUM(1+1)", "latitude": 10.0, "longitude": 10.0}),
        )
        .await
        .expect(201);
    let monitor = w.app.seed_user(Role::Monitor);
    let body = json!({"mission_id": mission, "occurred_at": "2024-01-05T10:00:00Z", "latitude": 10.0,
        "longitude": 10.0, "victims": {"count": 1}, "submit": true});
    create(&w.app, &monitor, &body).await.expect(201);
    let res = w
        .app
        .get(
            &format!(
                "/api/v1/stats/incidents?group_by=mission,base&format=csv&mission_id={mission}"
            ),
            Some(&analyst.token),
        )
        .await;
    assert_eq!(res.status, 200);
    let text = String::from_utf8(res.body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains(",\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\",")
            && lines[1].contains(",'@SUM(1+1),"),
        "{text}"
    );
}
