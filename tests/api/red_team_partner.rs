//! A hostile NGO partner, replayed: what the red team of issue 10 tried
//! beyond section 1, each through the HTTP API.

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser};
use crate::incidents::create;
use crate::releases::{build_on, schedule};
use crate::stats::fixture;

crate::scenarios![
    the_list_of_releases_does_not_time_their_builds,
    a_base_without_troops_has_zero_troops_not_minus_zero,
    huge_perpetrator_counts_do_not_break_anyones_export,
    release_build_keeps_to_the_range_and_the_analysis_to_released_months,
    accept_chooses_csv_by_media_type,
    the_list_of_releases_refuses_parameters_it_does_not_take,
    csv_columns_do_not_depend_on_the_cells,
];

/// Months built one after another in one run: the time each was built would
/// show how long the one before took, and that grows with its exact number of
/// incidents. The list says the day only.
async fn the_list_of_releases_does_not_time_their_builds(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let day = || {
        chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    };
    let before = day();
    let built = build_on(&w.app, "2024-03-15");
    let after = day();
    assert_eq!(built.len(), 321);
    let partner = w.app.seed_user(Role::Partner);
    for user in [&partner, &analyst, &w.admin] {
        let list: Value = w
            .app
            .get("/api/v1/releases", Some(&user.token))
            .await
            .expect(200);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 321);
        for item in items {
            let built_on = item["built_on"].as_str().unwrap();
            // Built just now: the day only (a run across midnight gives two days).
            assert!(built_on == before || built_on == after, "{built_on}");
        }
    }
}

/// A base added after the deployments were recorded, and so without troops:
/// its strength is 0 in JSON, CSV and the analysis (it was `-0.0` and, in the
/// CSV, `-0`, a cell starting with a minus sign).
async fn a_base_without_troops_has_zero_troops_not_minus_zero(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let app = &w.app;
    let base = app
        .post(
            &format!("/api/v1/missions/{}/bases", w.mission),
            Some(&w.admin.token),
            &json!({"name": "Film City", "latitude": 42.65, "longitude": 21.15}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(build_on(app, "2024-03-15").len(), 321);
    let partner = app.seed_user(Role::Partner);
    let query = format!(
        "group_by=base,month&base_id={base}&occurred_from=2024-01-01T00:00:00Z&occurred_to=2024-03-01T00:00:00Z"
    );
    for (user, scope) in [(&partner, "release"), (&analyst, "all")] {
        let body = app
            .get(
                &format!("/api/v1/stats/incidents?{query}&scope={scope}"),
                Some(&user.token),
            )
            .await
            .expect(200);
        let cells = body["cells"].as_array().unwrap();
        // The release has the base's cell in both months, zeros included; the exact count may have none.
        assert_eq!(
            cells.len(),
            if scope == "release" { 2 } else { cells.len() }
        );
        for cell in cells {
            let troops = cell["troop_strength"].as_f64().unwrap();
            assert!(troops == 0.0 && troops.is_sign_positive(), "{cell}");
        }
        let csv = app
            .get(
                &format!("/api/v1/stats/incidents?{query}&scope={scope}&format=csv"),
                Some(&user.token),
            )
            .await;
        assert_eq!(csv.status, 200);
        let text = String::from_utf8(csv.body.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), cells.len() + 1, "{text}");
        assert!(
            lines
                .iter()
                .all(|l| !l.split(',').any(|f| f.starts_with('-'))),
            "{text}"
        );
    }
    let analysis = app
        .get(
            &format!(
                "/api/v1/analysis/deployment-effect?mission_id={}",
                w.mission
            ),
            Some(&partner.token),
        )
        .await
        .expect(200);
    let series = analysis["bases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["base_id"] == base.as_str())
        .expect("the new base has a series");
    let months = series["months"].as_array().unwrap();
    assert!(!months.is_empty());
    for month in months {
        let troops = month["troop_strength"].as_f64().unwrap();
        assert!(troops == 0.0 && troops.is_sign_positive(), "{month}");
    }
}

/// A partner in an NGO organisation of its own.
async fn ngo_partner(app: &TestApp, admin: &TestUser) -> TestUser {
    let org = app
        .post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": format!("NGO {}", uuid::Uuid::new_v4()), "kind": "ngo"}),
        )
        .await
        .expect(201);
    app.seed_user_in(Role::Partner, org["id"].as_str().unwrap())
}

/// A partner plants a report whose perpetrator counts add up past u32: the
/// export summed them in u32, panicked mid-stream (the analyst's export of
/// every organisation broke off after its header) or, built for release,
/// wrapped to a wrong number.
async fn huge_perpetrator_counts_do_not_break_anyones_export(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let app = &w.app;
    let partner = ngo_partner(app, &w.admin).await;
    let planted = create(
        app,
        &partner,
        &json!({
            "mission_id": w.mission, "occurred_at": "2024-01-15T10:00:00Z",
            "latitude": 42.36, "longitude": 21.25, "victims": {"count": 1}, "submit": true,
            "perpetrators": [
                {"affiliation": "un_military", "count": 4_000_000_000u32},
                {"affiliation": "contractor", "count": 4_000_000_000u32},
            ],
        }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The partner exports its own organisation's one report; the analyst every one.
    let every = app
        .get("/api/v1/stats/incidents", Some(&analyst.token))
        .await
        .expect(200)["total"]["incidents"]
        .as_u64()
        .unwrap() as usize;
    assert!(every > 1);
    for (user, rows) in [(&partner, 1), (&analyst, every)] {
        let res = app
            .get("/api/v1/exports/incidents?format=ndjson", Some(&user.token))
            .await;
        assert_eq!(res.status, 200);
        let text = String::from_utf8(res.body.clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), rows, "{text}");
        let row = lines.iter().find(|r| r["id"] == planted.as_str()).unwrap();
        assert_eq!(row["perpetrators"], 8_000_000_000i64);
        let csv = app
            .get(
                "/api/v1/exports/incidents?format=csv&schema=htcds",
                Some(&user.token),
            )
            .await;
        assert_eq!(csv.status, 200);
        let text = String::from_utf8(csv.body.clone()).unwrap();
        assert_eq!(text.lines().count(), rows + 1, "{text}");
        assert!(text.contains(",8000000000,"), "{text}");
    }
}

/// `basewatch release build --month` took any month from 1945 on: an admin's
/// `--month 1950-06` was released, and a partner's analysis then listed every
/// month from 1950 on (decades never released) as 0 incidents. It now refuses
/// a month before the documented range, and the analysis shows released
/// months only, even when `--month` left a gap inside the range.
async fn release_build_keeps_to_the_range_and_the_analysis_to_released_months(backend: Backend) {
    use basewatch::releases::{Month, build};
    let (w, _analyst) = fixture(backend).await;
    let app = &w.app;
    let build = |month: &str| {
        app.db(|conn| {
            Ok(
                build::build_month(conn, Month::parse(month).unwrap(), schedule("2024-03-15"))
                    .map(|b| b.map(|b| b.month.to_string()))
                    .map_err(|e| e.to_string()),
            )
        })
    };
    let refused = build("1950-06").unwrap_err();
    assert!(refused.contains("1950-06 is before"), "{refused}");
    assert!(Month::parse("+2024-1").is_none() && Month::parse(" 2024-1").is_none());
    // Two months inside the range, with a gap between them.
    assert_eq!(build("2023-06").unwrap().as_deref(), Some("2023-06"));
    assert_eq!(build("2024-01").unwrap().as_deref(), Some("2024-01"));
    // A deployment long before them, so the analysis has months to show.
    let bases = app
        .get(
            &format!("/api/v1/missions/{}/bases", w.mission),
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    let base = bases["items"][0]["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/bases/{base}/deployments"),
        Some(&w.admin.token),
        &json!({"start_date": "2020-01-01", "troop_count": 500, "contributing_country": "NP"}),
    )
    .await
    .expect(201);
    let partner = app.seed_user(Role::Partner);
    let list = app
        .get("/api/v1/releases", Some(&partner.token))
        .await
        .expect(200);
    let listed: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["month"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["2023-06", "2024-01"]);
    let res = app
        .get(
            &format!(
                "/api/v1/analysis/deployment-effect?mission_id={}",
                w.mission
            ),
            Some(&partner.token),
        )
        .await
        .expect(200);
    assert_eq!(res["privacy"]["release"]["months"], 2);
    let mut series = vec![&res["mission"]];
    series.extend(res["bases"].as_array().unwrap());
    assert!(series.len() >= 2);
    for s in series {
        let months: Vec<&str> = s["months"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["month"].as_str().unwrap())
            .collect();
        assert_eq!(months, ["2023-06", "2024-01"], "{}", s["name"]);
    }
}

/// `Accept` chose CSV by substring: `Text/CSV` (media types are
/// case-insensitive) got JSON and `text/csv;q=0` ("anything but CSV") got CSV.
async fn accept_chooses_csv_by_media_type(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let partner = w.app.seed_user(Role::Partner);
    for user in [&partner, &analyst] {
        let auth = format!("Bearer {}", user.token);
        for (accept, csv) in [
            ("Text/CSV", true),
            ("application/json;q=0.9, text/csv", true),
            ("text/csv;q=0, application/json", false),
            ("application/json", false),
        ] {
            let res = w
                .app
                .raw(
                    awc::http::Method::GET,
                    "/api/v1/stats/incidents?group_by=venue&scope=own",
                    &[("accept", accept), ("authorization", &auth)],
                    vec![],
                )
                .await;
            assert_eq!(res.status, 200, "{accept}");
            let body = String::from_utf8_lossy(&res.body);
            if csv {
                assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
                assert!(
                    body.starts_with("venue,incidents,victims,suppressed\n"),
                    "{body}"
                );
            } else {
                assert!(body.starts_with('{'), "{accept}: {body}");
            }
        }
    }
}

/// `/releases` ignored `limit` and `cursor` without a word (a client asking for
/// 5 got every month): it takes no parameter, and says so.
async fn the_list_of_releases_refuses_parameters_it_does_not_take(backend: Backend) {
    let (w, _analyst) = fixture(backend).await;
    let partner = w.app.seed_user(Role::Partner);
    for query in ["limit=5", "cursor=x", "month=2024-01"] {
        let res = w
            .app
            .get(&format!("/api/v1/releases?{query}"), Some(&partner.token))
            .await;
        let body = res.expect(400);
        let name = query.split('=').next().unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("`{name}`")),
            "{body}"
        );
    }
    let list = w
        .app
        .get("/api/v1/releases", Some(&partner.token))
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    assert_eq!(list["next_cursor"], Value::Null);
}

/// The troop columns of a CSV answer came and went with its cells: an empty
/// answer to `group_by=mission,month` had no `troop_strength` column.
async fn csv_columns_do_not_depend_on_the_cells(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    assert_eq!(build_on(&w.app, "2024-03-15").len(), 321);
    let partner = w.app.seed_user(Role::Partner);
    let header = "mission_id,mission_name,month,incidents,victims,suppressed,troop_strength,incidents_per_1000_troops";
    for (user, query, rows) in [
        (&analyst, "occurred_from=2024-01-01T00:00:00Z", 2),
        (&analyst, "occurred_from=2099-01-01T00:00:00Z", 0),
        (&partner, "occurred_from=2024-01-01T00:00:00Z", 2),
        (&partner, "occurred_from=2099-01-01T00:00:00Z", 0),
    ] {
        let res = w
            .app
            .get(
                &format!("/api/v1/stats/incidents?group_by=mission,month&format=csv&{query}"),
                Some(&user.token),
            )
            .await;
        assert_eq!(res.status, 200);
        let body = String::from_utf8_lossy(&res.body).into_owned();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 1 + rows, "{body}");
        assert_eq!(lines[0], header);
        for line in &lines[1..] {
            assert_eq!(line.split(',').count(), 8, "{line}");
        }
    }
}
