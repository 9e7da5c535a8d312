//! Forged, tampered and misused access tokens all answer 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use basewatch::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, spawn_app};

crate::scenarios![
    tampered_tokens_are_refused,
    missing_or_malformed_credentials_are_refused,
    a_reset_ends_tokens_issued_in_the_same_second,
    reactivation_does_not_revive_old_tokens,
    logout_ends_the_access_tokens_of_that_sign_in,
    a_reused_refresh_token_ends_the_access_tokens_of_that_sign_in,
    seeded_tokens_are_what_login_issues,
];

/// The claims of a token as login issues it, for the sign-in `token` belongs to.
pub(crate) fn claims(token: &str) -> Value {
    let issued: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "basewatch", "aud": "basewatch-api", "sub": issued["sub"],
        "exp": now + 600, "nbf": now, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
        "sid": issued["sid"], "gen": issued["gen"],
    })
}

pub(crate) fn sign(app: &TestApp, alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(&app.jwt_secret),
    )
    .unwrap()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let res = app.get("/api/v1/me", Some(token)).await;
    assert_eq!(res.status, 401, "{what} was accepted");
    res.expect(401);
    assert!(
        res.header("www-authenticate")
            .is_some_and(|h| h.starts_with("Bearer")),
        "{what}"
    );
}

async fn tampered_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Admin);
    let other = app.seed_user(Role::Monitor);
    let good = claims(&user.token);
    assert_eq!(good["sub"], user.id.as_str());
    assert_eq!(good["gen"], 0);
    let now = chrono::Utc::now().timestamp();

    // The control: a well-formed token of our own works.
    app.get("/api/v1/me", Some(&sign(&app, Algorithm::HS256, &good)))
        .await
        .expect(200);

    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(b"some-other-secret-of-sufficient-length"),
    )
    .unwrap();
    assert_refused(&app, &forged, "a bad signature").await;

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    assert_refused(&app, &unsigned, "alg none").await;

    let valid = sign(&app, Algorithm::HS256, &good);
    let (_, rest) = valid.split_once('.').unwrap();
    let relabelled = format!(
        "{}.{rest}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#)
    );
    assert_refused(&app, &relabelled, "an RS256 header (algorithm confusion)").await;
    assert_refused(
        &app,
        &sign(&app, Algorithm::HS512, &good),
        "HS512 with the right key",
    )
    .await;

    let mut payload_swapped = valid.split('.').map(str::to_owned).collect::<Vec<_>>();
    payload_swapped[1] =
        URL_SAFE_NO_PAD.encode(with(good.clone(), "sub", json!(uuid::Uuid::new_v4())).to_string());
    assert_refused(&app, &payload_swapped.join("."), "an edited payload").await;

    let cases = [
        ("expired", with(good.clone(), "exp", json!(now - 120))),
        ("not yet valid", with(good.clone(), "nbf", json!(now + 120))),
        (
            "a wrong issuer",
            with(good.clone(), "iss", json!("someone-else")),
        ),
        (
            "a wrong audience",
            with(good.clone(), "aud", json!("another-api")),
        ),
        (
            "exp as a string",
            with(good.clone(), "exp", json!((now + 600).to_string())),
        ),
        (
            "nbf as a string",
            with(good.clone(), "nbf", json!(now.to_string())),
        ),
        (
            "an unknown user",
            with(good.clone(), "sub", json!(uuid::Uuid::new_v4())),
        ),
        (
            "a sub that is no id",
            with(good.clone(), "sub", json!("admin")),
        ),
        ("no exp", without(good.clone(), "exp")),
        ("no nbf", without(good.clone(), "nbf")),
        ("no iat", without(good.clone(), "iat")),
        ("no jti", without(good.clone(), "jti")),
        ("no sub", without(good.clone(), "sub")),
        ("no iss", without(good.clone(), "iss")),
        ("no aud", without(good.clone(), "aud")),
        ("no sid", without(good.clone(), "sid")),
        ("no gen", without(good.clone(), "gen")),
        (
            "a sign-in that never was",
            with(good.clone(), "sid", json!(uuid::Uuid::now_v7())),
        ),
        (
            "another user's sign-in",
            with(good.clone(), "sid", claims(&other.token)["sid"].clone()),
        ),
        ("a later generation", with(good.clone(), "gen", json!(1))),
        (
            "an earlier generation",
            with(good.clone(), "gen", json!(-1)),
        ),
        ("gen as a string", with(good.clone(), "gen", json!("0"))),
    ];
    for (what, claims) in cases {
        assert_refused(&app, &sign(&app, Algorithm::HS256, &claims), what).await;
    }

    // A refresh token is not an access token.
    let tokens = app.login(&user.email, PASSWORD).await.expect(200);
    assert_refused(
        &app,
        tokens["refresh_token"].as_str().unwrap(),
        "a refresh token",
    )
    .await;
}

async fn missing_or_malformed_credentials_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Admin);
    let res = app.get("/api/v1/me", None).await;
    res.expect(401);
    assert!(res.json()["detail"].as_str().unwrap().contains("Bearer"));
    for header in [
        format!(
            "Basic {}",
            URL_SAFE_NO_PAD.encode(format!("{}:{PASSWORD}", user.email))
        ),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Token {}", user.token),
        "Bearer not.a.jwt".to_owned(),
    ] {
        let res = app
            .raw(
                awc::http::Method::GET,
                "/api/v1/me",
                &[("authorization", &header)],
                vec![],
            )
            .await;
        res.expect(401);
    }
    // The scheme is case-insensitive (RFC 7235).
    let res = app
        .raw(
            awc::http::Method::GET,
            "/api/v1/me",
            &[("authorization", &format!("bearer {}", user.token))],
            vec![],
        )
        .await;
    res.expect(200);
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn refresh(tokens: &Value) -> Value {
    json!({"refresh_token": tokens["refresh_token"]})
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get("/api/v1/me", Some(token)).await.status
}

async fn a_reset_ends_tokens_issued_in_the_same_second(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Analyst);
    let mut password = PASSWORD.to_owned();
    // No pause between sign-in and reset: tokens used to carry whole seconds.
    for round in 0..5 {
        let tokens = app.login(&user.email, &password).await.expect(200);
        assert_eq!(me(&app, access(&tokens)).await, 200);
        password = format!("{PASSWORD} round {round}");
        app.patch(
            &format!("/api/v1/users/{}", user.id),
            Some(&admin.token),
            &json!({"password": password}),
        )
        .await
        .expect(200);
        assert_eq!(me(&app, access(&tokens)).await, 401, "round {round}");
        assert_eq!(me(&app, &user.token).await, 401, "round {round}");
        app.post("/api/v1/auth/refresh", None, &refresh(&tokens))
            .await
            .expect(401);
    }
    assert_eq!(
        app.count(&format!(
            "users WHERE id = '{}' AND token_generation = 5",
            user.id
        )),
        1
    );
    // The admin's own sign-in is untouched.
    assert_eq!(me(&app, &admin.token).await, 200);
}

async fn reactivation_does_not_revive_old_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let user = app.seed_user(Role::Monitor);
    let tokens = app.login(&user.email, PASSWORD).await.expect(200);
    for active in [false, true] {
        app.patch(
            &format!("/api/v1/users/{}", user.id),
            Some(&admin.token),
            &json!({"active": active}),
        )
        .await
        .expect(200);
    }
    assert_eq!(me(&app, access(&tokens)).await, 401);
    assert_eq!(me(&app, &user.token).await, 401);
    app.post("/api/v1/auth/refresh", None, &refresh(&tokens))
        .await
        .expect(401);
    // Signing in again works, and only the new tokens do.
    let fresh = app.login(&user.email, PASSWORD).await.expect(200);
    assert_eq!(me(&app, access(&fresh)).await, 200);
    assert_eq!(me(&app, access(&tokens)).await, 401);
}

async fn logout_ends_the_access_tokens_of_that_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Partner);
    let first = app.login(&user.email, PASSWORD).await.expect(200);
    let other = app.login(&user.email, PASSWORD).await.expect(200);
    let rotated = app
        .post("/api/v1/auth/refresh", None, &refresh(&first))
        .await
        .expect(200);
    assert_eq!(me(&app, access(&first)).await, 200);
    assert_eq!(me(&app, access(&rotated)).await, 200);

    app.post("/api/v1/auth/logout", None, &refresh(&rotated))
        .await
        .expect(204);
    // Every access token of that sign-in, issued before or after the rotation, stops now.
    assert_eq!(me(&app, access(&first)).await, 401);
    assert_eq!(me(&app, access(&rotated)).await, 401);
    // Another sign-in of the same user, and the seeded one, live on.
    assert_eq!(me(&app, access(&other)).await, 200);
    assert_eq!(me(&app, &user.token).await, 200);
}

async fn a_reused_refresh_token_ends_the_access_tokens_of_that_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.seed_user(Role::Reviewer);
    let first = app.login(&user.email, PASSWORD).await.expect(200);
    let other = app.login(&user.email, PASSWORD).await.expect(200);
    let second = app
        .post("/api/v1/auth/refresh", None, &refresh(&first))
        .await
        .expect(200);
    // The first refresh token again: it was copied. The whole sign-in ends.
    app.post("/api/v1/auth/refresh", None, &refresh(&first))
        .await
        .expect(401);
    assert_eq!(me(&app, access(&first)).await, 401);
    assert_eq!(me(&app, access(&second)).await, 401);
    assert_eq!(me(&app, access(&other)).await, 200);
}

/// `TestApp::token_for` is trusted by every other test: it must mint what login does.
async fn seeded_tokens_are_what_login_issues(backend: Backend) {
    let app = spawn_app(backend).await;
    let user: TestUser = app.seed_user(Role::Monitor);
    let login = app.login(&user.email, PASSWORD).await.expect(200);
    let (seeded, issued) = (claims(&user.token), claims(access(&login)));
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    let payload = |token: &str| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(keys(&payload(&user.token)), keys(&payload(access(&login))));
    assert_eq!(seeded["sub"], issued["sub"]);
    assert_eq!(seeded["gen"], issued["gen"]);
    assert_ne!(seeded["sid"], issued["sid"]);
    // Each sid is a stored sign-in of this user.
    for sid in [&seeded["sid"], &issued["sid"]] {
        assert_eq!(
            app.count(&format!(
                "refresh_tokens WHERE family_id = '{}' AND user_id = '{}' AND revoked_at IS NULL",
                sid.as_str().unwrap(),
                user.id
            )),
            1
        );
    }
}
