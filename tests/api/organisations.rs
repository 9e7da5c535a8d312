//! /api/v1/organisations

use basewatch::domain::Role;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

crate::scenarios![
    admin_creates_and_lists_organisations,
    invalid_organisations_are_refused
];

async fn admin_creates_and_lists_organisations(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let res = app
        .post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": "  Safe Passage NGO ", "kind": "ngo"}),
        )
        .await;
    let created = res.expect(201);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/organisations/{id}").as_str())
    );
    assert_eq!(created["name"], "Safe Passage NGO");
    assert_eq!(created["kind"], "ngo");
    assert_eq!(
        app.count("organisations WHERE name = 'Safe Passage NGO' AND kind = 'ngo'"),
        1
    );

    // Names are unique regardless of case.
    let before = app.count("organisations");
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": "SAFE PASSAGE ngo", "kind": "other"}),
    )
    .await
    .expect(409);
    assert_eq!(app.count("organisations"), before);

    for n in 0..3 {
        app.post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": format!("Org {n}"), "kind": "other"}),
        )
        .await
        .expect(201);
    }
    let first = app
        .get("/api/v1/organisations?limit=3", Some(&admin.token))
        .await
        .expect(200);
    let names: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(
        names,
        ["Test Oversight Office", "Safe Passage NGO", "Org 0"]
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/organisations?limit=3&cursor={cursor}"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    let names: Vec<_> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].clone())
        .collect();
    assert_eq!(names, ["Org 1", "Org 2"]);
    assert!(rest["next_cursor"].is_null());
}

async fn invalid_organisations_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let before = app.count("organisations");
    for (body, field) in [
        (json!({"name": "", "kind": "ngo"}), "name"),
        (json!({"name": "x".repeat(201), "kind": "ngo"}), "name"),
        (json!({"name": "Tab\there", "kind": "ngo"}), "name"),
        (json!({"name": "Fine", "kind": "militia"}), "kind"),
        (json!({"name": "Fine"}), "kind"),
        (
            json!({"name": "Fine", "kind": "ngo", "id": uuid::Uuid::new_v4()}),
            "id",
        ),
    ] {
        let problem = app
            .post("/api/v1/organisations", Some(&admin.token), &body)
            .await
            .expect(422);
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(app.count("organisations"), before);
}
