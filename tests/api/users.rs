//! /api/v1/users: admins manage accounts; every other role is refused.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};

crate::scenarios![
    admin_creates_reads_and_updates_a_user,
    emails_are_unique_regardless_of_case,
    invalid_new_users_name_each_field_and_store_nothing,
    admin_routes_are_refused_to_every_other_role,
    admins_cannot_lock_themselves_out,
    unknown_users_are_404,
    user_lists_filter_and_page,
    a_role_change_applies_to_existing_tokens,
];

fn new_user(app: &TestApp, email: &str, role: &str) -> Value {
    json!({
        "email": email, "name": "Ana Field", "role": role,
        "organisation_id": app.org_id, "password": "a long passphrase",
    })
}

async fn admin_creates_reads_and_updates_a_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let res = app
        .post(
            "/api/v1/users",
            Some(&admin.token),
            &new_user(&app, "  Ana.Field@Example.ORG ", "monitor"),
        )
        .await;
    let created = res.expect(201);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/users/{id}").as_str())
    );
    assert_eq!(created["email"], "ana.field@example.org");
    assert_eq!(created["role"], "monitor");
    assert_eq!(created["active"], true);
    assert_eq!(created["organisation"]["id"], app.org_id.as_str());
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    // Stored once, with an argon2id hash and never the password.
    assert_eq!(app.count("users WHERE email = 'ana.field@example.org'"), 1);
    assert_eq!(
        app.count(&format!(
            "users WHERE id = '{id}' AND password_hash LIKE '$argon2id$%'"
        )),
        1
    );

    let fetched = app
        .get(&format!("/api/v1/users/{id}"), Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(fetched, created);
    app.login("ana.field@example.org", "a long passphrase")
        .await
        .expect(200);

    let other_org = app
        .post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": "Field NGO", "kind": "ngo"}),
        )
        .await
        .expect(201);
    let updated = app
        .patch(
            &format!("/api/v1/users/{id}"),
            Some(&admin.token),
            &json!({"name": "Ana F. Field", "role": "partner", "organisation_id": other_org["id"]}),
        )
        .await
        .expect(200);
    assert_eq!(updated["name"], "Ana F. Field");
    assert_eq!(updated["role"], "partner");
    assert_eq!(updated["organisation"]["name"], "Field NGO");
    assert_eq!(updated["email"], "ana.field@example.org");
    assert!(updated["updated_at"].as_str() >= created["updated_at"].as_str());
    assert_eq!(
        app.count(&format!("users WHERE id = '{id}' AND role = 'partner'")),
        1
    );

    // An empty change changes nothing but is allowed.
    let same = app
        .patch(
            &format!("/api/v1/users/{id}"),
            Some(&admin.token),
            &json!({}),
        )
        .await
        .expect(200);
    assert_eq!(same["role"], "partner");
}

async fn emails_are_unique_regardless_of_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    app.post(
        "/api/v1/users",
        Some(&admin.token),
        &new_user(&app, "dup@example.org", "analyst"),
    )
    .await
    .expect(201);
    let before = app.count("users");
    let conflict = app
        .post(
            "/api/v1/users",
            Some(&admin.token),
            &new_user(&app, "DUP@example.org", "reviewer"),
        )
        .await
        .expect(409);
    assert!(
        conflict["detail"]
            .as_str()
            .unwrap()
            .contains("dup@example.org")
    );
    assert_eq!(app.count("users"), before);
}

async fn invalid_new_users_name_each_field_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let before = app.count("users");
    let good = new_user(&app, "valid@example.org", "monitor");
    let set = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let drop_key = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (set("email", json!("not-an-email")), "email"),
        (set("email", json!("")), "email"),
        (set("password", json!("short")), "password"),
        (set("name", json!("   ")), "name"),
        (set("name", json!("x".repeat(201))), "name"),
        (set("role", json!("superuser")), "role"),
        (set("role", json!(null)), "role"),
        (
            set("organisation_id", json!("not-a-uuid")),
            "organisation_id",
        ),
        (
            set("organisation_id", json!(uuid::Uuid::new_v4())),
            "organisation_id",
        ),
        (set("active", json!(true)), "active"),
        (set("password_hash", json!("$argon2id$…")), "password_hash"),
        (drop_key("email"), "email"),
        (drop_key("organisation_id"), "organisation_id"),
    ];
    for (body, field) in cases {
        let res = app.post("/api/v1/users", Some(&admin.token), &body).await;
        assert_eq!(
            res.status,
            422,
            "{body}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let problem = res.expect(422);
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(
                |e| e["field"] == field && e["message"].as_str().is_some_and(|m| !m.is_empty())
            ),
            "expected an error on {field} for {body}: {problem}"
        );
    }
    // Several bad fields are all reported at once.
    let mut many = set("email", json!("nope"));
    many["password"] = json!("short");
    let problem = app
        .post("/api/v1/users", Some(&admin.token), &many)
        .await
        .expect(422);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
    assert_eq!(app.count("users"), before);
}

/// Each admin route with a body that would succeed for an admin.
fn admin_routes(app: &TestApp, target: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/organisations".into(), None),
        (
            Method::POST,
            "/api/v1/organisations".into(),
            Some(json!({"name": "Sneaky Org", "kind": "ngo"})),
        ),
        (Method::GET, "/api/v1/users".into(), None),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(new_user(app, "sneaky@example.org", "admin")),
        ),
        (Method::GET, format!("/api/v1/users/{target}"), None),
        (
            Method::PATCH,
            format!("/api/v1/users/{target}"),
            Some(json!({"role": "admin"})),
        ),
    ]
}

async fn admin_routes_are_refused_to_every_other_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let target = app.seed_user(Role::Monitor);
    let (users, orgs) = (app.count("users"), app.count("organisations"));
    for role in [Role::Reviewer, Role::Analyst, Role::Monitor, Role::Partner] {
        let caller = app.seed_user(role);
        for (method, path, body) in admin_routes(&app, &target.id) {
            let res = app
                .request(method.clone(), &path, Some(&caller.token), body.as_ref())
                .await;
            let problem = res.expect(403);
            assert!(
                problem["detail"].as_str().unwrap().contains("admin"),
                "{role} {method} {path}"
            );
            // The target itself may try too: still no.
            let res = app
                .request(method.clone(), &path, Some(&target.token), body.as_ref())
                .await;
            res.expect(403);
        }
    }
    for (method, path, body) in admin_routes(&app, &target.id) {
        app.request(method, &path, None, body.as_ref())
            .await
            .expect(401);
    }
    assert_eq!(app.count("users"), users + 4);
    assert_eq!(app.count("organisations"), orgs);
    assert_eq!(
        app.count(&format!(
            "users WHERE id = '{}' AND role = 'monitor'",
            target.id
        )),
        1
    );

    // And the same routes work for an admin, so the refusals above are about the role.
    let admin = app.seed_user(Role::Admin);
    for (method, path, body) in admin_routes(&app, &target.id) {
        let res = app
            .request(method.clone(), &path, Some(&admin.token), body.as_ref())
            .await;
        assert!(res.status < 300, "admin {method} {path}: {}", res.status);
    }
}

async fn admins_cannot_lock_themselves_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let path = format!("/api/v1/users/{}", admin.id);
    let problem = app
        .patch(&path, Some(&admin.token), &json!({"active": false}))
        .await
        .expect(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("deactivate your own account")
    );
    let problem = app
        .patch(&path, Some(&admin.token), &json!({"role": "analyst"}))
        .await
        .expect(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("your own admin role")
    );
    assert_eq!(
        app.count(&format!(
            "users WHERE id = '{}' AND active AND role = 'admin'",
            admin.id
        )),
        1
    );
    // Another admin may.
    let other = app.seed_user(Role::Admin);
    app.patch(&path, Some(&other.token), &json!({"role": "analyst"}))
        .await
        .expect(200);
}

async fn unknown_users_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let missing = format!("/api/v1/users/{}", uuid::Uuid::new_v4());
    app.get(&missing, Some(&admin.token)).await.expect(404);
    app.patch(&missing, Some(&admin.token), &json!({"name": "Ghost"}))
        .await
        .expect(404);
    app.get("/api/v1/users/not-a-uuid", Some(&admin.token))
        .await
        .expect(404);
    app.get("/api/v1/users/1%20OR%201=1", Some(&admin.token))
        .await
        .expect(404);
}

async fn user_lists_filter_and_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let mut monitors = Vec::new();
    for _ in 0..5 {
        monitors.push(app.seed_user(Role::Monitor).id);
    }
    app.seed_user(Role::Partner);

    let mut seen = Vec::new();
    let mut path = "/api/v1/users?role=monitor&limit=2".to_owned();
    loop {
        let page = app.get(&path, Some(&admin.token)).await.expect(200);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        assert!(items.iter().all(|u| u["role"] == "monitor"));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/users?role=monitor&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, monitors, "every monitor once, oldest first");

    let all = app
        .get("/api/v1/users", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(all["items"].as_array().unwrap().len(), 7);
    assert!(all["next_cursor"].is_null());

    app.patch(
        &format!("/api/v1/users/{}", monitors[0]),
        Some(&admin.token),
        &json!({"active": false}),
    )
    .await
    .expect(200);
    let inactive = app
        .get("/api/v1/users?active=false", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(inactive["items"][0]["id"], monitors[0].as_str());
    assert_eq!(inactive["items"].as_array().unwrap().len(), 1);
    let by_org = app
        .get(
            &format!("/api/v1/users?organisation_id={}&role=partner", app.org_id),
            Some(&admin.token),
        )
        .await
        .expect(200);
    assert_eq!(by_org["items"].as_array().unwrap().len(), 1);

    for bad in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "cursor=forged",
        "role=king",
        "active=maybe",
        "organisation_id=x",
        "unknown=1",
    ] {
        app.get(&format!("/api/v1/users?{bad}"), Some(&admin.token))
            .await
            .expect(400);
    }
}

async fn a_role_change_applies_to_existing_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Monitor);
    let tokens = app.login(&user.email, PASSWORD).await.expect(200);
    let token = tokens["access_token"].as_str().unwrap();
    app.get("/api/v1/users", Some(token)).await.expect(403);
    app.patch(
        &format!("/api/v1/users/{}", user.id),
        Some(&admin.token),
        &json!({"role": "admin"}),
    )
    .await
    .expect(200);
    app.get("/api/v1/users", Some(token)).await.expect(200);
    assert_eq!(
        app.get("/api/v1/me", Some(token)).await.expect(200)["role"],
        "admin"
    );
}
