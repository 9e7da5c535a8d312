//! Sign-in, refresh rotation, reuse detection, logout, deactivation, password reset.

use std::time::{Duration, Instant};

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, spawn_app, spawn_app_with};

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
    parallel_attempts_never_exceed_the_limit,
    behind_a_proxy_the_address_it_appended_is_throttled,
    a_nul_in_the_sign_in_email_is_a_422,
    changing_your_password_starts_a_new_sign_in_and_ends_the_others,
    a_wrong_current_password_changes_nothing_and_is_throttled,
    weak_or_malformed_new_passwords_are_refused,
    a_lockout_ends_when_its_window_has_passed,
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
        app.count(
            "refresh_tokens WHERE revoked_at IS NULL AND family_id IN \
             (SELECT family_id FROM refresh_tokens WHERE used_at IS NOT NULL)"
        ),
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

/// `n` sign-ins sent at once to `base`; their statuses.
async fn at_once(app: &TestApp, base: &str, n: usize, body: Value, xff: Vec<String>) -> Vec<u16> {
    let mut running = Vec::new();
    for i in 0..n {
        let client = app.client.clone();
        let url = format!("{base}/api/v1/auth/login");
        let body = body.clone();
        let forwarded = xff.get(i).cloned();
        running.push(actix_web::rt::spawn(async move {
            let mut req = client.post(url);
            if let Some(value) = forwarded {
                req = req.insert_header(("x-forwarded-for", value));
            }
            req.send_json(&body).await.expect("sent").status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in running {
        statuses.push(task.await.unwrap());
    }
    statuses
}

fn tally(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn parallel_attempts_never_exceed_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    // The right password, 40 times at once, on a fresh account (limit 5).
    let user = app.seed_user(Role::Monitor);
    let body = json!({"email": user.email, "password": PASSWORD});
    let statuses = at_once(&app, &app.address, 40, body, vec![]).await;
    assert_eq!(statuses.len(), 40);
    let evaluated = tally(&statuses, 200) + tally(&statuses, 401);
    assert!(
        (1..=5).contains(&evaluated),
        "{evaluated} attempts got past the throttle: {statuses:?}"
    );
    assert!(tally(&statuses, 200) >= 1, "the first attempt is evaluated");
    assert_eq!(tally(&statuses, 429), 40 - evaluated, "{statuses:?}");

    // A wrong password, 40 times at once: exactly the limit is evaluated.
    let other = app.seed_user(Role::Monitor);
    let body = json!({"email": other.email, "password": "wrong password!"});
    let statuses = at_once(&app, &app.address, 40, body, vec![]).await;
    assert_eq!(
        (tally(&statuses, 401), tally(&statuses, 429)),
        (5, 35),
        "{statuses:?}"
    );
    assert_eq!(
        app.count(&format!(
            "login_failures WHERE email = '{}' AND NOT in_flight",
            other.email
        )),
        5
    );
    assert_eq!(app.count("audit_log WHERE action = 'auth.login_failed'"), 5);
    // Nothing is left in flight once every answer is out.
    assert_eq!(app.count("login_failures WHERE in_flight"), 0);
}

async fn behind_a_proxy_the_address_it_appended_is_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut settings = app.settings.clone();
    settings.trust_proxy = true;
    settings.trusted_proxy_hops = 1;
    let proxied = app.spawn_sibling(settings);
    // 30 failures over 10 accounts (3 each, under the account limit), each with
    // another client-chosen leftmost entry; our proxy appended 203.0.113.7.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let body = json!({"email": format!("guess-{}@example.org", i % 10), "password": "wrong password!"});
        let xff = vec![format!("198.51.100.{i}, 203.0.113.7")];
        statuses.extend(at_once(&app, &proxied, 1, body, xff).await);
    }
    assert_eq!(statuses[..20], [401; 20], "{statuses:?}");
    assert_eq!(statuses[20..], [429; 10], "{statuses:?}");
    assert_eq!(
        app.count("login_failures WHERE address = '203.0.113.7'"),
        20
    );
    assert_eq!(
        app.count("login_failures WHERE address LIKE '198.51.100.%'"),
        0
    );
    // Another client behind the same proxy is not affected; a forged chain with
    // a malformed entry where our proxy writes counts against the peer.
    let body = json!({"email": "someone@example.org", "password": "wrong password!"});
    let other = at_once(
        &app,
        &proxied,
        1,
        body.clone(),
        vec!["203.0.113.7, 203.0.113.8".into()],
    )
    .await;
    assert_eq!(other, [401]);
    let malformed = at_once(
        &app,
        &proxied,
        1,
        body,
        vec!["203.0.113.9, not-an-address".into()],
    )
    .await;
    assert_eq!(malformed, [401]);
    assert_eq!(app.count("login_failures WHERE address = '127.0.0.1'"), 1);
}

async fn a_nul_in_the_sign_in_email_is_a_422(backend: Backend) {
    let app = spawn_app(backend).await;
    for email in [
        "a\u{0}@example.org",
        "a@example.org\u{0}",
        "a\u{7}b@example.org",
    ] {
        let body = app
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": "whatever it is"}),
            )
            .await
            .expect(422);
        assert_eq!(body["errors"][0]["field"], "email", "{body}");
    }
    assert_eq!(app.count("login_failures"), 0);
}

fn audit_count(app: &TestApp, action: &str, user: &TestUser) -> i64 {
    app.count(&format!(
        "audit_log WHERE action = '{action}' AND entity_id = '{}'",
        user.id
    ))
}

const NEW_PASSWORD: &str = "a fresh passphrase nobody guesses";

async fn change(app: &TestApp, token: &str, body: Value) -> crate::helpers::Response {
    app.post("/api/v1/me/password", Some(token), &body).await
}

async fn changing_your_password_starts_a_new_sign_in_and_ends_the_others(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Monitor);
    let (a, b) = (
        sign_in(&app, &user.email).await,
        sign_in(&app, &user.email).await,
    );
    let fresh = change(
        &app,
        a["access_token"].as_str().unwrap(),
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect(200);
    assert_eq!(fresh["token_type"], "Bearer");
    assert!(refresh_token(&fresh).starts_with("bwr_"));

    // Every earlier sign-in ended, the one that asked included.
    for token in [&a["access_token"], &b["access_token"]] {
        app.get("/api/v1/me", token.as_str()).await.expect(401);
    }
    app.get("/api/v1/me", Some(&user.token)).await.expect(401);
    for tokens in [&a, &b] {
        app.post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_token(tokens)}),
        )
        .await
        .expect(401);
    }
    // The new sign-in works, and refreshes.
    let me = app
        .get("/api/v1/me", fresh["access_token"].as_str())
        .await
        .expect(200);
    assert_eq!(me["id"], user.id.as_str());
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_token(&fresh)}),
    )
    .await
    .expect(200);
    app.login(&user.email, PASSWORD).await.expect(401);
    app.login(&user.email, NEW_PASSWORD).await.expect(200);
    assert_eq!(audit_count(&app, "user.password_changed", &user), 1);
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'user.password_changed' AND actor_id = '{}' AND details NOT LIKE '%passphrase%'",
            user.id
        )),
        1
    );
}

async fn a_wrong_current_password_changes_nothing_and_is_throttled(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Partner);
    let wrong = json!({"current_password": "not my password", "new_password": NEW_PASSWORD});
    for _ in 0..5 {
        let body = change(&app, &user.token, wrong.clone()).await.expect(422);
        assert_eq!(body["errors"][0]["field"], "current_password", "{body}");
        assert_eq!(body["errors"].as_array().unwrap().len(), 1);
    }
    // The account's attempts are used up: the right password is refused too,
    // here and at sign-in.
    let right = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let res = change(&app, &user.token, right).await;
    res.expect(429);
    assert!(res.header("retry-after").is_some());
    app.login(&user.email, PASSWORD).await.expect(429);
    // Nothing changed: the token works, the old password is still the password.
    app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    assert_eq!(audit_count(&app, "user.password_change_refused", &user), 5);
    assert_eq!(audit_count(&app, "user.password_changed", &user), 0);
    assert_eq!(
        app.count(&format!(
            "users WHERE id = '{}' AND token_generation = 0",
            user.id
        )),
        1
    );
}

async fn weak_or_malformed_new_passwords_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Analyst);
    let cases = [
        (
            json!({"current_password": PASSWORD, "new_password": "password1234"}),
            "new_password",
            "too easy to guess",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": user.email}),
            "new_password",
            "too easy to guess",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "qwertyuiop12"}),
            "new_password",
            "too easy to guess",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": PASSWORD}),
            "new_password",
            "must differ",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "short"}),
            "new_password",
            "at least 12",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": "x".repeat(1025)}),
            "new_password",
            "at most 1024",
        ),
        (
            json!({"new_password": NEW_PASSWORD}),
            "current_password",
            "missing",
        ),
        (
            json!({"current_password": "", "new_password": NEW_PASSWORD}),
            "current_password",
            "1 to 1024",
        ),
        (
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "role": "admin"}),
            "role",
            "unknown field",
        ),
    ];
    for (body, field, words) in cases {
        let res = change(&app, &user.token, body.clone()).await.expect(422);
        let error = &res["errors"][0];
        assert_eq!(error["field"], field, "{body}: {res}");
        assert!(
            error["message"].as_str().unwrap().contains(words),
            "{body}: {res}"
        );
    }
    // zxcvbn's advice reaches the caller.
    let res = change(
        &app,
        &user.token,
        json!({"current_password": PASSWORD, "new_password": "password1234"}),
    )
    .await
    .expect(422);
    assert!(
        res["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("common password"),
        "{res}"
    );
    // No attempt was spent, nothing changed.
    assert_eq!(app.count("login_failures"), 0);
    app.get("/api/v1/me", Some(&user.token)).await.expect(200);
    app.post(
        "/api/v1/me/password",
        None,
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect(401);
}

/// With a one-second window: locked out after the limit, signed in again once
/// the window has passed, and counted from zero after.
async fn a_lockout_ends_when_its_window_has_passed(backend: Backend) {
    let window = Duration::from_secs(1);
    let app = spawn_app_with(backend, |s| {
        s.login_throttle = basewatch::config::LoginThrottle {
            per_account: 3,
            per_address: 100,
            window,
        }
    })
    .await;
    let user = app.seed_user(Role::Monitor);
    // The window slides: the lockout ends when the first of the three leaves it.
    let first_failure = Instant::now();
    for _ in 0..3 {
        app.login(&user.email, "wrong password!").await.expect(401);
    }
    let res = app.login(&user.email, PASSWORD).await;
    res.expect(429);
    assert_eq!(res.header("retry-after"), Some("1"));

    // Refused attempts are not counted: polling with the right password ends
    // in a sign-in once the window has passed, not before.
    let deadline = first_failure + window + Duration::from_secs(3);
    loop {
        let res = app.login(&user.email, PASSWORD).await;
        if res.status == 200 {
            break;
        }
        res.expect(429);
        assert!(
            Instant::now() < deadline,
            "still locked out {:?} after the first failure",
            first_failure.elapsed()
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(first_failure.elapsed() >= window);
    let failures = format!("login_failures WHERE email = '{}'", user.email);
    assert_eq!(app.count(&failures), 0);

    // The count starts anew: the limit again, then locked out again.
    for _ in 0..3 {
        app.login(&user.email, "wrong password!").await.expect(401);
    }
    app.login(&user.email, PASSWORD).await.expect(429);
    assert_eq!(app.count(&failures), 3);
}
