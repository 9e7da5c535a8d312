//! /api/v1/analysis/deployment-effect against a series computed by hand.

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser, spawn_app};
use crate::incidents::create;

crate::scenarios![
    correlation_and_periods_against_hand_computed_values,
    a_mission_without_deployments_has_no_correlation,
    partners_get_released_months_and_others_are_refused,
];

async fn mission_with_base(app: &TestApp, admin: &TestUser, name: &str) -> (String, String) {
    let mission = app
        .post(
            "/api/v1/missions",
            Some(&admin.token),
            &json!({"name": name, "country": "NP", "mandate_start": "2023-01-01"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let base = app
        .post(
            &format!("/api/v1/missions/{mission}/bases"),
            Some(&admin.token),
            &json!({"name": "Alpha", "latitude": 10.0, "longitude": 10.0}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (mission, base)
}

/// `count` submitted incidents on the 10th of `month`, `km_north` of the base (1° ≈ 111.2 km).
async fn incidents(
    app: &TestApp,
    user: &TestUser,
    mission: &str,
    month: &str,
    count: usize,
    lat: f64,
) {
    for _ in 0..count {
        let body = json!({"mission_id": mission, "occurred_at": format!("2024-{month}-10T12:00:00Z"), "latitude": lat,
            "longitude": 10.0, "victims": {"count": 1}, "submit": true});
        create(app, user, &body).await.expect(201);
    }
}

/// Monthly incidents near the base: 2, 1 | 3, 2, 5 | 1 (Jan–Jun 2024); troops 0, 0 |
/// 1,000, 1,000, 3,000 | 0. Plus one incident 55 km away and a draft, never counted.
async fn setup(backend: Backend) -> (TestApp, TestUser, String) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let monitor = app.seed_user(Role::Monitor);
    let (mission, base) = mission_with_base(&app, &admin, "Alpha Mission").await;
    for (start, end, troops) in [
        ("2024-03-01", "2024-04-30", 1000),
        ("2024-05-01", "2024-05-31", 3000),
    ] {
        app.post(
            &format!("/api/v1/bases/{base}/deployments"),
            Some(&admin.token),
            &json!({"start_date": start, "end_date": end, "troop_count": troops, "contributing_country": "NP"}),
        )
        .await
        .expect(201);
    }
    for (month, count) in [
        ("01", 2),
        ("02", 1),
        ("03", 3),
        ("04", 2),
        ("05", 5),
        ("06", 1),
    ] {
        incidents(&app, &monitor, &mission, month, count, 10.01).await;
    }
    incidents(&app, &monitor, &mission, "06", 1, 10.5).await;
    let draft = json!({"mission_id": mission, "occurred_at": "2024-05-10T12:00:00Z", "latitude": 10.0, "longitude": 10.0, "victims": {"count": 1}});
    create(&app, &monitor, &draft).await.expect(201);
    (app, admin, mission)
}

fn series(v: &Value) -> (Vec<String>, Vec<Value>, Vec<f64>) {
    let months = v["months"].as_array().unwrap();
    (
        months
            .iter()
            .map(|m| m["month"].as_str().unwrap().to_owned())
            .collect(),
        months.iter().map(|m| m["incidents"].clone()).collect(),
        months
            .iter()
            .map(|m| m["troop_strength"].as_f64().unwrap())
            .collect(),
    )
}

async fn correlation_and_periods_against_hand_computed_values(backend: Backend) {
    let (app, admin, mission) = setup(backend).await;
    let analyst = app.seed_user(Role::Analyst);
    let res = app
        .get(
            &format!("/api/v1/analysis/deployment-effect?mission_id={mission}&radius_km=10"),
            Some(&analyst.token),
        )
        .await
        .expect(200);
    assert_eq!(res["mission_name"], "Alpha Mission");
    assert_eq!(res["radius_km"], 10.0);
    assert_eq!(res["scope"], "all");
    assert!(res.get("privacy").is_none());
    let (months, counts, strength) = series(&res["mission"]);
    assert_eq!(
        months,
        [
            "2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06"
        ]
    );
    assert_eq!(
        counts,
        [json!(2), json!(1), json!(3), json!(2), json!(5), json!(1)]
    );
    assert_eq!(strength, [0.0, 0.0, 1000.0, 1000.0, 3000.0, 0.0]);
    // Before: (2+1)/2; during: (3+2+5)/3; after: 1; per 1,000 troops: 10 / 5,000 troop-months.
    // Pearson and Spearman of strength against incidents, computed by hand: 0.9469 and 0.874.
    assert_eq!(
        res["mission"]["summary"],
        json!({
            "mean_monthly_incidents": 2.3333,
            "mean_monthly_incidents_before": 1.5,
            "mean_monthly_incidents_during": 3.3333,
            "mean_monthly_incidents_after": 1.0,
            "incidents_per_1000_troops_during": 2.0,
            "correlation": {"n": 6, "pearson": 0.9469, "spearman": 0.874},
        })
    );
    assert_eq!(res["bases"][0]["name"], "Alpha");
    assert_eq!(res["bases"][0]["summary"], res["mission"]["summary"]);
    // A wider radius takes in the distant incident.
    let wide = app
        .get(
            &format!("/api/v1/analysis/deployment-effect?mission_id={mission}&radius_km=100"),
            Some(&analyst.token),
        )
        .await
        .expect(200);
    assert_eq!(series(&wide["mission"]).1[5], json!(2));
    let log = app
        .get("/api/v1/audit?action=analysis.queried", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(log["items"].as_array().unwrap().len(), 2);
    assert_eq!(log["items"][1]["details"]["rows"], 6);
    assert_eq!(log["items"][1]["entity_id"], mission.as_str());
}

async fn a_mission_without_deployments_has_no_correlation(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let monitor = app.seed_user(Role::Monitor);
    let (mission, _) = mission_with_base(&app, &admin, "Comparison").await;
    incidents(&app, &monitor, &mission, "01", 1, 10.01).await;
    incidents(&app, &monitor, &mission, "03", 1, 10.01).await;
    let res = app
        .get(
            &format!("/api/v1/analysis/deployment-effect?mission_id={mission}"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    let (months, counts, strength) = series(&res["mission"]);
    assert_eq!(months, ["2024-01", "2024-02", "2024-03"]);
    assert_eq!(counts, [json!(1), json!(0), json!(1)]);
    assert_eq!(strength, [0.0; 3]);
    assert_eq!(
        res["mission"]["summary"],
        json!({"mean_monthly_incidents": 0.6667, "mean_monthly_incidents_before": null, "mean_monthly_incidents_during": null,
               "mean_monthly_incidents_after": null, "incidents_per_1000_troops_during": null, "correlation": null})
    );
    // A mission with nothing at all: an empty series, not an error.
    let (empty, _) = mission_with_base(&app, &admin, "Empty").await;
    let res = app
        .get(
            &format!("/api/v1/analysis/deployment-effect?mission_id={empty}"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert!(res["mission"]["months"].as_array().unwrap().is_empty());
}

async fn partners_get_released_months_and_others_are_refused(backend: Backend) {
    let (app, _, mission) = setup(backend).await;
    let partner = app.seed_user(Role::Partner);
    let path = format!("/api/v1/analysis/deployment-effect?mission_id={mission}");
    // Nothing released yet: no months at all, whatever the exact series holds.
    let res = app.get(&path, Some(&partner.token)).await.expect(200);
    assert_eq!(res["scope"], "release");
    assert!(res["mission"]["months"].as_array().unwrap().is_empty());
    assert_eq!(res["privacy"]["release"]["months"], 0);
    // Released up to May 2024 (June is due on July 15).
    crate::releases::build_on(&app, "2024-07-14");
    let res = app.get(&path, Some(&partner.token)).await.expect(200);
    let (months, counts, strength) = series(&res["mission"]);
    assert_eq!(months.last().unwrap(), "2024-05");
    assert_eq!(strength[strength.len() - 3..], [1000.0, 1000.0, 3000.0]);
    assert!(counts.iter().all(|c| c.as_i64().is_some_and(|n| n >= 0)));
    assert_eq!(res["privacy"]["release"]["last_month"], "2024-05");
    app.get(&format!("{path}&radius_km=10"), Some(&partner.token))
        .await
        .expect(400);
    for role in [Role::Monitor, Role::Reviewer] {
        let user = app.seed_user(role);
        app.get(
            &format!("/api/v1/analysis/deployment-effect?mission_id={mission}"),
            Some(&user.token),
        )
        .await
        .expect(403);
    }
    let analyst = app.seed_user(Role::Analyst);
    let path = "/api/v1/analysis/deployment-effect";
    app.get(
        &format!("{path}?mission_id={}", uuid::Uuid::new_v4()),
        Some(&analyst.token),
    )
    .await
    .expect(404);
    for bad in [
        "mission_id=nope".to_owned(),
        format!("mission_id={mission}&radius_km=0"),
        format!("mission_id={mission}&radius_km=x"),
        "".to_owned(),
    ] {
        app.get(&format!("{path}?{bad}"), Some(&analyst.token))
            .await
            .expect(400);
    }
}
