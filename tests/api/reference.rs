//! Missions, bases and deployments: admins write, every signed-in user reads.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

crate::scenarios![
    admin_builds_a_mission_with_bases_and_deployments,
    every_role_reads_reference_data_but_only_admins_write,
    invalid_reference_data_names_each_field,
    unknown_parents_are_404,
    moving_a_base_does_not_move_old_incidents,
];

/// A mission (Kosovo-like) with two bases, through the API as an admin would.
pub async fn seed_mission(app: &TestApp, admin: &str) -> (String, String, String) {
    let mission = app
        .post(
            "/api/v1/missions",
            Some(admin),
            &json!({"name": format!("KFOR {}", uuid::Uuid::new_v4()), "country": "XK", "mandate_start": "1999-06-12"}),
        )
        .await
        .expect(201);
    let mission_id = mission["id"].as_str().unwrap().to_owned();
    let pristina = app
        .post(
            &format!("/api/v1/missions/{mission_id}/bases"),
            Some(admin),
            &json!({"name": "Pristina", "latitude": 42.66, "longitude": 21.16}),
        )
        .await
        .expect(201);
    let bondsteel = app
        .post(
            &format!("/api/v1/missions/{mission_id}/bases"),
            Some(admin),
            &json!({"name": "Camp Bondsteel", "latitude": 42.36, "longitude": 21.25}),
        )
        .await
        .expect(201);
    (
        mission_id,
        pristina["id"].as_str().unwrap().to_owned(),
        bondsteel["id"].as_str().unwrap().to_owned(),
    )
}

async fn admin_builds_a_mission_with_bases_and_deployments(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let res = app
        .post(
            "/api/v1/missions",
            Some(&admin.token),
            &json!({"name": "MINUSTAH", "country": "ht", "mandate_start": "2004-06-01", "mandate_end": "2017-10-15"}),
        )
        .await;
    let mission = res.expect(201);
    let id = mission["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/missions/{id}").as_str())
    );
    assert_eq!(mission["country"], "HT");
    assert_eq!(mission["mandate_end"], "2017-10-15");

    let updated = app
        .patch(
            &format!("/api/v1/missions/{id}"),
            Some(&admin.token),
            &json!({"mandate_end": null}),
        )
        .await
        .expect(200);
    assert!(updated["mandate_end"].is_null());
    assert_eq!(updated["name"], "MINUSTAH");

    let base = app
        .post(
            &format!("/api/v1/missions/{id}/bases"),
            Some(&admin.token),
            &json!({"name": "Port-au-Prince", "latitude": 18.54, "longitude": -72.34}),
        )
        .await
        .expect(201);
    let base_id = base["id"].as_str().unwrap();
    assert_eq!(base["mission_id"], id);
    let moved = app
        .patch(
            &format!("/api/v1/bases/{base_id}"),
            Some(&admin.token),
            &json!({"latitude": 18.55}),
        )
        .await
        .expect(200);
    assert_eq!(moved["latitude"], 18.55);
    assert_eq!(moved["longitude"], -72.34);

    for (start, end, troops) in [
        ("2004-06-01", Some("2010-01-11"), 6700),
        ("2010-01-12", None, 8900),
    ] {
        let d = app
            .post(
                &format!("/api/v1/bases/{base_id}/deployments"),
                Some(&admin.token),
                &json!({"start_date": start, "end_date": end, "troop_count": troops, "contributing_country": "br"}),
            )
            .await
            .expect(201);
        assert_eq!(d["contributing_country"], "BR");
        assert_eq!(d["troop_count"], troops);
    }
    let list = app
        .get(
            &format!("/api/v1/bases/{base_id}/deployments"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(app.count("deployments"), 2);

    let bases = app
        .get(&format!("/api/v1/missions/{id}/bases"), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(bases["items"][0]["name"], "Port-au-Prince");
    // Every change is in the audit log.
    for (action, rows) in [
        ("mission.created", 1),
        ("mission.updated", 1),
        ("base.created", 1),
        ("base.updated", 1),
        ("deployment.created", 2),
    ] {
        assert_eq!(
            app.count(&format!("audit_log WHERE action = '{action}'")),
            rows,
            "{action}"
        );
    }
}

async fn every_role_reads_reference_data_but_only_admins_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, base, _) = seed_mission(&app, &admin.token).await;
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/missions".into(),
            json!({"name": "X", "country": "NP", "mandate_start": "2020-01-01"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/missions/{mission}"),
            json!({"name": "Y"}),
        ),
        (
            Method::POST,
            format!("/api/v1/missions/{mission}/bases"),
            json!({"name": "Z", "latitude": 1, "longitude": 1}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/bases/{base}"),
            json!({"name": "Z"}),
        ),
        (
            Method::POST,
            format!("/api/v1/bases/{base}/deployments"),
            json!({"start_date": "2020-01-01", "troop_count": 5, "contributing_country": "NP"}),
        ),
    ];
    let reads = [
        "/api/v1/missions".to_owned(),
        format!("/api/v1/missions/{mission}"),
        format!("/api/v1/missions/{mission}/bases"),
        format!("/api/v1/bases/{base}"),
        format!("/api/v1/bases/{base}/deployments"),
    ];
    let before = (
        app.count("missions"),
        app.count("bases"),
        app.count("deployments"),
    );
    for role in [Role::Reviewer, Role::Analyst, Role::Monitor, Role::Partner] {
        let user = app.seed_user(role);
        for path in &reads {
            app.get(path, Some(&user.token)).await.expect(200);
        }
        for (method, path, body) in &writes {
            app.request(method.clone(), path, Some(&user.token), Some(body))
                .await
                .expect(403);
        }
    }
    for path in &reads {
        app.get(path, None).await.expect(401);
    }
    assert_eq!(
        (
            app.count("missions"),
            app.count("bases"),
            app.count("deployments")
        ),
        before
    );
    assert_eq!(
        app.count("audit_log WHERE action = 'request.refused' AND details LIKE '%\"status\":403%'"),
        20
    );
}

async fn invalid_reference_data_names_each_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, base, _) = seed_mission(&app, &admin.token).await;
    let before = (
        app.count("missions"),
        app.count("bases"),
        app.count("deployments"),
    );
    let cases: Vec<(String, Value, Vec<&str>)> = vec![
        (
            "/api/v1/missions".into(),
            json!({"name": "", "country": "ZZ", "mandate_start": "2020-01-02", "mandate_end": "2020-01-01"}),
            vec!["name", "country", "mandate_end"],
        ),
        (
            "/api/v1/missions".into(),
            json!({"name": "A", "country": "NP", "mandate_start": "01/02/2020"}),
            vec!["mandate_start"],
        ),
        // Dates outside 1945-2100 are typing errors (and would stretch every series).
        (
            "/api/v1/missions".into(),
            json!({"name": "Ancient", "country": "NP", "mandate_start": "0565-01-01", "mandate_end": "2101-01-01"}),
            vec!["mandate_start", "mandate_end"],
        ),
        (
            format!("/api/v1/bases/{base}/deployments"),
            json!({"start_date": "1944-12-31", "end_date": "9999-01-01", "troop_count": 5, "contributing_country": "np"}),
            vec!["start_date", "end_date"],
        ),
        (
            format!("/api/v1/missions/{mission}/bases"),
            json!({"name": "B", "latitude": 91, "longitude": -181}),
            vec!["latitude", "longitude"],
        ),
        (
            format!("/api/v1/missions/{mission}/bases"),
            json!({"name": "Pristina", "latitude": "x", "longitude": 0}),
            vec!["latitude"],
        ),
        (
            format!("/api/v1/bases/{base}/deployments"),
            json!({"start_date": "2020-01-02", "end_date": "2020-01-01", "troop_count": 5, "contributing_country": "QQ"}),
            vec!["contributing_country", "end_date"],
        ),
        (
            format!("/api/v1/bases/{base}/deployments"),
            json!({"start_date": "2020-01-02", "troop_count": -1, "contributing_country": "NP"}),
            vec!["troop_count"],
        ),
    ];
    for (path, body, fields) in cases {
        let problem = app.post(&path, Some(&admin.token), &body).await.expect(422);
        let mut got: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        got.sort();
        let mut want = fields.clone();
        want.sort();
        assert_eq!(got, want, "{path} {body}");
    }
    // Duplicate names clash, regardless of case.
    let name = app
        .get(&format!("/api/v1/missions/{mission}"), Some(&admin.token))
        .await
        .expect(200)["name"]
        .clone();
    app.post("/api/v1/missions", Some(&admin.token), &json!({"name": name.as_str().unwrap().to_lowercase(), "country": "XK", "mandate_start": "1999-06-12"}))
        .await
        .expect(409);
    app.post(
        &format!("/api/v1/missions/{mission}/bases"),
        Some(&admin.token),
        &json!({"name": "PRISTINA", "latitude": 0, "longitude": 0}),
    )
    .await
    .expect(409);
    assert_eq!(
        (
            app.count("missions"),
            app.count("bases"),
            app.count("deployments")
        ),
        before
    );
}

async fn unknown_parents_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let ghost = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/missions/{ghost}"), Some(&admin.token))
        .await
        .expect(404);
    app.get(
        &format!("/api/v1/missions/{ghost}/bases"),
        Some(&admin.token),
    )
    .await
    .expect(404);
    app.post(
        &format!("/api/v1/missions/{ghost}/bases"),
        Some(&admin.token),
        &json!({"name": "B", "latitude": 0, "longitude": 0}),
    )
    .await
    .expect(404);
    app.get(&format!("/api/v1/bases/{ghost}"), Some(&admin.token))
        .await
        .expect(404);
    app.get(
        &format!("/api/v1/bases/{ghost}/deployments"),
        Some(&admin.token),
    )
    .await
    .expect(404);
    app.post(
        &format!("/api/v1/bases/{ghost}/deployments"),
        Some(&admin.token),
        &json!({"start_date": "2020-01-01", "troop_count": 1, "contributing_country": "NP"}),
    )
    .await
    .expect(404);
    app.patch(
        "/api/v1/bases/not-an-id",
        Some(&admin.token),
        &json!({"name": "x"}),
    )
    .await
    .expect(404);
    assert_eq!(app.count("bases"), 0);
}

/// An incident keeps the nearest base and distance found when it was reported;
/// incidents reported after a base moved use its new position.
async fn moving_a_base_does_not_move_old_incidents(backend: Backend) {
    use basewatch::db::schema::incidents;
    use diesel::prelude::*;
    let w = crate::incidents::world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let body = crate::incidents::report(&w.mission);
    let old = crate::incidents::create(app, &monitor, &body)
        .await
        .expect(201);
    let id = old["id"].as_str().unwrap().to_owned();
    assert_eq!(old["base"]["id"], w.bondsteel.as_str());
    assert_eq!(old["base"]["distance_km"], 1.383);
    let stored = || {
        let id = id.clone();
        app.db(move |conn| {
            incidents::table
                .find(id)
                .select((
                    incidents::base_id,
                    incidents::base_distance_km,
                    incidents::latitude,
                    incidents::longitude,
                    incidents::version,
                ))
                .first::<(Option<String>, Option<f64>, f64, f64, i32)>(conn)
        })
    };
    let before = stored();
    assert_eq!(
        before,
        (Some(w.bondsteel.clone()), Some(1.383), 42.35, 21.26, 1)
    );

    let moved = app
        .patch(
            &format!("/api/v1/bases/{}", w.bondsteel),
            Some(&w.admin.token),
            &json!({"latitude": 42.89, "longitude": 20.87}),
        )
        .await
        .expect(200);
    assert_eq!(
        (moved["latitude"].as_f64(), moved["longitude"].as_f64()),
        (Some(42.89), Some(20.87))
    );

    let read = app
        .get(&format!("/api/v1/incidents/{id}"), Some(&monitor.token))
        .await
        .expect(200);
    assert_eq!(read, old, "the old incident reads as it was");
    assert_eq!(stored(), before);

    // A new report at the same place: Pristina is the nearest base now.
    let here = crate::incidents::create(app, &monitor, &body)
        .await
        .expect(201);
    assert_eq!(here["base"]["id"], w.pristina.as_str());
    assert_eq!(here["base"]["distance_km"], 35.432);
    // One where the base is now: Camp Bondsteel, no distance at all.
    let mut there = body.clone();
    there["latitude"] = json!(42.89);
    there["longitude"] = json!(20.87);
    let there = crate::incidents::create(app, &monitor, &there)
        .await
        .expect(201);
    assert_eq!(there["base"]["id"], w.bondsteel.as_str());
    assert_eq!(there["base"]["distance_km"], 0.0);
}
