//! The audit log: written with each action, never when the action fails,
//! readable by admins only, and impossible to edit.

use awc::http::Method;
use basewatch::audit::chain::{self, ChainRow};
use basewatch::db::DbConnection;
use basewatch::domain::Role;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::json;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDatabase, spawn_app, url_string};
use crate::incidents::{self, world};

crate::scenarios![
    actions_are_audited_and_admins_read_them,
    failed_actions_leave_no_audit_row,
    the_audit_log_cannot_be_changed,
    the_incident_history_cannot_be_changed,
    anonymous_refusals_collapse_per_address_and_minute,
    signed_in_refusals_stay_attributable_and_bounded,
    audit_verify_names_the_first_tampered_row,
    concurrent_writers_keep_the_chain_intact,
    bulk_loads_are_chained,
    rows_from_before_the_chain_are_reported_unchained,
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
        json!({"method": "GET", "route": "/api/v1/users", "path": "/api/v1/users", "path_length": 13, "status": 403})
    );
    assert_eq!(items[0]["details"]["refusals"], 1);
    assert_eq!(items[0]["details"]["route"], "/api/v1/me");
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
    // Not even through SQL: UPDATE, DELETE and (PostgreSQL) TRUNCATE are refused.
    let mut statements = vec![
        "UPDATE audit_log SET action = 'nothing'",
        "DELETE FROM audit_log",
    ];
    if backend == Backend::Postgres {
        statements.push("TRUNCATE audit_log");
        statements.push("TRUNCATE audit_log CASCADE");
    }
    for statement in statements {
        let error = sql_error(&app, statement);
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    // Nor may a row be written around the chain.
    let error = sql_error(
        &app,
        "INSERT INTO audit_log (id, at, action, details) VALUES ('x', '2026-01-01 00:00:00', 'forged', '{}')",
    );
    assert!(error.contains("chained"), "{error}");
    assert_eq!(
        app.count("audit_log WHERE action = 'organisation.created'"),
        1
    );
}

/// Runs one statement that must fail, and returns its error.
fn sql_error(app: &TestApp, statement: &str) -> String {
    let mut conn = app.pool.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    match diesel::sql_query(statement).execute(conn) {
        Ok(n) => panic!("{statement} succeeded ({n} rows)"),
        Err(e) => e.to_string(),
    }
}

fn sql(app: &TestApp, statement: &str) -> usize {
    let mut conn = app.pool.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    diesel::sql_query(statement)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{statement}: {e}"))
}

async fn the_incident_history_cannot_be_changed(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let created = incidents::create(&w.app, &monitor, &incidents::report(&w.mission))
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap();
    let history = format!("incident_events WHERE incident_id = '{id}'");
    assert_eq!(w.app.count(&history), 1);

    let mut statements = vec![
        format!("UPDATE incident_events SET kind = 'forged' WHERE incident_id = '{id}'"),
        format!("UPDATE incident_events SET at = '2000-01-01 00:00:00' WHERE incident_id = '{id}'"),
        format!("UPDATE incident_events SET to_status = NULL WHERE incident_id = '{id}'"),
        format!("DELETE FROM incident_events WHERE incident_id = '{id}'"),
        "DELETE FROM incident_events".to_owned(),
        // Deleting the incident would cascade to its history.
        format!("DELETE FROM incidents WHERE id = '{id}'"),
    ];
    // SQLite's `UPDATE OF` looks at the columns named, PostgreSQL's trigger at
    // their values: setting one to itself is refused on SQLite only.
    let same_actor = format!(
        "UPDATE incident_events SET actor_id = actor_id, comment = 'x' WHERE incident_id = '{id}'"
    );
    match backend {
        Backend::Sqlite => statements.push(same_actor),
        Backend::Postgres => {
            statements.push("TRUNCATE incident_events".to_owned());
            statements.push("TRUNCATE incidents CASCADE".to_owned());
            assert_eq!(sql(&w.app, &same_actor), 1);
        }
    }
    for statement in &statements {
        let error = sql_error(&w.app, statement);
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    assert_eq!(w.app.count(&history), 1);
    assert_eq!(
        w.app.count(&format!(
            "{history} AND kind <> 'forged' AND to_status IS NOT NULL"
        )),
        1
    );
    assert_eq!(w.app.count(&format!("incidents WHERE id = '{id}'")), 1);

    // Re-sealing a comment under a new key rewrites only the comment: allowed.
    let changed = sql(
        &w.app,
        &format!("UPDATE incident_events SET comment = 'resealed' WHERE incident_id = '{id}'"),
    );
    assert_eq!(changed, 1);
    assert_eq!(
        w.app.count(&format!("{history} AND comment = 'resealed'")),
        1
    );
    // And the history reads as before through the API.
    let read = w
        .app
        .get(
            &format!("/api/v1/incidents/{id}/history"),
            Some(&monitor.token),
        )
        .await;
    assert_eq!(read.status, 200);
}

async fn anonymous_refusals_collapse_per_address_and_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let before = app.count("audit_log");

    // The red team's probe: 150 requests with a 65,000-character path.
    let huge = format!("/api/v1/incidents/{}", "a".repeat(65_000));
    let mut answers = Vec::new();
    for _ in 0..15 {
        answers.extend(join_all((0..10).map(|_| app.get(&huge, None))).await);
    }
    assert_eq!(answers.len(), 150);
    for answer in &answers {
        answer.expect(414);
    }
    assert_eq!(
        app.count("audit_log"),
        before,
        "refused before anything is read"
    );

    // Long but servable paths, refused for want of a token.
    let long = format!("/api/v1/incidents/{}", "b".repeat(7_000));
    let mut statuses = Vec::new();
    for chunk in 0..5 {
        let answers = join_all((0..30).map(|i| {
            let path = if (chunk + i) % 2 == 0 {
                long.clone()
            } else {
                "/api/v1/me".to_owned()
            };
            let app = &app;
            async move { app.get(&path, None).await }
        }))
        .await;
        statuses.extend(answers.iter().map(|a| a.status));
    }
    assert_eq!(statuses.len(), 150);
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // Each refusal seals the minutes before its own: one tally is pending, holding
    // every refusal unless the run straddled a minute.
    let pending = app.count("audit_refusal_tally");
    let sealed = app.count("audit_log WHERE action = 'request.refused'");
    assert_eq!(pending, 1, "sealed meanwhile: {sealed}");
    if sealed == 0 {
        assert_eq!(
            app.count("audit_refusal_tally WHERE refusals = 150 AND address = '127.0.0.1'"),
            1
        );
    }

    // An admin reading the log seals the tallies: one row per address and minute
    // (two when the run straddled a minute), with the count.
    let log = app
        .get("/api/v1/audit?action=request.refused", Some(&admin.token))
        .await
        .expect(200);
    let rows = log["items"].as_array().unwrap();
    assert!((1..=2).contains(&rows.len()), "{rows:?}");
    assert_eq!(rows.len() as i64, pending + sealed, "{rows:?}");
    assert_eq!(app.count("audit_refusal_tally"), 0);
    let total: i64 = rows
        .iter()
        .map(|r| r["details"]["refusals"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 150);
    for row in rows {
        assert_eq!(row["actor_id"], json!(null));
        let d = &row["details"];
        assert_eq!(d["address"], "127.0.0.1");
        assert_eq!(d["status"], 401);
        assert_eq!(d["method"], "GET");
        assert!(d["minute"].as_str().unwrap().ends_with(":00Z"), "{d}");
        assert!(row["request_id"].is_string());
        let path = d["path"].as_str().unwrap();
        assert!(path.len() <= 256, "{path}");
        match d["route"].as_str().unwrap() {
            "/api/v1/incidents/{id}" => {
                assert_eq!(d["path_length"], long.len());
                assert!(long.starts_with(path));
            }
            "/api/v1/me" => assert_eq!(d["path"], "/api/v1/me"),
            other => panic!("route {other}"),
        }
        assert!(row.to_string().len() < 1_000, "{row}");
    }
    assert_eq!(app.count("audit_log"), before + rows.len() as i64);

    // A path that matches no route is named by a marker, not by its text.
    let unknown = format!("/api/v1/{}", "c".repeat(5_000));
    let answer = app.get(&unknown, None).await;
    assert_eq!(answer.status, 404, "not a refusal");

    // Reading again seals nothing new, and the chain holds.
    let again = app
        .get("/api/v1/audit?action=request.refused", Some(&admin.token))
        .await
        .expect(200);
    assert_eq!(again["items"].as_array().unwrap().len(), rows.len());
    let verified = verify(&app, &[]);
    assert!(verified.status.success(), "{}", verified.stderr);

    // A tally of a past minute is sealed by the next refusal, whoever sends it.
    sql(
        &app,
        "INSERT INTO audit_refusal_tally (address, minute, refusals, first_id, first_at, method, route, path, path_length, status) \
         VALUES ('192.0.2.7', '2026-01-01 10:00:00', 7, '00000000-0000-7000-8000-000000000007', '2026-01-01 10:00:01', 'GET', '/api/v1/me', '/api/v1/me', 10, 401)",
    );
    app.get("/api/v1/me", None).await.expect(401);
    assert_eq!(
        app.count("audit_log WHERE details LIKE '%\"first_id\":\"00000000-0000-7000-8000-000000000007\"%' AND details LIKE '%\"refusals\":7%' AND action = 'request.refused'"),
        1
    );
    assert_eq!(
        app.count("audit_refusal_tally WHERE address = '192.0.2.7'"),
        0
    );
    assert_eq!(
        app.count("audit_refusal_tally WHERE address = '127.0.0.1' AND refusals = 1"),
        1
    );
}

async fn signed_in_refusals_stay_attributable_and_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let monitor = app.seed_user(Role::Monitor);
    let long = format!("/api/v1/users/{}", "d".repeat(6_000));
    for _ in 0..3 {
        app.get(&long, Some(&monitor.token)).await.expect(403);
    }
    app.get("/api/v1/audit", Some(&monitor.token))
        .await
        .expect(403);
    let log = app
        .get(
            &format!(
                "/api/v1/audit?action=request.refused&actor_id={}",
                monitor.id
            ),
            Some(&admin.token),
        )
        .await
        .expect(200);
    let rows = log["items"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "one row per refusal of a signed-in user");
    assert_eq!(rows[0]["details"]["route"], "/api/v1/audit");
    for row in &rows[1..] {
        let d = &row["details"];
        assert_eq!(d["route"], "/api/v1/users/{id}");
        assert_eq!(d["status"], 403);
        assert_eq!(d["path_length"], long.len());
        assert_eq!(d["path"].as_str().unwrap(), &long[..256]);
        assert!(row.to_string().len() < 1_000, "{row}");
    }
}

/// `basewatch audit verify` on the app's database (or another).
pub(crate) struct Verified {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn verify_url(url: &str, args: &[&str]) -> Verified {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .args(["audit", "verify"])
        .args(args)
        .output()
        .unwrap();
    Verified {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn verify(app: &TestApp, args: &[&str]) -> Verified {
    verify_url(&url_string(&app.database_url), args)
}

/// A copy of the app's audit log in a database of its own, with the
/// protections removed, as someone holding a copy of the file (or a
/// PostgreSQL superuser) would have it; `tamper` then changes it.
pub(crate) fn tampered_copy(
    app: &TestApp,
    backend: Backend,
    tamper: &[String],
) -> (TestDatabase, Verified) {
    use basewatch::db::schema::audit_log as a;
    let rows: Vec<ChainRow> = app.db(|conn| {
        a::table
            .order(a::seq.asc())
            .select(ChainRow::as_select())
            .load(conn)
    });
    assert!(rows.len() >= 5, "{} rows", rows.len());
    let copy = TestDatabase::create(backend);
    let mut conn = copy.url.connect().unwrap();
    basewatch::db::migrations::run_pending(&mut conn).unwrap();
    for r in &rows {
        diesel::insert_into(a::table)
            .values((
                a::id.eq(&r.id),
                a::at.eq(r.at),
                a::actor_id.eq(&r.actor_id),
                a::action.eq(&r.action),
                a::entity_type.eq(&r.entity_type),
                a::entity_id.eq(&r.entity_id),
                a::details.eq(&r.details),
                a::request_id.eq(&r.request_id),
                a::seq.eq(r.seq),
                a::prev_hash.eq(&r.prev_hash),
                a::hash.eq(&r.hash),
            ))
            .execute(&mut conn)
            .unwrap();
    }
    let unprotect = match backend {
        Backend::Sqlite => {
            "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; \
             DROP TRIGGER audit_log_chained; DROP INDEX audit_log_seq_key;"
        }
        Backend::Postgres => {
            "ALTER TABLE audit_log DISABLE TRIGGER ALL; \
             ALTER TABLE audit_log DROP CONSTRAINT audit_log_chained; \
             DROP INDEX audit_log_seq_key;"
        }
    };
    conn.batch_execute(unprotect).unwrap();
    for statement in tamper {
        let changed = diesel::sql_query(statement)
            .execute(&mut conn)
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
        assert!(changed > 0, "{statement} changed nothing");
    }
    drop(conn);
    let verified = verify_url(&url_string(&copy.url), &[]);
    (copy, verified)
}

#[track_caller]
pub(crate) fn assert_names(verified: &Verified, expected: &str) {
    assert!(!verified.status.success(), "{}", verified.stdout);
    assert!(
        verified.stderr.contains(expected),
        "expected {expected:?} in: {}",
        verified.stderr
    );
}

async fn audit_verify_names_the_first_tampered_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    for name in ["One", "Two", "Three", "Four", "Five", "Six"] {
        app.post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": format!("{name} NGO"), "kind": "ngo"}),
        )
        .await
        .expect(201);
    }
    let rows: Vec<(i64, String, String)> = app.db(|conn| {
        use basewatch::db::schema::audit_log as a;
        a::table
            .order(a::seq.asc())
            .select((a::seq.assume_not_null(), a::id, a::hash.assume_not_null()))
            .load(conn)
    });
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );

    let intact = verify(&app, &[]);
    assert!(intact.status.success(), "{}", intact.stderr);
    assert!(
        intact
            .stdout
            .contains("audit log intact: 6 chained rows, 0 unchained"),
        "{}",
        intact.stdout
    );
    let anchor = format!("6:{}", rows[5].2);
    assert!(
        intact.stdout.contains(&format!("head: {anchor}")),
        "{}",
        intact.stdout
    );
    let anchored = verify(&app, &["--anchor", &anchor]);
    assert!(anchored.status.success(), "{}", anchored.stderr);
    let wrong_anchor = format!("6:{}", rows[4].2);
    assert_names(
        &verify(&app, &["--anchor", &wrong_anchor]),
        "row seq 6 hashes to",
    );
    let bad = verify(&app, &["--anchor", "six"]);
    assert!(!bad.status.success());

    // A row's details altered.
    let (_copy, altered) = tampered_copy(
        &app,
        backend,
        &[r#"UPDATE audit_log SET details = '{"name":"Nobody"}' WHERE seq = 3"#.to_owned()],
    );
    assert_names(
        &altered,
        &format!("row seq 3 (id {}) was altered", rows[2].1),
    );

    // A row removed.
    let (_copy, removed) = tampered_copy(
        &app,
        backend,
        &["DELETE FROM audit_log WHERE seq = 4".to_owned()],
    );
    assert_names(
        &removed,
        &format!(
            "row seq 4 is missing (just before row seq 5, id {})",
            rows[4].1
        ),
    );
    // ... even with the places renumbered to hide the gap.
    let (_copy, renumbered) = tampered_copy(
        &app,
        backend,
        &[
            "DELETE FROM audit_log WHERE seq = 4".to_owned(),
            "UPDATE audit_log SET seq = seq - 1 WHERE seq > 4".to_owned(),
        ],
    );
    assert_names(
        &renumbered,
        &format!(
            "row seq 4 is missing (just before row seq 4, id {})",
            rows[4].1
        )
        .replace("row seq 4 is missing", "rows seq 4 to 3 are missing"),
    );

    // A row inserted by someone who knows the algorithm: its own hash and its
    // link are right, but the row after it follows the row before it.
    let forged_id = uuid::Uuid::now_v7().to_string();
    let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let details = r#"{"name":"Forged NGO"}"#;
    let forged_hash = chain::hash(
        &rows[1].2,
        &chain::Content {
            id: &forged_id,
            at,
            actor_id: None,
            action: "organisation.created",
            entity_type: None,
            entity_id: None,
            details,
            request_id: None,
        },
    );
    let (_copy, inserted) = tampered_copy(
        &app,
        backend,
        &[
            "UPDATE audit_log SET seq = -seq WHERE seq > 2".to_owned(),
            "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0".to_owned(),
            format!(
                "INSERT INTO audit_log (id, at, action, details, seq, prev_hash, hash) VALUES \
                 ('{forged_id}', '2026-01-01 00:00:00', 'organisation.created', '{details}', 3, '{}', '{forged_hash}')",
                rows[1].2
            ),
        ],
    );
    assert_names(
        &inserted,
        &format!("row seq 3 (id {forged_id}) was inserted"),
    );

    // A row slipped in without chain columns, as if written before the chain.
    let (_copy, unchained) = tampered_copy(
        &app,
        backend,
        &[format!(
            "INSERT INTO audit_log (id, at, action, details) VALUES \
             ('{forged_id}', '2026-01-01 00:00:00', 'organisation.created', '{{}}')"
        )],
    );
    assert_names(&unchained, &format!("row id {forged_id} was inserted"));

    // ... or one dated before the chain: the chain's first link no longer holds.
    let (_copy, before_chain) = tampered_copy(
        &app,
        backend,
        &["INSERT INTO audit_log (id, at, action, details) VALUES \
           ('00000000-0000-7000-8000-000000000001', '2020-01-01 00:00:00', 'organisation.created', '{}')"
            .to_owned()],
    );
    assert_names(
        &before_chain,
        &format!(
            "the 1 unchained rows written before the chain are not those the chain began after (its first row is id {})",
            rows[0].1
        ),
    );

    // Rows cut from the end: only an anchor kept elsewhere shows it.
    let (copy, cut) = tampered_copy(
        &app,
        backend,
        &["DELETE FROM audit_log WHERE seq >= 5".to_owned()],
    );
    assert!(
        cut.status.success(),
        "without an anchor the shorter chain is intact"
    );
    let against_anchor = verify_url(&url_string(&copy.url), &["--anchor", &anchor]);
    assert_names(&against_anchor, "the anchored row seq 6 is missing");
}

async fn concurrent_writers_keep_the_chain_intact(backend: Backend) {
    let w = world(backend).await;
    let monitors: Vec<_> = (0..4).map(|_| w.app.seed_user(Role::Monitor)).collect();
    let before = w.app.count("audit_log");
    let answers = join_all((0..20).map(|i| {
        let monitor = &monitors[i % monitors.len()];
        let body = incidents::report(&w.mission);
        let app = &w.app;
        async move { incidents::create(app, monitor, &body).await }
    }))
    .await;
    assert_eq!(answers.len(), 20);
    for answer in &answers {
        answer.expect(201);
    }
    // Refusals and reads in parallel too.
    let refusals =
        join_all((0..10).map(|_| w.app.get("/api/v1/audit", Some(&monitors[0].token)))).await;
    assert!(refusals.iter().all(|r| r.status == 403));
    let chained = w.app.count("audit_log") - before;
    assert_eq!(chained, 30);
    let verified = verify(&w.app, &[]);
    assert!(verified.status.success(), "{}", verified.stderr);
    let total = w.app.count("audit_log");
    assert!(
        verified
            .stdout
            .contains(&format!("audit log intact: {total} chained rows")),
        "{}",
        verified.stdout
    );
    assert_eq!(w.app.count("audit_log WHERE seq IS NULL"), 0);
    assert_eq!(
        w.app.count("audit_log a WHERE seq > 1 AND NOT EXISTS (SELECT 1 FROM audit_log b WHERE b.seq = a.seq - 1 AND b.hash = a.prev_hash)"),
        0
    );
}

/// Runs the futures concurrently on this task and returns their outputs in order.
pub(crate) async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

async fn bulk_loads_are_chained(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": "Before the load", "kind": "ngo"}),
    )
    .await
    .expect(201);
    let data_dir = std::env::temp_dir().join(format!("bw-chain-{}", uuid::Uuid::new_v4()));
    // Three transactions (on PostgreSQL by two writers at once), each with its row.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
        .env("DATABASE_URL", url_string(&app.database_url))
        .env("RUST_LOG", "warn")
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("BASEWATCH_DATA_KEY", &app.data_key_hex)
        .args(["seed-synthetic", "--incidents", "250", "--batch", "100"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.count("incidents WHERE synthetic"), 250);
    let seeded: Vec<String> = app.db(|conn| {
        use basewatch::db::schema::audit_log as a;
        a::table
            .filter(a::action.eq("incidents.seeded"))
            .order(a::seq.asc())
            .select(a::details)
            .load(conn)
    });
    assert_eq!(seeded.len(), 3);
    let mut counts: Vec<i64> = seeded
        .iter()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["incidents"]
                .as_i64()
                .unwrap()
        })
        .collect();
    counts.sort();
    assert_eq!(counts, [50, 100, 100]);
    let verified = verify(&app, &[]);
    assert!(verified.status.success(), "{}", verified.stderr);
    assert!(
        verified.stdout.contains("audit log intact: 4 chained rows"),
        "{}",
        verified.stdout
    );
}

async fn rows_from_before_the_chain_are_reported_unchained(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.count("audit_log"), 0);
    // Rows as an older version wrote them, before the chain's migration.
    let (lift, restore) = match backend {
        Backend::Sqlite => (
            "DROP TRIGGER audit_log_chained",
            "CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log \
             WHEN NEW.seq IS NULL OR NEW.prev_hash IS NULL OR NEW.hash IS NULL \
             BEGIN SELECT RAISE(ABORT, 'audit rows are chained'); END",
        ),
        Backend::Postgres => (
            "ALTER TABLE audit_log DROP CONSTRAINT audit_log_chained",
            "ALTER TABLE audit_log ADD CONSTRAINT audit_log_chained \
             CHECK (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL) NOT VALID",
        ),
    };
    sql(&app, lift);
    for n in 1..=2 {
        sql(
            &app,
            &format!(
                "INSERT INTO audit_log (id, at, action, details) VALUES \
                 ('00000000-0000-7000-8000-00000000000{n}', '2025-01-01 00:00:00', 'user.created', '{{}}')"
            ),
        );
    }
    sql(&app, restore);
    let admin = app.seed_user(Role::Admin);
    for name in ["North", "South"] {
        app.post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": format!("{name} NGO"), "kind": "ngo"}),
        )
        .await
        .expect(201);
    }
    let verified = verify(&app, &[]);
    assert!(verified.status.success(), "{}", verified.stderr);
    assert!(
        verified
            .stdout
            .contains("audit log intact: 2 chained rows, 2 unchained rows from before the chain"),
        "{}",
        verified.stdout
    );
    // Removing one of them shows, although it was never chained.
    sql(
        &app,
        match backend {
            Backend::Sqlite => "DROP TRIGGER audit_log_no_delete",
            Backend::Postgres => "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change",
        },
    );
    sql(
        &app,
        "DELETE FROM audit_log WHERE id = '00000000-0000-7000-8000-000000000001'",
    );
    assert_names(
        &verify(&app, &[]),
        "the 1 unchained rows written before the chain",
    );
}
