//! Hardening: the sign-in throttle, narratives sealed at rest and key rotation,
//! security headers and CORS, body limits.

use basewatch::crypto::DataKeys;
use basewatch::db::{DatabaseUrl, DbConnection};
use basewatch::domain::Role;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{self, Backend, CORS_ORIGIN, PASSWORD, TestApp, spawn_app, spawn_app_with};
use crate::incidents::{create, report, world};

crate::scenarios![
    failed_sign_ins_lock_an_account_out_with_retry_after,
    failed_sign_ins_from_one_address_lock_it_out,
    narratives_are_sealed_at_rest,
    data_keys_rotate_while_instances_serve,
    security_headers_on_every_answer,
    cors_answers_only_the_configured_origins,
    without_configured_origins_no_origin_gets_cors,
    a_stalled_request_head_is_answered_408_and_closed,
    deeply_nested_json_is_refused,
    tokens_are_not_interchangeable,
];

fn audit_count(app: &TestApp, action: &str) -> i64 {
    app.count(&format!("audit_log WHERE action = '{action}'"))
}

async fn failed_sign_ins_lock_an_account_out_with_retry_after(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Monitor);
    let other = app.seed_user(Role::Monitor);

    // Four failures, then a success: the account's counter starts again.
    for _ in 0..4 {
        app.login(&user.email, "wrong password!").await.expect(401);
    }
    app.login(&user.email, PASSWORD).await.expect(200);
    assert_eq!(app.count("login_failures"), 0);

    // Five failures within the window lock the account, even for the right password.
    for _ in 0..5 {
        app.login(&user.email, "wrong password!").await.expect(401);
    }
    for password in ["wrong password!", PASSWORD] {
        // The address of the email is matched as typed, in any case.
        let res = app.login(&user.email.to_uppercase(), password).await;
        let body = res.expect(429);
        let wait: u64 = res
            .header("retry-after")
            .expect("Retry-After is sent")
            .parse()
            .expect("Retry-After is whole seconds");
        assert!((1..=900).contains(&wait), "{wait}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("try again in {wait} seconds")),
            "{body}"
        );
    }
    // Refused attempts are not counted again; they are audited as refusals,
    // tallied per address and minute (an admin's read seals the tally first).
    assert_eq!(app.count("login_failures"), 5);
    let audited = app
        .get(
            "/api/v1/audit?action=request.refused",
            Some(&app.seed_user(Role::Admin).token),
        )
        .await
        .expect(200);
    // One row a minute: two when the attempts straddled a minute's end.
    let items = audited["items"].as_array().unwrap();
    assert!((1..=2).contains(&items.len()), "{audited}");
    let mut refusals = 0;
    for item in items {
        let details = &item["details"];
        assert_eq!(details["status"], 429, "{details}");
        assert_eq!(details["route"], "/api/v1/auth/login", "{details}");
        assert_eq!(details["address"], "127.0.0.1", "{details}");
        refusals += details["refusals"].as_i64().unwrap();
    }
    assert_eq!(refusals, 2, "{audited}");
    assert_eq!(audit_count(&app, "auth.login_throttled"), 0);

    // Another account from the same address is not affected.
    app.login(&other.email, PASSWORD).await.expect(200);

    // An unknown email is throttled the same way: a 429 says nothing about accounts.
    for _ in 0..5 {
        app.login("nobody@example.org", "wrong password!")
            .await
            .expect(401);
    }
    app.login("nobody@example.org", "wrong password!")
        .await
        .expect(429);
}

async fn failed_sign_ins_from_one_address_lock_it_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Reviewer);
    // Twenty failures spread over accounts (credential stuffing): below each
    // account's limit, at the address's.
    for i in 0..20 {
        app.login(&format!("guess-{}@example.org", i % 10), "wrong password!")
            .await
            .expect(401);
    }
    let res = app.login(&user.email, PASSWORD).await;
    res.expect(429);
    assert!(res.header("retry-after").is_some());
    // However long a locked-out client goes on, its refusals are one tally per
    // minute, not a row each.
    for _ in 0..50 {
        app.login(&user.email, PASSWORD).await.expect(429);
    }
    let audited = app
        .get(
            "/api/v1/audit?action=request.refused",
            Some(&app.seed_user(Role::Admin).token),
        )
        .await
        .expect(200);
    let items = audited["items"].as_array().unwrap();
    assert!((1..=2).contains(&items.len()), "{audited}");
    let refusals: i64 = items
        .iter()
        .map(|i| i["details"]["refusals"].as_i64().unwrap())
        .sum();
    assert_eq!(refusals, 51, "{audited}");
    assert_eq!(
        app.count(&format!("refresh_tokens WHERE user_id = '{}'", user.id)),
        1,
        "no session was opened (the one is the seeded token's)"
    );
}

/// Everything the database holds as text, as a client of the database sees it.
fn raw_database_text(app: &TestApp) -> String {
    match &app.database_url {
        DatabaseUrl::Sqlite(path) => {
            let mut bytes = std::fs::read(path).expect("the SQLite file");
            let wal = format!("{}-wal", path.display());
            if let Ok(more) = std::fs::read(wal) {
                bytes.extend(more);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        DatabaseUrl::Postgres(_) => app.db(|conn: &mut DbConnection| {
            #[derive(diesel::QueryableByName)]
            struct Text {
                #[diesel(sql_type = diesel::sql_types::Text)]
                s: String,
            }
            let tables: Vec<Text> = diesel::sql_query(
                "SELECT table_name::text AS s FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .load(conn)?;
            assert!(tables.iter().any(|t| t.s == "incidents"));
            let mut all = String::new();
            for table in tables {
                let rows: Text = diesel::sql_query(format!(
                    "SELECT COALESCE(string_agg(t::text, ' '), '') AS s FROM {} t",
                    table.s
                ))
                .get_result(conn)?;
                all.push_str(&rows.s);
            }
            Ok(all)
        }),
    }
}

fn stored_narratives(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    use basewatch::db::schema::incidents;
    use diesel::prelude::*;
    app.db(|conn| {
        incidents::table
            .order(incidents::id)
            .select((
                incidents::id,
                incidents::narrative,
                incidents::narrative_key_id,
            ))
            .load(conn)
    })
}

async fn narratives_are_sealed_at_rest(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let secret = format!("Marker {} she was held above the bar", uuid::Uuid::new_v4());
    let mut body = report(&w.mission);
    body["narrative"] = json!(secret);
    let created = create(&w.app, &monitor, &body).await.expect(201);
    assert_eq!(created["narrative"], json!(secret));
    // An edit seals the new text too.
    let edited = format!("{secret} (edited)");
    let id = created["id"].as_str().unwrap();
    let res = w
        .app
        .client
        .patch(w.app.url(&format!("/api/v1/incidents/{id}")))
        .bearer_auth(&monitor.token)
        .insert_header(("If-Match", "\"1\""))
        .send_json(&json!({"narrative": edited}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let read = w
        .app
        .get(&format!("/api/v1/incidents/{id}"), Some(&monitor.token))
        .await
        .expect(200);
    assert_eq!(read["narrative"], json!(edited));

    // Make sure SQLite has written its pages out before reading the file.
    if backend == Backend::Sqlite {
        w.app.db(|conn| {
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn)?;
            Ok(())
        });
    }
    let raw = raw_database_text(&w.app);
    assert!(raw.contains(id), "the raw read sees the incident's row");
    assert!(
        !raw.contains("she was held above the bar"),
        "plaintext narrative found in the database"
    );
    let stored = stored_narratives(&w.app);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].2.as_deref(),
        Some(w.app.data_keys.current_id()),
        "each row names its key"
    );
    assert!(!stored[0].1.as_deref().unwrap().contains("Marker"));
}

async fn data_keys_rotate_while_instances_serve(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let reviewer = w.app.seed_user(Role::Reviewer);
    let mut body = report(&w.mission);
    body["narrative"] = json!("sealed under the first key");
    body["submit"] = json!(true);
    let first = create(&w.app, &monitor, &body).await.expect(201);
    let first_id = first["id"].as_str().unwrap().to_owned();
    let old_id = w.app.data_keys.current_id().to_owned();

    // Step 1: instances restart with the new key and the old one retired.
    let new_hex = DataKeys::generate_hex();
    let rotated = DataKeys::parse(&new_hex, &[&w.app.data_key_hex]).unwrap();
    let new_id = rotated.current_id().to_owned();
    let mut settings = w.app.settings.clone();
    settings.data_keys = rotated;
    let sibling = w.app.spawn_sibling(settings.clone());
    let get = |address: String, id: String, token: String| {
        let client = w.app.client.clone();
        async move {
            let mut res = client
                .get(format!("{address}/api/v1/incidents/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let body: Value = res.json().await.unwrap();
            (res.status().as_u16(), body)
        }
    };
    let (status, old_row) = get(sibling.clone(), first_id.clone(), reviewer.token.clone()).await;
    assert_eq!(status, 200, "{old_row}");
    assert_eq!(old_row["narrative"], json!("sealed under the first key"));
    let mut second_body = report(&w.mission);
    second_body["narrative"] = json!("sealed under the second key");
    second_body["submit"] = json!(true);
    let mut res = w
        .app
        .client
        .post(format!("{sibling}/api/v1/incidents"))
        .bearer_auth(&monitor.token)
        .send_json(&second_body)
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let second: Value = res.json().await.unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    let keys_of = |app: &TestApp| -> Vec<Option<String>> {
        stored_narratives(app)
            .into_iter()
            .map(|(_, _, k)| k)
            .collect()
    };
    let mut before = keys_of(&w.app);
    before.sort();
    let mut expected = vec![Some(old_id.clone()), Some(new_id.clone())];
    expected.sort();
    assert_eq!(before, expected);
    let sealed_before = stored_narratives(&w.app);

    // Step 2: the rotation command re-seals what is left under the old key.
    let data_dir = std::env::temp_dir().join(format!("bw-rotate-{}", uuid::Uuid::new_v4()));
    let rotate = |retired: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
            .arg("rotate-data-key")
            .env("DATABASE_URL", helpers::url_string(&w.app.database_url))
            .env("BASEWATCH_DATA_DIR", &data_dir)
            .env("BASEWATCH_DATA_KEY", &new_hex)
            .env("BASEWATCH_RETIRED_DATA_KEYS", retired)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = rotate(&w.app.data_key_hex);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-sealed 1 narratives"), "{stdout}");
    assert_eq!(keys_of(&w.app), vec![Some(new_id.clone()); 2]);
    let sealed_after = stored_narratives(&w.app);
    for (before, after) in sealed_before.iter().zip(&sealed_after) {
        if before.0 == first_id {
            assert_ne!(before.1, after.1, "the old row was re-sealed");
        } else {
            assert_eq!(before.1, after.1, "rows under the new key are left alone");
        }
    }
    // Running it again finds nothing to do.
    let again = rotate("");
    assert!(String::from_utf8_lossy(&again.stdout).contains("re-sealed 0 narratives"));
    let _ = std::fs::remove_dir_all(&data_dir);

    // Step 3: the old key can go; an instance with the new key alone reads everything.
    settings.data_keys = DataKeys::parse(&new_hex, &[]).unwrap();
    let only_new = w.app.spawn_sibling(settings);
    for (id, text) in [
        (&first_id, "sealed under the first key"),
        (&second_id, "sealed under the second key"),
    ] {
        let (status, body) = get(only_new.clone(), id.clone(), reviewer.token.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["narrative"], json!(text));
    }
}

async fn security_headers_on_every_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Analyst);
    for (path, token, status) in [
        ("/api/v1/me", Some(user.token.as_str()), 200),
        ("/api/v1/me", None, 401),
        ("/api/v1/nowhere", None, 404),
    ] {
        let res = app.get(path, token).await;
        assert_eq!(res.status, status, "{path}");
        for (name, value) in [
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ] {
            assert_eq!(res.header(name), Some(value), "{name} on {path}");
        }
        assert_eq!(res.header("strict-transport-security"), None, "plain HTTP");
    }
    // Behind a TLS-terminating proxy, browsers are told to stay on HTTPS.
    let res = app
        .raw(
            awc::http::Method::GET,
            "/health",
            &[("x-forwarded-proto", "https")],
            Vec::new(),
        )
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

async fn cors_answers_only_the_configured_origins(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Analyst);
    let preflight = async |origin: &'static str| {
        app.raw(
            awc::http::Method::OPTIONS,
            "/api/v1/incidents",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
            Vec::new(),
        )
        .await
    };
    let allowed = preflight(CORS_ORIGIN).await;
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(CORS_ORIGIN)
    );
    assert!(
        allowed
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert_eq!(allowed.header("access-control-allow-credentials"), None);

    let refused = preflight("https://evil.example.net").await;
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert_eq!(refused.header("access-control-allow-methods"), None);

    let auth = format!("Bearer {}", user.token);
    for (origin, allowed) in [(CORS_ORIGIN, true), ("https://evil.example.net", false)] {
        let res = app
            .raw(
                awc::http::Method::GET,
                "/api/v1/me",
                &[("origin", origin), ("authorization", &auth)],
                Vec::new(),
            )
            .await;
        assert_eq!(res.status, 200);
        assert_eq!(
            res.header("access-control-allow-origin").is_some(),
            allowed,
            "{origin}"
        );
        if allowed {
            assert!(
                res.header("access-control-expose-headers")
                    .unwrap()
                    .contains("x-request-id")
            );
        }
    }
}

async fn deeply_nested_json_is_refused(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    let mut deep = json!("bottom");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    body["narrative"] = deep;
    let res = create(&w.app, &monitor, &body).await;
    let problem = res.expect(400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nested more than 16 levels"),
        "{problem}"
    );
    // serde_json's own limit (128) is below what would exhaust the stack.
    let bomb = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let res = w
        .app
        .raw(
            awc::http::Method::POST,
            "/api/v1/incidents",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", monitor.token)),
            ],
            bomb.into_bytes(),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(w.app.count("incidents"), 0);
}

async fn tokens_are_not_interchangeable(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Reviewer);
    let tokens = app.login(&user.email, PASSWORD).await.expect(200);
    // An access token is no refresh token.
    let res = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": tokens["access_token"]}),
        )
        .await;
    res.expect(401);
    // And a refresh token is no access token.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    app.get("/api/v1/me", Some(refresh)).await.expect(401);
    // The real pair still works.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh}),
    )
    .await
    .expect(200);
}

/// The default of `BASEWATCH_CORS_ORIGINS` (unset): no origin is answered with
/// CORS headers, and the API works as ever for clients that send no `Origin`.
async fn without_configured_origins_no_origin_gets_cors(backend: Backend) {
    let default = basewatch::config::Settings::from_lookup(|name| match name {
        "BASEWATCH_DATA_KEY" => Some(DataKeys::generate_hex()),
        "BASEWATCH_JWT_SECRET" => Some("0123456789abcdef0123456789abcdef".into()),
        _ => None,
    })
    .unwrap()
    .cors_origins;
    assert_eq!(default, Vec::<String>::new());
    let app = spawn_app_with(backend, |s| s.cors_origins = default).await;
    let user = app.seed_user(Role::Analyst);
    let auth = format!("Bearer {}", user.token);
    for origin in [CORS_ORIGIN, "https://evil.example.net", "null"] {
        let preflight = app
            .raw(
                awc::http::Method::OPTIONS,
                "/api/v1/incidents",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization, content-type",
                    ),
                ],
                Vec::new(),
            )
            .await;
        for res in [
            &preflight,
            &app.raw(
                awc::http::Method::GET,
                "/api/v1/me",
                &[("origin", origin), ("authorization", &auth)],
                Vec::new(),
            )
            .await,
        ] {
            for header in [
                "access-control-allow-origin",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-allow-credentials",
            ] {
                assert_eq!(res.header(header), None, "{origin}: {header}");
            }
        }
        assert_ne!(preflight.status, 200, "{origin}");
    }
    let me = app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    assert_eq!(me["id"], user.id.as_str());
    let created = create(&app, &app.seed_user(Role::Monitor), &json!({})).await;
    created.expect(422);
}

/// A client that sends part of a request head and stalls gets `408` after
/// `request_timeout`, and the connection is closed.
async fn a_stalled_request_head_is_answered_408_and_closed(backend: Backend) {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_millis(500);
    let app = spawn_app_with(backend, |s| s.request_timeout = timeout).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Blocking reads, off this thread (which runs the server's tasks too).
    let (answer, waited) = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let started = std::time::Instant::now();
        stream
            .write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: localhost\r\nAccept: appl")
            .unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("the server answers and closes the connection");
        (answer, started.elapsed())
    })
    .await
    .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    // actix-http answers on its own, before any middleware (README: Limits and
    // headers): an empty 408, not a problem document, and closes.
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let mut lines = head.lines();
    assert_eq!(
        lines.next(),
        Some("HTTP/1.1 408 Request Timeout"),
        "{answer:?}"
    );
    let headers: Vec<String> = lines.map(str::to_ascii_lowercase).collect();
    assert!(
        headers.contains(&"content-length: 0".to_owned()),
        "{answer:?}"
    );
    assert!(
        headers.contains(&"connection: close".to_owned()),
        "{answer:?}"
    );
    assert_eq!(body, "");
    assert!(
        waited >= timeout && waited < std::time::Duration::from_secs(3),
        "answered after {waited:?}"
    );
}
