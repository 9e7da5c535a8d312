//! What the red team found on the integrated issue 10, each as it was probed: through
//! the HTTP API, on both backends, the same answer on each.

use basewatch::domain::Role;
use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::tokens::{claims, sign};

crate::scenarios![a_sign_in_id_that_is_no_id_is_refused_before_any_query];

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
