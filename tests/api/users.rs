//! /api/v1/users: admins manage accounts; every other role is refused.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, spawn_app};

crate::scenarios![
    admin_creates_reads_and_updates_a_user,
    emails_are_unique_regardless_of_case,
    invalid_new_users_name_each_field_and_store_nothing,
    admin_routes_are_refused_to_every_other_role,
    admins_cannot_lock_themselves_out,
    unknown_users_are_404,
    user_lists_filter_and_page,
    a_role_change_applies_to_existing_tokens,
    admin_accounts_belong_only_to_oversight_offices,
    guessable_passwords_are_refused_on_create_and_reset,
    the_cli_refuses_guessable_passwords_and_misplaced_admins,
    the_migration_refuses_existing_admins_outside_oversight_offices,
    serve_demo_is_refused_in_production,
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
    let at = |user: &Value| {
        chrono::DateTime::parse_from_rfc3339(user["updated_at"].as_str().unwrap()).unwrap()
    };
    assert!(at(&updated) > at(&created), "{updated} after {created}");
    assert_eq!(updated["created_at"], created["created_at"]);
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

async fn organisation(app: &TestApp, admin: &TestUser, name: &str, kind: &str) -> String {
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": name, "kind": kind}),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[track_caller]
fn assert_refused_field(body: &Value, field: &str, words: &str) {
    assert_eq!(body["errors"][0]["field"], field, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(words),
        "{body}"
    );
}

async fn admin_accounts_belong_only_to_oversight_offices(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let ngo = organisation(&app, &admin, "Partner NGO", "ngo").await;
    let other = organisation(&app, &admin, "Some Other Body", "other").await;
    let users_before = app.count("users");

    // Reviewers and analysts read every organisation's incidents exactly: an
    // NGO holding one would bypass the partner release.
    for role in ["admin", "reviewer", "analyst"] {
        for org in [&ngo, &other] {
            let mut body = new_user(&app, &format!("new.{role}@example.org"), role);
            body["organisation_id"] = json!(org);
            let res = app
                .post("/api/v1/users", Some(&admin.token), &body)
                .await
                .expect(422);
            assert_refused_field(
                &res,
                "role",
                &format!("{role} accounts belong only to oversight offices"),
            );
        }
    }
    assert_eq!(app.count("users"), users_before);
    // Monitors and partners may belong anywhere.
    for role in ["monitor", "partner"] {
        let mut body = new_user(&app, &format!("new.{role}@example.org"), role);
        body["organisation_id"] = json!(ngo);
        app.post("/api/v1/users", Some(&admin.token), &body)
            .await
            .expect(201);
    }

    // A partner of the NGO cannot be promoted to admin, reviewer or analyst there.
    let partner = app.seed_user_in(Role::Partner, &ngo);
    for role in ["admin", "reviewer", "analyst"] {
        let res = app
            .patch(
                &format!("/api/v1/users/{}", partner.id),
                Some(&admin.token),
                &json!({ "role": role }),
            )
            .await
            .expect(422);
        assert_refused_field(&res, "role", "of kind ngo");
    }
    // An admin of the office cannot be moved to the NGO as an admin.
    let colleague = app.seed_user(Role::Admin);
    let res = app
        .patch(
            &format!("/api/v1/users/{}", colleague.id),
            Some(&admin.token),
            &json!({"organisation_id": ngo}),
        )
        .await
        .expect(422);
    assert_refused_field(&res, "role", "of kind ngo");
    assert_eq!(
        app.count(&format!(
            "users WHERE (id = '{}' AND role = 'partner') OR (id = '{}' AND organisation_id = '{}')",
            partner.id, colleague.id, app.org_id
        )),
        2,
        "refused changes change nothing"
    );
    // Moved together with a role a partner organisation may hold, it is fine.
    let moved = app
        .patch(
            &format!("/api/v1/users/{}", colleague.id),
            Some(&admin.token),
            &json!({"organisation_id": ngo, "role": "partner"}),
        )
        .await
        .expect(200);
    assert_eq!(
        (moved["role"].as_str(), moved["organisation"]["id"].as_str()),
        (Some("partner"), Some(ngo.as_str()))
    );
    // And an admin in an oversight office is created as before.
    app.post(
        "/api/v1/users",
        Some(&admin.token),
        &new_user(&app, "office.admin@example.org", "admin"),
    )
    .await
    .expect(201);
    // No admin outside an oversight office exists.
    assert_eq!(
        app.count(
            "users u JOIN organisations o ON o.id = u.organisation_id \
             WHERE u.role = 'admin' AND o.kind <> 'oversight_office'"
        ),
        0
    );
}

async fn guessable_passwords_are_refused_on_create_and_reset(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let users_before = app.count("users");
    for password in [
        "password1234",
        "qwertyuiop123",
        "ana.field@example.org",
        "anafield1234",
        "AnaField2024!",
        "111111111111",
    ] {
        let mut body = new_user(&app, "ana.field@example.org", "monitor");
        body["password"] = json!(password);
        let res = app
            .post("/api/v1/users", Some(&admin.token), &body)
            .await
            .expect(422);
        assert_refused_field(&res, "password", "is too easy to guess");
    }
    assert_eq!(app.count("users"), users_before);

    let user = app.seed_user(Role::Monitor);
    let session = app.login(&user.email, PASSWORD).await.expect(200);
    for password in ["password1234", user.email.as_str()] {
        let res = app
            .patch(
                &format!("/api/v1/users/{}", user.id),
                Some(&admin.token),
                &json!({"password": password}),
            )
            .await
            .expect(422);
        assert_refused_field(&res, "password", "is too easy to guess");
    }
    // Refused resets end nothing.
    app.get("/api/v1/me", session["access_token"].as_str())
        .await
        .expect(200);
    app.login(&user.email, PASSWORD).await.expect(200);
    // A reset of an unknown user is a 404 before its password is judged.
    app.patch(
        &format!("/api/v1/users/{}", uuid::Uuid::now_v7()),
        Some(&admin.token),
        &json!({"password": "password1234"}),
    )
    .await
    .expect(404);
}

fn basewatch_cli(app: &TestApp) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"));
    cmd.env(
        "DATABASE_URL",
        crate::helpers::url_string(&app.database_url),
    )
    .env("RUST_LOG", "warn")
    .env_remove("BASEWATCH_ENV");
    cmd
}

pub(crate) fn create_with_cli(
    app: &TestApp,
    args: &[&str],
    password: &str,
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = basewatch_cli(app)
        .args(["user", "create", "--name", "Cli Person"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The command may refuse before it reads the password (a misplaced admin):
    // then the pipe is closed, and its output says why.
    let written = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

async fn the_cli_refuses_guessable_passwords_and_misplaced_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    organisation(&app, &admin, "Existing NGO", "ngo").await;
    let (users, orgs) = (app.count("users"), app.count("organisations"));
    let refusals = [
        (
            vec![
                "--email",
                "a1@example.org",
                "--role",
                "admin",
                "--org",
                "New NGO",
                "--org-kind",
                "ngo",
            ],
            PASSWORD,
            "admin accounts belong only to oversight offices",
        ),
        (
            vec![
                "--email",
                "a2@example.org",
                "--role",
                "admin",
                "--org",
                "Existing NGO",
            ],
            PASSWORD,
            "admin accounts belong only to oversight offices",
        ),
        (
            vec![
                "--email",
                "a3@example.org",
                "--role",
                "monitor",
                "--org",
                "Test Oversight Office",
            ],
            "password1234",
            "is too easy to guess",
        ),
    ];
    for (args, password, words) in refusals {
        let out = create_with_cli(&app, &args, password);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
    assert_eq!(
        (app.count("users"), app.count("organisations")),
        (users, orgs)
    );

    // An admin's new organisation is an oversight office unless told otherwise.
    let out = create_with_cli(
        &app,
        &[
            "--email",
            "a4@example.org",
            "--role",
            "admin",
            "--org",
            "Second Office",
        ],
        PASSWORD,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.count("organisations WHERE name = 'Second Office' AND kind = 'oversight_office'"),
        1
    );
}

async fn serve_demo_is_refused_in_production(backend: Backend) {
    let app = spawn_app(backend).await;
    let users = app.count("users");
    let data_dir = std::env::temp_dir().join(format!("bw-prod-{}", uuid::Uuid::new_v4()));
    let mut child = basewatch_cli(&app)
        .args(["serve", "--demo"])
        .env("BASEWATCH_ENV", "production")
        .env("BASEWATCH_BIND", "127.0.0.1:0")
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("BASEWATCH_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("BASEWATCH_DATA_KEY", &app.data_key_hex)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("serve --demo kept running in production");
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("serve --demo seeds accounts whose passwords are published")
            && stderr.contains("BASEWATCH_ENV=production"),
        "{stderr}"
    );
    assert_eq!(app.count("users"), users, "no demo account was seeded");
    assert_eq!(
        app.count("users WHERE email LIKE '%@demo.basewatch.org'"),
        0
    );
    let _ = std::fs::remove_dir_all(data_dir);
}

const RULE_MIGRATION: &str = "2026-11-29-000004_token_revocation";

async fn the_migration_refuses_existing_admins_outside_oversight_offices(backend: Backend) {
    use diesel::connection::SimpleConnection;
    let db = crate::helpers::TestDatabase::create(backend);
    let mut conn = db.url.connect().unwrap();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend.name());
    let mut earlier: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.as_str() < RULE_MIGRATION)
        .collect();
    earlier.sort();
    assert!(earlier.len() >= 4, "{earlier:?}");
    for name in &earlier {
        let sql = std::fs::read_to_string(folder.join(name).join("up.sql")).unwrap();
        conn.batch_execute(&sql).unwrap();
    }
    // Data from before the rule: an admin in an NGO.
    conn.batch_execute(
        "INSERT INTO organisations (id, name, kind, created_at) VALUES \
           ('00000000-0000-7000-8000-000000000001', 'Old NGO', 'ngo', '2026-01-01 00:00:00'); \
         INSERT INTO users (id, organisation_id, email, name, role, password_hash, active, \
                            password_changed_at, created_at, updated_at) VALUES \
           ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000001', \
            'old.admin@example.org', 'Old Admin', 'admin', 'x', TRUE, \
            '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-01 00:00:00');",
    )
    .unwrap();
    let rule = std::fs::read_to_string(folder.join(RULE_MIGRATION).join("up.sql")).unwrap();
    let refused = format!("{}", conn.batch_execute(&rule).unwrap_err());
    assert!(
        refused.contains("admin, reviewer and analyst accounts belong only to oversight offices")
            || refused.contains("admin_accounts_belong_only_to_oversight_offices"),
        "{refused}"
    );
    // Once the account has another role, the migration applies.
    if backend == Backend::Sqlite {
        // SQLite applied the statements before the failing one: start from a clean copy.
        conn.batch_execute(
            "ALTER TABLE users DROP COLUMN token_generation; \
             ALTER TABLE login_failures DROP COLUMN in_flight; \
             DROP TABLE IF EXISTS temp.admins_outside_oversight_offices;",
        )
        .unwrap();
    }
    conn.batch_execute("UPDATE users SET role = 'partner' WHERE email = 'old.admin@example.org'")
        .unwrap();
    conn.batch_execute(&rule).unwrap();
}
