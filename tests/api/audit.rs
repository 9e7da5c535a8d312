//! The audit log: written with each action, never when the action fails,
//! readable by admins only, and impossible to edit.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, spawn_app};

crate::scenarios![
    actions_are_audited_and_admins_read_them,
    failed_actions_leave_no_audit_row,
    the_audit_log_cannot_be_changed,
];

async fn actions_are_audited_and_admins_read_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let monitor = app.seed_user(Role::Monitor);
    app.login(&monitor.email, PASSWORD).await.expect(200);
    app.login(&monitor.email, "not the password")
        .await
        .expect(401);
    app.login("ghost@example.org", "not the password")
        .await
        .expect(401);
    let created = app
        .post(
            "/api/v1/users",
            Some(&admin.token),
            &json!({"email": "new@example.org", "name": "New", "role": "analyst", "organisation_id": app.org_id, "password": "a long passphrase"}),
        )
        .await
        .expect(201);
    let new_id = created["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/users/{new_id}"),
        Some(&admin.token),
        &json!({"password": "another passphrase"}),
    )
    .await
    .expect(200);
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": "Audited NGO", "kind": "ngo"}),
    )
    .await
    .expect(201);
    app.get("/api/v1/users", Some(&monitor.token))
        .await
        .expect(403);
    app.get("/api/v1/me", Some("not-a-token")).await.expect(401);

    let all = app
        .get("/api/v1/audit?limit=200", Some(&admin.token))
        .await
        .expect(200);
    let actions: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "request.refused",
            "request.refused",
            "organisation.created",
            "user.updated",
            "user.created",
            "auth.login_failed",
            "auth.login_failed",
            "auth.login_succeeded",
        ],
        "newest first"
    );
    let items = all["items"].as_array().unwrap();
    assert_eq!(items[0]["actor_id"], json!(null));
    assert_eq!(items[0]["details"]["status"], 401);
    assert_eq!(items[1]["actor_id"], monitor.id.as_str());
    assert_eq!(
        items[1]["details"],
        json!({"method": "GET", "path": "/api/v1/users", "status": 403})
    );
    assert_eq!(items[3]["details"]["password_reset"], true);
    assert!(
        !items[3]["details"]
            .to_string()
            .contains("another passphrase"),
        "no password in the log"
    );
    assert_eq!(items[5]["details"]["reason"], "unknown email");
    assert_eq!(items[6]["details"]["reason"], "wrong password");
    assert_eq!(items[6]["entity_id"], monitor.id.as_str());
    assert!(
        items
            .iter()
            .all(|r| r["request_id"].is_string() || r["action"] == "user.created")
    );

    let filtered = app
        .get("/api/v1/audit?action=auth.login_failed", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(filtered["items"].as_array().unwrap().len(), 2);
    let by_actor = app
        .get(
            &format!("/api/v1/audit?actor_id={}", admin.id),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(by_actor["items"].as_array().unwrap().len(), 3);
    for bad in ["actor_id=", "actor_id=admin", "cursor=forged"] {
        let problem = app
            .get(&format!("/api/v1/audit?{bad}"), Some(&admin.token))
            .await
            .expect(400);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(bad.split('=').next().unwrap())
        );
    }
    let about = app
        .get(
            &format!("/api/v1/audit?entity_type=user&entity_id={new_id}"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(about["items"].as_array().unwrap().len(), 2);
    let future = app
        .get(
            "/api/v1/audit?from=2100-12-31T00:00:00Z",
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(future["items"].as_array().unwrap().len(), 0);

    let first = app
        .get("/api/v1/audit?limit=5", Some(&admin.token))
        .await
        .expect(200);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/audit?limit=5&cursor={cursor}"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    let ids: Vec<_> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|r| r["id"].clone())
        .collect();
    let all_ids: Vec<_> = items.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, all_ids, "pages join up without gaps or repeats");
    for role in [Role::Reviewer, Role::Analyst, Role::Monitor, Role::Partner] {
        let user = app.seed_user(role);
        app.get("/api/v1/audit", Some(&user.token))
            .await
            .expect(403);
    }
    app.get("/api/v1/audit?from=yesterday", Some(&admin.token))
        .await
        .expect(400);
}

async fn failed_actions_leave_no_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let before = app.count("audit_log");
    let bad_user = json!({"email": "x", "name": "", "role": "admin", "organisation_id": app.org_id, "password": "short"});
    app.post("/api/v1/users", Some(&admin.token), &bad_user)
        .await
        .expect(422);
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": "Test Oversight Office", "kind": "ngo"}),
    )
    .await
    .expect(409);
    app.patch(
        &format!("/api/v1/users/{}", admin.id),
        Some(&admin.token),
        &json!({"active": false}),
    )
    .await
    .expect(409);
    app.post(
        "/api/v1/missions",
        Some(&admin.token),
        &json!({"name": "M", "country": "ZZ", "mandate_start": "2020-01-01"}),
    )
    .await
    .expect(422);
    assert_eq!(app.count("audit_log"), before);
}

async fn the_audit_log_cannot_be_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": "Some NGO", "kind": "ngo"}),
    )
    .await
    .expect(201);
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        app.request(method, "/api/v1/audit", Some(&admin.token), None)
            .await
            .expect(405);
    }
    // Not even through SQL.
    let (update, delete) = app.db(|conn| {
        use diesel::RunQueryDsl;
        let update = diesel::sql_query("UPDATE audit_log SET action = 'nothing'")
            .execute(conn)
            .is_err();
        let delete = diesel::sql_query("DELETE FROM audit_log")
            .execute(conn)
            .is_err();
        Ok((update, delete))
    });
    assert!(update && delete);
    assert_eq!(
        app.count("audit_log WHERE action = 'organisation.created'"),
        1
    );
}
