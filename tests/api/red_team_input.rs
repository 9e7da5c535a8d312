//! What the red team found on the integrated issue 10, each as it was probed: through
//! the HTTP API, on both backends, the same answer on each.

use basewatch::domain::Role;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::audit::join_all;
use crate::helpers::{Backend, PASSWORD, spawn_app};
use crate::tokens::{claims, sign};

crate::scenarios![
    a_sign_in_id_that_is_no_id_is_refused_before_any_query,
    admins_demoting_each_other_at_once_leave_one_admin,
    the_published_demo_passwords_are_refused,
    bytes_that_are_not_text_do_not_hide_the_entry_our_proxy_appended,
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
