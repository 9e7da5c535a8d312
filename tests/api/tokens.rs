//! Forged, tampered and misused access tokens all answer 401.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use basewatch::domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, spawn_app};

crate::scenarios![
    tampered_tokens_are_refused,
    missing_or_malformed_credentials_are_refused
];

fn claims(sub: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": "basewatch", "aud": "basewatch-api", "sub": sub,
        "exp": now + 600, "nbf": now, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn sign(app: &TestApp, alg: Algorithm, claims: &Value) -> String {
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
    let good = claims(&user.id);
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
