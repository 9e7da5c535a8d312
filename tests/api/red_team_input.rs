//! What the red team found on the integrated issue 10, each as it was probed: through
//! the HTTP API, on both backends, the same answer on each.

use basewatch::domain::Role;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::audit::join_all;
use crate::helpers::{Backend, PASSWORD, spawn_app, url_string};
use crate::tokens::{claims, sign};

crate::scenarios![
    a_sign_in_id_that_is_no_id_is_refused_before_any_query,
    admins_demoting_each_other_at_once_leave_one_admin,
    the_published_demo_passwords_are_refused,
    bytes_that_are_not_text_do_not_hide_the_entry_our_proxy_appended,
    an_admin_cannot_reset_their_own_password_without_the_current_one,
    demo_passwords_with_other_separators_are_refused,
    an_anchor_below_the_first_row_is_refused_not_reported_as_tampering,
    the_cli_refuses_a_password_with_a_nul_that_no_sign_in_could_send,
    names_with_bidirectional_overrides_are_refused,
];

/// The `sid` of an access token was bound into a query as sent: a NUL in it made
/// PostgreSQL answer 500 (SQLite 401). It takes the server's key to sign such a
/// token, but a claim is input all the same: anything but a UUID is a 401.
async fn a_sign_in_id_that_is_no_id_is_refused_before_any_query(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Analyst);
    let good = claims(&user.token);
    app.get("/api/v1/me", Some(&sign(&app, Algorithm::HS256, &good)))
        .await
        .expect(200);
    let sid = good["sid"].as_str().unwrap().to_owned();
    for (what, value) in [
        ("a NUL after the id", json!(format!("{sid}\u{0}"))),
        ("a NUL alone", json!("\u{0}")),
        ("10,000 characters", json!("x".repeat(10_000))),
        ("an empty sid", json!("")),
        ("a number", json!(7)),
        ("null", json!(null)),
    ] {
        let mut forged = good.clone();
        forged["sid"] = value;
        let res = app
            .get("/api/v1/me", Some(&sign(&app, Algorithm::HS256, &forged)))
            .await;
        assert_eq!(
            res.status,
            401,
            "a sid with {what}: {}",
            String::from_utf8_lossy(&res.body)
        );
        res.expect(401);
    }
}

/// Two admins demoting (or deactivating) each other at the same moment were both
/// authorised on the role they had when their requests arrived, and both
/// succeeded: neither was an admin afterwards, which no order of the two
/// requests gives (the second comes from someone who is no longer an admin).
/// Account changes now take turns and re-check the acting admin.
async fn admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let overseer = app.seed_user(Role::Admin);
    for round in 0..6 {
        let a = app.seed_user(Role::Admin);
        let b = app.seed_user(Role::Admin);
        let (change, refused) = if round % 2 == 0 {
            (json!({"role": "analyst"}), [403, 403])
        } else {
            // The loser's own token may already be ended (401) or not yet (403).
            (json!({"active": false}), [401, 403])
        };
        let answers = join_all([
            app.patch(&format!("/api/v1/users/{}", b.id), Some(&a.token), &change),
            app.patch(&format!("/api/v1/users/{}", a.id), Some(&b.token), &change),
        ])
        .await;
        let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
        assert_eq!(ok.len(), 1, "round {round}: exactly one change wins");
        let loser = answers.iter().find(|r| r.status != 200).unwrap();
        assert!(
            refused.contains(&loser.status),
            "round {round}: {}",
            String::from_utf8_lossy(&loser.body)
        );
        loser.expect(loser.status);
        let still_admins = join_all([a.id.as_str(), b.id.as_str()].map(|id| {
            let path = format!("/api/v1/users/{id}");
            let token = overseer.token.clone();
            let app = &app;
            async move {
                let user = app.get(&path, Some(&token)).await.expect(200);
                user["role"] == "admin" && user["active"] == true
            }
        }))
        .await;
        assert_eq!(
            still_admins.iter().filter(|&&admin| admin).count(),
            1,
            "round {round}: one of the two is still an active admin"
        );
    }
}

/// `demo-password-admin` and its siblings are printed in the README: the first
/// passwords anyone guessing at a Basewatch server tries. zxcvbn scored them
/// strong (long, three words), so a user could pick one; now they are refused
/// wherever a password is chosen, and nothing changes.
async fn the_published_demo_passwords_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Monitor);
    for role in ["admin", "reviewer", "analyst", "monitor", "partner"] {
        let published = format!("demo-password-{role}");
        let own = app
            .post(
                "/api/v1/me/password",
                Some(&user.token),
                &json!({"current_password": PASSWORD, "new_password": published}),
            )
            .await
            .expect(422);
        assert_eq!(own["errors"][0]["field"], "new_password", "{own}");
        let reset = app
            .patch(
                &format!("/api/v1/users/{}", user.id),
                Some(&admin.token),
                &json!({"password": published}),
            )
            .await
            .expect(422);
        assert_eq!(reset["errors"][0]["field"], "password", "{reset}");
        let created = app
            .post(
                "/api/v1/users",
                Some(&admin.token),
                &json!({
                    "email": format!("new-{role}@example.org"), "name": "New User",
                    "role": "monitor", "organisation_id": app.org_id, "password": published,
                }),
            )
            .await
            .expect(422);
        assert_eq!(created["errors"][0]["field"], "password", "{created}");
    }
    // Nothing changed: the old password still signs in, the token still works.
    app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    app.login(&user.email, PASSWORD).await.expect(200);
}

/// Behind a proxy that adds an `X-Forwarded-For` line of its own (HAProxy's
/// `option forwardfor`), a client that sent one holding bytes that are not text
/// (`\xff`) made the whole header unreadable, so its attempts were counted
/// against the proxy's address instead of the address the proxy appended.
async fn bytes_that_are_not_text_do_not_hide_the_entry_our_proxy_appended(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut settings = app.settings.clone();
    settings.trust_proxy = true;
    settings.trusted_proxy_hops = 1;
    let proxied = app.spawn_sibling(settings);
    for client_wrote in [&b"\xff\xfe"[..], b"\xc0\x80, 198.51.100.1", b"\x80"] {
        let res = app
            .client
            .post(format!("{proxied}/api/v1/auth/login"))
            .append_header((
                "x-forwarded-for",
                awc::http::header::HeaderValue::from_bytes(client_wrote).unwrap(),
            ))
            .append_header(("x-forwarded-for", "203.0.113.7"))
            .send_json(&json!({"email": "guess@example.org", "password": "wrong password!"}))
            .await
            .expect("sent");
        assert_eq!(res.status().as_u16(), 401);
    }
    assert_eq!(app.count("login_failures WHERE address = '203.0.113.7'"), 3);
    assert_eq!(
        app.count("login_failures WHERE address <> '203.0.113.7'"),
        0
    );
}

/// POST /me/password asks for the current password so that a stolen access token
/// cannot set a password its thief knows. An admin's PATCH of their own account
/// with `password` skipped that question: a thief holding an admin's token took
/// the account over for good. It is a 409 now, and nothing changes.
async fn an_admin_cannot_reset_their_own_password_without_the_current_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let res = app
        .patch(
            &format!("/api/v1/users/{}", admin.id),
            Some(&admin.token),
            &json!({"password": "Tangerine volcano ledger 42?"}),
        )
        .await
        .expect(409);
    assert!(
        res["detail"].as_str().unwrap().contains("/me/password"),
        "{res}"
    );
    // Nothing changed: the token still works, the old password still signs in,
    // the new one does not, and nothing was audited as a reset.
    app.get("/api/v1/me", Some(&admin.token)).await.expect(200);
    app.login(&admin.email, "Tangerine volcano ledger 42?")
        .await
        .expect(401);
    app.login(&admin.email, PASSWORD).await.expect(200);
    let reset_rows: i64 = app.db(|conn| {
        use basewatch::db::schema::audit_log::dsl::*;
        use diesel::prelude::*;
        audit_log
            .filter(action.eq("user.updated"))
            .count()
            .get_result(conn)
    });
    assert_eq!(reset_rows, 0);
    // Another admin may still reset it (an admin reset is what it is for).
    let other = app.seed_user(Role::Admin);
    app.patch(
        &format!("/api/v1/users/{}", admin.id),
        Some(&other.token),
        &json!({"password": "Tangerine volcano ledger 42?"}),
    )
    .await
    .expect(200);
    app.login(&admin.email, "Tangerine volcano ledger 42?")
        .await
        .expect(200);
}

/// zxcvbn matches the published demo passwords only as written: `demo password
/// admin`, `demo_password_admin` and `demopasswordadmin` scored strong and were
/// accepted. The password is now also judged without its separators.
async fn demo_passwords_with_other_separators_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Monitor);
    for (i, variant) in [
        "demo password admin",
        "demo_password_admin",
        "demopasswordadmin",
        "Demo.Password.Partner",
        "demo password reviewer!",
    ]
    .into_iter()
    .enumerate()
    {
        let own = app
            .post(
                "/api/v1/me/password",
                Some(&user.token),
                &json!({"current_password": PASSWORD, "new_password": variant}),
            )
            .await
            .expect(422);
        assert_eq!(
            own["errors"][0]["field"], "new_password",
            "{variant}: {own}"
        );
        let created = app
            .post(
                "/api/v1/users",
                Some(&admin.token),
                &json!({
                    "email": format!("variant-{i}@example.org"), "name": "New User",
                    "role": "monitor", "organisation_id": app.org_id, "password": variant,
                }),
            )
            .await
            .expect(422);
        assert_eq!(
            created["errors"][0]["field"], "password",
            "{variant}: {created}"
        );
    }
    app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    app.login(&user.email, PASSWORD).await.expect(200);
    // A passphrase of other words is still accepted.
    app.post(
        "/api/v1/me/password",
        Some(&user.token),
        &json!({"current_password": PASSWORD, "new_password": "Tangerine volcano ledger 42?"}),
    )
    .await
    .expect(200);
}

/// The chain starts at seq 1: `--anchor 0:<hash>` or `--anchor=-1:<hash>` said
/// "the audit log was tampered with: the anchored row is missing" (exit 1), a
/// false alarm about an intact log. It is a usage error (exit 2) now.
async fn an_anchor_below_the_first_row_is_refused_not_reported_as_tampering(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    app.get("/api/v1/audit", Some(&admin.token))
        .await
        .expect(200);
    let hash = "a".repeat(64);
    let data_dir = std::env::temp_dir().join(format!("bw-r5-anchor-{}", uuid::Uuid::new_v4()));
    let verify = |anchor: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
            .args(["audit", "verify", &format!("--anchor={anchor}")])
            .env("DATABASE_URL", url_string(&app.database_url))
            .env("BASEWATCH_DATA_DIR", &data_dir)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    for anchor in [format!("0:{hash}"), format!("-1:{hash}")] {
        let out = verify(&anchor);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{anchor}: {stderr}");
        assert!(
            stderr.contains("is not a sequence number (1 or more)"),
            "{stderr}"
        );
        assert!(!stderr.contains("tampered"), "{stderr}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", url_string(&app.database_url))
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `basewatch user create` took a password holding a NUL from standard input and
/// created the account, but the API refuses a NUL in any JSON string: no sign-in
/// could ever send that password. The command refuses it now, and creates nothing.
async fn the_cli_refuses_a_password_with_a_nul_that_no_sign_in_could_send(backend: Backend) {
    let app = spawn_app(backend).await;
    let users = app.count("users");
    let out = crate::users::create_with_cli(
        &app,
        &[
            "--email",
            "nul@example.org",
            "--role",
            "monitor",
            "--org",
            "Cli Org",
        ],
        "Tangerine volcano\0ledger 42?",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("must not contain a NUL character"),
        "{stderr}"
    );
    assert_eq!(app.count("users"), users);
    // The same password without the NUL is accepted and signs in.
    let out = crate::users::create_with_cli(
        &app,
        &[
            "--email",
            "nul@example.org",
            "--role",
            "monitor",
            "--org",
            "Cli Org",
        ],
        "Tangerine volcano ledger 42?",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.count("users"), users + 1);
    app.login("nul@example.org", "Tangerine volcano ledger 42?")
        .await
        .expect(200);
}

/// A name holding U+202E (right-to-left override) was stored and shown as sent:
/// it reads backwards wherever the name is displayed after it (user lists, the
/// audit log, exports). Embeddings, overrides and isolates are refused now; the
/// marks U+200E/U+200F and right-to-left scripts stay allowed.
async fn names_with_bidirectional_overrides_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Monitor);
    let users = app.count("users");
    for (i, name) in ["\u{202E}nimda", "Ana \u{2066}Lopez\u{2069}", "a\u{202A}b"]
        .into_iter()
        .enumerate()
    {
        let created = app
            .post(
                "/api/v1/users",
                Some(&admin.token),
                &json!({
                    "email": format!("bidi-{i}@example.org"), "name": name,
                    "role": "monitor", "organisation_id": app.org_id,
                    "password": "Tangerine volcano ledger 42?",
                }),
            )
            .await
            .expect(422);
        assert_eq!(created["errors"][0]["field"], "name", "{created}");
        let renamed = app
            .patch(
                &format!("/api/v1/users/{}", user.id),
                Some(&admin.token),
                &json!({"name": name}),
            )
            .await
            .expect(422);
        assert_eq!(renamed["errors"][0]["field"], "name", "{renamed}");
    }
    assert_eq!(app.count("users"), users);
    let me = app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    assert!(!me["name"].as_str().unwrap().contains('\u{202E}'));
    let created = app
        .post(
            "/api/v1/users",
            Some(&admin.token),
            &json!({
                "email": "rtl@example.org", "name": "\u{200F}\u{0633}\u{0627}\u{0631}\u{0629}",
                "role": "monitor", "organisation_id": app.org_id,
                "password": "Tangerine volcano ledger 42?",
            }),
        )
        .await
        .expect(201);
    assert_eq!(created["name"], "\u{200F}\u{0633}\u{0627}\u{0631}\u{0629}");
}
