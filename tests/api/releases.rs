//! The partner release: section 1 of issue 10 replayed as a hostile partner
//! would, against noised monthly cells built once and stored.

use basewatch::db::schema::{release_cells, releases};
use basewatch::domain::Role;
use basewatch::releases::build::{self, Built, Schedule};
use basewatch::releases::{Month, Table};
use chrono::NaiveDate;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser};
use crate::incidents::{World, create};
use crate::stats::fixture;

crate::scenarios![
    differencing_and_narrowing_recover_nothing_exact,
    a_month_is_invisible_before_its_lag,
    late_and_moved_incidents_change_no_partner_answer,
    partners_see_their_own_organisation_exactly,
    the_analysis_for_a_partner_comes_from_the_release,
    noise_is_really_applied,
    building_twice_or_concurrently_gives_one_release,
    analysts_stay_exact_and_releases_are_listed,
];

pub fn schedule(today: &str) -> Schedule {
    Schedule {
        epsilon: 1.0,
        lag_days: 14,
        today: NaiveDate::parse_from_str(today, "%Y-%m-%d").unwrap(),
    }
}

/// Builds what is due on `today`, as `basewatch release build` would.
pub fn build_on(app: &TestApp, today: &str) -> Vec<Built> {
    app.db(|conn| Ok(build::build_due(conn, schedule(today)).expect("the release builds")))
}

/// The stored cell of (month, mission, table, value): (incidents, victims).
fn stored(
    app: &TestApp,
    month: &str,
    mission: &str,
    table: Table,
    value: &str,
) -> (i64, Option<i64>) {
    let (month, mission, value) = (month.to_owned(), mission.to_owned(), value.to_owned());
    app.db(move |conn| {
        release_cells::table
            .filter(release_cells::month.eq(month))
            .filter(release_cells::mission_id.eq(mission))
            .filter(release_cells::dimension.eq(table.name()))
            .filter(release_cells::value.eq(value))
            .select((release_cells::incidents, release_cells::victims))
            .first(conn)
    })
}

async fn stats(app: &TestApp, user: &TestUser, query: &str) -> Value {
    app.get(
        &format!("/api/v1/stats/incidents?{query}"),
        Some(&user.token),
    )
    .await
    .expect(200)
}

async fn refused(app: &TestApp, user: &TestUser, query: &str, parameter: &str) {
    let body = app
        .get(
            &format!("/api/v1/stats/incidents?{query}"),
            Some(&user.token),
        )
        .await
        .expect(400);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!("{parameter}:")),
        "{query}: {detail}"
    );
    assert!(detail.contains("release grain"), "{query}: {detail}");
}

/// The stats fixture (January and February 2024), released up to February.
async fn released(backend: Backend) -> (World, TestUser, TestUser) {
    let (w, analyst) = fixture(backend).await;
    let built = build_on(&w.app, "2024-03-15");
    // 1997-06 (two years before the 1999-06-12 mandate) to 2024-02.
    assert_eq!(built.len(), 321);
    assert_eq!(built.last().unwrap().month.to_string(), "2024-02");
    let partner = w.app.seed_user(Role::Partner);
    (w, analyst, partner)
}

async fn differencing_and_narrowing_recover_nothing_exact(backend: Backend) {
    let (w, _, partner) = released(backend).await;
    let app = &w.app;
    let b = &w.bondsteel;
    // The suppressed cell of section 1, now a released one: exactly the stored, noised cell.
    let jan = stats(
        app,
        &partner,
        &format!("group_by=month&base_id={b}&occurred_from=2024-01-01T00:00:00Z&occurred_to=2024-02-01T00:00:00Z"),
    )
    .await;
    assert_eq!(jan["scope"], "release");
    assert_eq!(jan["cells"].as_array().unwrap().len(), 1);
    let cell = stored(app, "2024-01", &w.mission, Table::Base, b);
    assert_eq!(jan["cells"][0]["month"], "2024-01");
    assert_eq!(
        (
            jan["cells"][0]["incidents"].clone(),
            jan["cells"][0]["victims"].clone()
        ),
        (json!(cell.0), json!(cell.1.unwrap()))
    );
    assert_eq!(
        jan["total"]["incidents"], cell.0,
        "the total is the sum of the cells"
    );
    // Differencing across month ranges gives back the same stored cell, nothing more.
    let all = stats(
        app,
        &partner,
        &format!("base_id={b}&occurred_to=2100-01-01T00:00:00Z"),
    )
    .await;
    let after = stats(
        app,
        &partner,
        &format!("base_id={b}&occurred_from=2024-02-01T00:00:00Z"),
    )
    .await;
    let difference =
        all["total"]["incidents"].as_i64().unwrap() - after["total"]["incidents"].as_i64().unwrap();
    let before_jan: i64 = stats(
        app,
        &partner,
        &format!("base_id={b}&occurred_to=2024-01-01T00:00:00Z"),
    )
    .await["total"]["incidents"]
        .as_i64()
        .unwrap();
    assert_eq!(difference - before_jan, cell.0);
    // Every answer states its privacy.
    let privacy = &jan["privacy"];
    assert_eq!(privacy["epsilon"], 1.0);
    assert!(privacy["mechanism"].as_str().unwrap().contains("OpenDP"));
    assert_eq!(
        privacy["release"],
        json!({"first_month": "2024-01", "last_month": "2024-01", "months": 1})
    );
    // scale 1/0.3: a = exp(-0.3), sd = sqrt(2a)/(1-a) = 4.70; P(|Z| >= 11) = 2a^11/(1+a) = 0.043.
    assert_eq!(
        privacy["expected_error"]["incidents_per_cell"],
        json!({"standard_deviation": 4.7, "within_95_percent": 10})
    );
    assert!(
        privacy["expected_error"]["victims_per_cell"]["standard_deviation"]
            .as_f64()
            .unwrap()
            > 30.0
    );
    // Binary search on occurred_from, second resolution, status: refused, naming the parameter.
    for (query, parameter) in [
        (
            "occurred_from=2024-01-10T10:00:00Z".to_owned(),
            "occurred_from",
        ),
        (
            "occurred_from=2024-01-01T00:00:01Z".to_owned(),
            "occurred_from",
        ),
        ("occurred_to=2024-01-31T23:59:59Z".to_owned(), "occurred_to"),
        (
            "occurred_to=2024-02-01T00:00:00.001Z".to_owned(),
            "occurred_to",
        ),
        ("status=verified".to_owned(), "status"),
        ("status=in_review&group_by=month".to_owned(), "status"),
        ("k=1".to_owned(), "k"),
        ("group_by=status".to_owned(), "group_by"),
        ("group_by=base,venue".to_owned(), "group_by"),
        ("group_by=venue,exploitation_type".to_owned(), "group_by"),
        (format!("group_by=venue&base_id={b}"), "base_id"),
    ] {
        refused(app, &partner, &query, parameter).await;
    }
    // Dates outside 1945..2100 are 400, never a database error.
    for bad in [
        "occurred_from=1900-01-01T00:00:00Z",
        "occurred_to=-5000-01-01T00:00:00Z",
    ] {
        app.get(
            &format!("/api/v1/stats/incidents?{bad}"),
            Some(&partner.token),
        )
        .await
        .expect(400);
    }
    // Partners cannot ask for the exact figures of everyone.
    app.get("/api/v1/stats/incidents?scope=all", Some(&partner.token))
        .await
        .expect(403);
    // The same query twice: the same answer, for JSON and CSV.
    for query in [
        "group_by=base,month",
        "group_by=mission,year,venue",
        "group_by=exploitation_type&format=csv",
    ] {
        let first = app
            .get(
                &format!("/api/v1/stats/incidents?{query}"),
                Some(&partner.token),
            )
            .await;
        let second = app
            .get(
                &format!("/api/v1/stats/incidents?{query}"),
                Some(&partner.token),
            )
            .await;
        assert_eq!(first.status, 200);
        assert_eq!(first.body, second.body, "{query}");
    }
    // The released dimension: every vocabulary value and `none`, zeros included.
    let venues = stats(app, &partner, "group_by=venue").await;
    assert_eq!(venues["cells"].as_array().unwrap().len(), 9);
    assert!(
        venues["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["victims"].is_null())
    );
    // A year is the sum of its months.
    let months = stats(
        app,
        &partner,
        "group_by=month&occurred_from=2023-01-01T00:00:00Z&occurred_to=2024-01-01T00:00:00Z",
    )
    .await;
    let years = stats(app, &partner, "group_by=year").await;
    let year_2023 = years["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["year"] == "2023")
        .unwrap();
    let sum: i64 = months["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["incidents"].as_i64().unwrap())
        .sum();
    assert_eq!(months["cells"].as_array().unwrap().len(), 12);
    assert_eq!(year_2023["incidents"], sum);
    // The deployment-effect analysis of section 1: only released cells, radius refused.
    let path = format!(
        "/api/v1/analysis/deployment-effect?mission_id={}",
        w.mission
    );
    let body = app
        .get(&format!("{path}&radius_km=5"), Some(&partner.token))
        .await
        .expect(400);
    assert!(body["detail"].as_str().unwrap().starts_with("radius_km:"));
    app.get(&format!("{path}&scope=all"), Some(&partner.token))
        .await
        .expect(403);
}

async fn a_month_is_invisible_before_its_lag(backend: Backend) {
    let (w, _) = fixture(backend).await;
    let partner = w.app.seed_user(Role::Partner);
    // February 2024 ends with the 29th: due 14 days after, on March 15.
    let built = build_on(&w.app, "2024-03-14");
    assert_eq!(built.last().unwrap().month.to_string(), "2024-01");
    let agg = stats(
        &w.app,
        &partner,
        "group_by=month&occurred_from=2024-01-01T00:00:00Z",
    )
    .await;
    let months: Vec<&str> = agg["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2024-01"]);
    assert_eq!(agg["privacy"]["release"]["last_month"], "2024-01");
    let built = build_on(&w.app, "2024-03-15");
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].month.to_string(), "2024-02");
    let agg = stats(
        &w.app,
        &partner,
        "group_by=month&occurred_from=2024-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(agg["cells"].as_array().unwrap().len(), 2);
    // The command refuses a month before it is due.
    let not_due = w.app.db(|conn| {
        Ok(build::build_month(
            conn,
            Month::parse("2024-03").unwrap(),
            schedule("2024-04-14"),
        )
        .unwrap_err()
        .to_string())
    });
    assert!(not_due.contains("not due before 2024-04-15"), "{not_due}");
}

async fn late_and_moved_incidents_change_no_partner_answer(backend: Backend) {
    let (w, analyst, partner) = released(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    // An incident in March (not released yet), to be moved into January later.
    let march = json!({"mission_id": w.mission, "occurred_at": "2024-03-05T10:00:00Z", "latitude": 42.35,
        "longitude": 21.26, "victims": {"count": 2}, "venue": "hotel", "submit": true});
    let id = create(app, &monitor, &march).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queries = [
        "group_by=base,month".to_owned(),
        "group_by=venue&occurred_from=2024-01-01T00:00:00Z".to_owned(),
        format!("mission_id={}&group_by=month", w.mission),
        "group_by=exploitation_type&format=csv".to_owned(),
    ];
    let mut before = Vec::new();
    for q in &queries {
        before.push(
            app.get(
                &format!("/api/v1/stats/incidents?{q}"),
                Some(&partner.token),
            )
            .await
            .body,
        );
    }
    let analysis_path = format!(
        "/api/v1/analysis/deployment-effect?mission_id={}",
        w.mission
    );
    let analysis = app
        .get(&analysis_path, Some(&partner.token))
        .await
        .expect(200);
    let exact_before = stats(app, &analyst, "group_by=month").await;
    // A late report for January.
    let mut late = march.clone();
    late["occurred_at"] = json!("2024-01-03T08:00:00Z");
    late["victims"] = json!({"count": 9});
    create(app, &monitor, &late).await.expect(201);
    // The March incident is sent back and moved into January by its reporter.
    let t = |user: &TestUser, version: i64, body: Value| {
        let (id, token) = (id.clone(), user.token.clone());
        async move {
            app.raw(
                awc::http::Method::POST,
                &format!("/api/v1/incidents/{id}/transitions"),
                &[
                    ("content-type", "application/json"),
                    ("authorization", &format!("Bearer {token}")),
                    ("if-match", &format!("\"{version}\"")),
                ],
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    t(&reviewer, 1, json!({"to": "in_review"}))
        .await
        .expect(200);
    t(
        &reviewer,
        2,
        json!({"to": "needs_info", "comment": "Which day?"}),
    )
    .await
    .expect(200);
    app.raw(
        awc::http::Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        &[
            ("content-type", "application/merge-patch+json"),
            ("authorization", &format!("Bearer {}", monitor.token)),
            ("if-match", "\"3\""),
        ],
        json!({"occurred_at": "2024-01-28T10:00:00Z"})
            .to_string()
            .into_bytes(),
    )
    .await
    .expect(200);
    t(&monitor, 4, json!({"to": "submitted"})).await.expect(200);
    // Nothing is rebuilt: the same answers, byte for byte.
    assert!(build_on(app, "2024-03-20").is_empty());
    for (q, body) in queries.iter().zip(&before) {
        let now = app
            .get(
                &format!("/api/v1/stats/incidents?{q}"),
                Some(&partner.token),
            )
            .await;
        assert_eq!(&now.body, body, "{q}");
    }
    assert_eq!(
        app.get(&analysis_path, Some(&partner.token))
            .await
            .expect(200),
        analysis
    );
    // Analysts see them at once, exactly.
    let exact = stats(app, &analyst, "group_by=month").await;
    assert_eq!(exact_before["cells"][0]["incidents"], 3);
    assert_eq!(
        exact["cells"][0],
        json!({"month": "2024-01", "incidents": 5, "victims": 17, "suppressed": false})
    );
}

async fn partners_see_their_own_organisation_exactly(backend: Backend) {
    let (w, _, _) = released(backend).await;
    let app = &w.app;
    let org = app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Field NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let partner = app.seed_user_in(Role::Partner, &org);
    let colleague = app.seed_user_in(Role::Partner, &org);
    for (day, victims, venue) in [
        ("2024-01-04T09:30:00Z", 2, "street"),
        ("2024-01-04T09:31:00Z", 7, "brothel"),
    ] {
        let body = json!({"mission_id": w.mission, "occurred_at": day, "latitude": 42.66, "longitude": 21.16,
            "victims": {"count": victims}, "venue": venue, "submit": true});
        create(app, &colleague, &body).await.expect(201);
    }
    // Exact, with every filter an analyst has: minutes, status, k.
    let own = stats(
        app,
        &partner,
        "scope=own&group_by=venue&occurred_from=2024-01-04T09:31:00Z",
    )
    .await;
    assert_eq!(own["scope"], "own");
    assert!(own.get("privacy").is_none());
    assert_eq!(
        own["cells"],
        json!([{"venue": "brothel", "incidents": 1, "victims": 7, "suppressed": false}])
    );
    let own = stats(app, &partner, "scope=own&status=submitted&group_by=base").await;
    assert_eq!(
        own["total"],
        json!({"incidents": 2, "victims": 9, "suppressed": false})
    );
    assert_eq!(own["cells"][0]["base_name"], "Pristina");
    let own = stats(app, &partner, "scope=own&k=5").await;
    assert_eq!(own["total"]["suppressed"], true);
    // The oversight office's five incidents are not theirs.
    let own = stats(app, &partner, "scope=own&group_by=month").await;
    assert_eq!(own["cells"].as_array().unwrap().len(), 1);
    // Own CSV too.
    let csv = app
        .get(
            "/api/v1/stats/incidents?scope=own&group_by=venue&format=csv",
            Some(&partner.token),
        )
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(
        String::from_utf8(csv.body).unwrap(),
        "venue,incidents,victims,suppressed\nbrothel,1,7,false\nstreet,1,2,false\n"
    );
}

async fn the_analysis_for_a_partner_comes_from_the_release(backend: Backend) {
    let (w, _, partner) = released(backend).await;
    let app = &w.app;
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
    assert_eq!(res["scope"], "release");
    assert_eq!(res["radius_km"], Value::Null);
    assert_eq!(res["privacy"]["epsilon"], 1.0);
    let months = res["mission"]["months"].as_array().unwrap();
    assert!(!months.is_empty());
    assert_eq!(
        months.last().unwrap()["month"],
        "2024-02",
        "up to the last released month"
    );
    // Each month of each base is the stored cell; the mission's is their sum with `none`.
    let bases = res["bases"].as_array().unwrap();
    assert_eq!(bases.len(), 2);
    for m in months {
        let month = m["month"].as_str().unwrap();
        let mut sum = stored(app, month, &w.mission, Table::Base, "none").0;
        for base in bases {
            let id = base["base_id"].as_str().unwrap();
            let n = stored(app, month, &w.mission, Table::Base, id).0;
            let series = base["months"].as_array().unwrap();
            let here = series.iter().find(|x| x["month"] == month).unwrap();
            assert_eq!(here["incidents"], n, "{month} {id}");
            sum += n;
        }
        assert_eq!(m["incidents"], sum, "{month}");
    }
}

async fn noise_is_really_applied(backend: Backend) {
    let (w, _, _) = released(backend).await;
    // 319 of the 321 months have no incident: every exact count there is 0. Each
    // stored cell stays 0 with probability at most P(Z ≤ 0) = 1/(1+a) ≤ 0.6 (a =
    // exp(−1/scale), scale ≥ 3.3), so all of these ~11,000 cells staying 0 has a
    // probability below 0.6^11000: the test cannot fail by chance.
    let (zero_months, nonzero): (i64, i64) = w.app.db(|conn| {
        let all: i64 = release_cells::table
            .filter(release_cells::month.lt("2024-01"))
            .count()
            .get_result(conn)?;
        let nonzero: i64 = release_cells::table
            .filter(release_cells::month.lt("2024-01"))
            .filter(release_cells::incidents.gt(0))
            .count()
            .get_result(conn)?;
        Ok((all, nonzero))
    });
    // 319 months × (3 bases incl. none + 6 + 3 + 9 + 6 + 8) cells.
    assert_eq!(zero_months, 319 * 35);
    assert!(nonzero > 0, "no noise in {zero_months} cells");
    // Noise is never negative after post-processing.
    let negative: i64 = w.app.db(|conn| {
        release_cells::table
            .filter(
                release_cells::incidents
                    .lt(0)
                    .or(release_cells::victims.lt(0)),
            )
            .count()
            .get_result(conn)
    });
    assert_eq!(negative, 0);
}

async fn building_twice_or_concurrently_gives_one_release(backend: Backend) {
    let (w, _) = fixture(backend).await;
    let app = &w.app;
    // Four builders at once, each on its own connection: each month is built once.
    let pool = app.pool.clone();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                build::build_due(&mut conn, schedule("2024-03-15"))
                    .unwrap()
                    .len()
            })
        })
        .collect();
    let built: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(built, 321);
    assert_eq!(app.count("releases"), 321);
    assert_eq!(app.count("release_cells"), 321 * 35);
    // And again: nothing to build.
    assert!(build_on(app, "2024-03-15").is_empty());
    assert_eq!(app.count("releases"), 321);
    // Each release is audited once, with its ε.
    assert_eq!(app.count("audit_log WHERE action = 'release.built'"), 321);
    let log = app
        .get(
            "/api/v1/audit?action=release.built&limit=1",
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    let details = &log["items"][0]["details"];
    assert!(
        (details["epsilon"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{details}"
    );
    assert_eq!(details["cells"], 35);
    assert!(
        details["mechanism"]
            .as_str()
            .unwrap()
            .contains("discrete Laplace")
    );
    // The stored release cannot be changed: the triggers refuse, on both backends.
    let mut conn = app.pool.get().unwrap();
    let refusals = [
        diesel::update(releases::table)
            .set(releases::epsilon.eq(99.0))
            .execute(&mut **conn),
        diesel::update(release_cells::table)
            .set(release_cells::incidents.eq(0))
            .execute(&mut **conn),
        diesel::delete(release_cells::table).execute(&mut **conn),
        diesel::delete(releases::table).execute(&mut **conn),
    ];
    drop(conn);
    for refused in refusals {
        let error = refused.expect_err("the triggers refuse").to_string();
        assert!(error.contains("releases are never changed"), "{error}");
    }
    assert_eq!(app.count("releases WHERE epsilon = 1.0"), 321);
    assert_eq!(app.count("release_cells"), 321 * 35);
}

async fn analysts_stay_exact_and_releases_are_listed(backend: Backend) {
    let (w, analyst, partner) = released(backend).await;
    let app = &w.app;
    let exact = stats(app, &analyst, "group_by=base").await;
    assert_eq!(exact["scope"], "all");
    assert!(exact.get("privacy").is_none());
    assert_eq!(
        exact["total"],
        json!({"incidents": 5, "victims": 11, "suppressed": false})
    );
    // Minute bounds and status stay open to analysts, and k suppresses on request.
    let narrow = stats(
        app,
        &analyst,
        "occurred_from=2024-01-10T10:00:00Z&occurred_to=2024-01-10T10:00:01Z&status=in_review",
    )
    .await;
    assert_eq!(narrow["total"]["incidents"], 1);
    assert_eq!(
        stats(app, &analyst, "k=3&group_by=base").await["cells"][0]["suppressed"],
        true
    );
    // An analyst may read the release too, as partners get it.
    let theirs = stats(app, &partner, "group_by=month").await;
    let mine = stats(app, &analyst, "group_by=month&scope=release").await;
    assert_eq!(theirs, mine);
    // The list of releases.
    for user in [&partner, &analyst, &w.admin] {
        let list = app
            .get("/api/v1/releases", Some(&user.token))
            .await
            .expect(200);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 321);
        assert_eq!(items[0]["month"], "1997-06");
        assert_eq!(items[320]["month"], "2024-02");
        assert_eq!(items[0]["epsilon"], 1.0);
        assert!(items[0]["built_on"].is_string());
    }
    for role in [Role::Monitor, Role::Reviewer] {
        let user = app.seed_user(role);
        app.get("/api/v1/releases", Some(&user.token))
            .await
            .expect(403);
    }
    app.get("/api/v1/releases", None).await.expect(401);
}
