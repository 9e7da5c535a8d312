//! Sign-in, refresh rotation, reuse detection, logout, deactivation, password reset.

use std::time::{Duration, Instant};

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};

crate::scenarios![
    every_role_signs_in_and_sees_itself,
    login_failures_are_one_indistinguishable_401,
    unknown_email_costs_as_much_time_as_a_wrong_password,
    login_rejects_bad_input_specifically,
    refresh_rotates_both_tokens,
    reusing_a_refresh_token_revokes_the_whole_chain,
    logout_revokes_the_session,
    deactivation_stops_every_token_at_once,
    password_reset_ends_old_sessions,
];

async fn sign_in(app: &TestApp, email: &str) -> Value {
    app.login(email, PASSWORD).await.expect(200)
}

fn refresh_token(tokens: &Value) -> String {
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn every_role_signs_in_and_sees_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    for role in Role::ALL {
        let user = app.seed_user(role);
        // Emails are case-insensitive.
        let tokens = app
            .login(&user.email.to_uppercase(), PASSWORD)
            .await
            .expect(200);
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert_eq!(tokens["refresh_expires_in"], 3600);
        assert!(refresh_token(&tokens).starts_with("bwr_"));

        let me = app
            .get("/api/v1/me", tokens["access_token"].as_str())
            .await
            .expect(200);
        assert_eq!(me["id"], user.id.as_str());
        assert_eq!(me["email"], user.email.as_str());
        assert_eq!(me["role"], role.as_str());
        assert_eq!(me["organisation"]["id"], app.org_id.as_str());
        assert_eq!(me["organisation"]["name"], "Test Oversight Office");
        assert_eq!(me["active"], true);
        assert!(me.get("password_hash").is_none());
    }
    // Only the hash of each refresh token is stored (seeding mints a sign-in too).
    assert_eq!(app.count("refresh_tokens"), 10);
    assert_eq!(
        app.count("refresh_tokens WHERE token_hash LIKE 'bwr_%' OR length(token_hash) <> 64"),
        0
    );
}

async fn login_failures_are_one_indistinguishable_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Monitor);
    let inactive = app.seed_user(Role::Reviewer);
    let admin = app.seed_user(Role::Admin);
    app.patch(
        &format!("/api/v1/users/{}", inactive.id),
        Some(&admin.token),
        &json!({"active": false}),
    )
    .await
    .expect(200);

    let attempts = [
        (user.email.as_str(), "wrong password entirely"),
        ("nobody@example.org", PASSWORD),
        (inactive.email.as_str(), PASSWORD),
        ("not-an-email", PASSWORD),
        (user.email.as_str(), ""),
    ];
    for (email, password) in attempts {
        let res = app.login(email, password).await;
        if password.is_empty() {
            // An empty password is a malformed request, not a failed sign-in.
            res.expect(422);
            continue;
        }
        let body = res.expect(401);
        assert_eq!(body["detail"], "invalid email or password", "{email}");
        assert_eq!(
            res.header("www-authenticate"),
            Some("Bearer realm=\"basewatch\"")
        );
    }
    assert_eq!(
        app.count("refresh_tokens"),
        3,
        "no failed sign-in starts a session (the three are the seeded ones)"
    );
}

async fn unknown_email_costs_as_much_time_as_a_wrong_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Monitor);
    let fastest = |d: Duration, best: &mut Duration| *best = (*best).min(d);
    let (mut wrong_password, mut unknown_email) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let start = Instant::now();
        app.login(&user.email, "wrong password entirely")
            .await
            .expect(401);
        fastest(start.elapsed(), &mut wrong_password);
        let start = Instant::now();
        app.login("nobody@example.org", "wrong password entirely")
            .await
            .expect(401);
        fastest(start.elapsed(), &mut unknown_email);
    }
    // Without the dummy hash an unknown email answers ~50x faster; a loose bound
    // keeps the test steady on a busy machine while catching that.
    assert!(
        unknown_email * 3 > wrong_password,
        "unknown email {unknown_email:?} vs wrong password {wrong_password:?}"
    );
}

async fn login_rejects_bad_input_specifically(backend: Backend) {
    let app = spawn_app(backend).await;
    let missing = app
        .post("/api/v1/auth/login", None, &json!({"email": "a@b.org"}))
        .await
        .expect(422);
    assert_eq!(missing["errors"][0]["field"], "password");
    let extra = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "a@b.org", "password": "x", "role": "admin"}),
        )
        .await
        .expect(422);
    assert!(
        extra["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `role`"),
        "{extra}"
    );
    let wrong_type = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": 5, "password": "x"}),
        )
        .await
        .expect(422);
    assert_eq!(wrong_type["errors"][0]["field"], "email");
    let too_long = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "a@b.org", "password": "x".repeat(1025)}),
        )
        .await
        .expect(422);
    assert_eq!(too_long["errors"][0]["field"], "password");
}

async fn refresh_rotates_both_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Analyst);
    let first = sign_in(&app, &user.email).await;
    let second = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token(&first)}),
        )
        .await
        .expect(200);
    assert_ne!(refresh_token(&first), refresh_token(&second));
    let me = app
        .get("/api/v1/me", second["access_token"].as_str())
        .await
        .expect(200);
    assert_eq!(me["id"], user.id.as_str());
    // The next one works too: a chain of rotations.
    let third = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token(&second)}),
        )
        .await
        .expect(200);
    assert_eq!(app.count("refresh_tokens WHERE used_at IS NOT NULL"), 2);
    // The live one of this chain, and the seeded sign-in's.
    assert_eq!(
        app.count("refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL"),
        2
    );
    assert!(refresh_token(&third).starts_with("bwr_"));

    for bad in ["", "bwr_not-a-real-token", "garbage"] {
        let res = app
            .post("/api/v1/auth/refresh", None, &json!({"refresh_token": bad}))
            .await;
        res.expect(if bad.is_empty() { 422 } else { 401 });
    }
}

async fn reusing_a_refresh_token_revokes_the_whole_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Reviewer);
    let first = sign_in(&app, &user.email).await;
    let other_session = sign_in(&app, &user.email).await;
    let second = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token(&first)}),
        )
        .await
        .expect(200);

    // The first token again: someone copied it. Refused, and the chain dies.
    let reuse = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token(&first)}),
        )
        .await
        .expect(401);
    assert!(reuse["detail"].as_str().unwrap().contains("sign in again"));
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token(&second)}),
    )
    .await
    .expect(401);
    assert_eq!(app.count("refresh_tokens WHERE revoked_at IS NOT NULL"), 2);

    // Another sign-in of the same user is a different chain and lives on.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token(&other_session)}),
    )
    .await
    .expect(200);
}

async fn logout_revokes_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Partner);
    let tokens = sign_in(&app, &user.email).await;
    let rotated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token(&tokens)}),
        )
        .await
        .expect(200);
    app.post(
        "/api/v1/auth/logout",
        None,
        &json!({"refresh_token": refresh_token(&rotated)}),
    )
    .await
    .expect(204);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token(&rotated)}),
    )
    .await
    .expect(401);
    assert_eq!(
        app.count(&format!(
            "refresh_tokens WHERE revoked_at IS NULL AND family_id IN \
             (SELECT family_id FROM refresh_tokens WHERE used_at IS NOT NULL)"
        )),
        0
    );
    // Logging out twice, or with an unknown token, reveals nothing.
    app.post(
        "/api/v1/auth/logout",
        None,
        &json!({"refresh_token": refresh_token(&rotated)}),
    )
    .await
    .expect(204);
    app.post(
        "/api/v1/auth/logout",
        None,
        &json!({"refresh_token": "bwr_unknown"}),
    )
    .await
    .expect(204);
    app.post("/api/v1/auth/logout", None, &json!({}))
        .await
        .expect(422);
}

async fn deactivation_stops_every_token_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Monitor);
    let tokens = sign_in(&app, &user.email).await;
    let access = tokens["access_token"].as_str().unwrap();
    app.get("/api/v1/me", Some(access)).await.expect(200);

    let updated = app
        .patch(
            &format!("/api/v1/users/{}", user.id),
            Some(&admin.token),
            &json!({"active": false}),
        )
        .await
        .expect(200);
    assert_eq!(updated["active"], false);

    app.get("/api/v1/me", Some(access)).await.expect(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token(&tokens)}),
    )
    .await
    .expect(401);
    app.login(&user.email, PASSWORD).await.expect(401);
    assert_eq!(
        app.count(&format!(
            "refresh_tokens WHERE revoked_at IS NULL AND user_id = '{}'",
            user.id
        )),
        0
    );

    app.patch(
        &format!("/api/v1/users/{}", user.id),
        Some(&admin.token),
        &json!({"active": true}),
    )
    .await
    .expect(200);
    sign_in(&app, &user.email).await;
}

async fn password_reset_ends_old_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Analyst);
    let tokens = sign_in(&app, &user.email).await;
    // Tokens carry whole seconds: step past the second they were issued in.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;

    let new_password = "a brand new passphrase";
    app.patch(
        &format!("/api/v1/users/{}", user.id),
        Some(&admin.token),
        &json!({"password": new_password}),
    )
    .await
    .expect(200);

    app.get("/api/v1/me", tokens["access_token"].as_str())
        .await
        .expect(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token(&tokens)}),
    )
    .await
    .expect(401);
    app.login(&user.email, PASSWORD).await.expect(401);
    let fresh = app.login(&user.email, new_password).await.expect(200);
    app.get("/api/v1/me", fresh["access_token"].as_str())
        .await
        .expect(200);
}
