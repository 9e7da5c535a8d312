//! Red team on service accounts and the token endpoint: hostile client ids,
//! a secret sent where the client id belongs, mismatched secret paths, racing
//! secret creation, oversized token requests.

use awc::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use basewatch::domain::Role;
use serde_json::json;

use crate::helpers::{Backend, Response, TestApp, join_all, spawn_app_with};
use crate::incidents::{create, report, world};
use crate::service_accounts::{client, token_basic};

crate::scenarios![
    hostile_client_ids_are_refused_and_never_stored,
    a_secret_sent_as_the_client_id_is_not_kept,
    percent_encoded_basic_credentials_are_decoded,
    secret_paths_are_checked_against_their_account,
    racing_secret_creation_never_leaves_three_live,
    an_oversized_token_request_is_refused_not_failed,
    failed_client_authentications_are_throttled,
    every_token_of_a_client_shares_one_limit_even_racing,
    an_analyst_account_cannot_race_into_an_ngo,
    a_partner_account_sees_nothing_of_another_organisation,
    reactivation_does_not_revive_old_tokens,
];

const FORM: &str = "application/x-www-form-urlencoded";

#[track_caller]
fn assert_invalid_client(res: &Response) {
    assert_eq!(res.status, 401, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.json()["error"], "invalid_client");
}

async fn token_post(app: &TestApp, form: &str) -> Response {
    app.raw(
        Method::POST,
        "/api/v1/oauth/token",
        &[("content-type", FORM)],
        form.as_bytes().to_vec(),
    )
    .await
}

async fn hostile_client_ids_are_refused_and_never_stored(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let nul_id = format!("{}\0", c.id);
    assert_invalid_client(
        &token_basic(app, &nul_id, &c.secret, "grant_type=client_credentials").await,
    );
    assert_invalid_client(
        &token_post(
            app,
            &format!(
                "grant_type=client_credentials&client_id={}%00&client_secret={}",
                c.id, c.secret
            ),
        )
        .await,
    );
    let long_id = "a".repeat(65_000);
    assert_invalid_client(
        &token_post(
            app,
            &format!(
                "grant_type=client_credentials&client_id={long_id}&client_secret={}",
                c.secret
            ),
        )
        .await,
    );
    assert_invalid_client(
        &token_basic(
            app,
            &long_id[..10_000],
            &c.secret,
            "grant_type=client_credentials",
        )
        .await,
    );
    // Nothing but a client id the server could have issued is written down.
    assert_eq!(
        app.count(&format!(
            "login_failures WHERE email <> 'client:{}' AND email LIKE 'client:%' AND email <> 'client:'",
            c.id
        )),
        0
    );
    // The account still gets a token.
    token_basic(app, &c.id, &c.secret, "grant_type=client_credentials")
        .await
        .expect(200);
}

async fn a_secret_sent_as_the_client_id_is_not_kept(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    // A partner's developer swaps the two fields.
    assert_invalid_client(
        &token_basic(app, &c.secret, &c.id, "grant_type=client_credentials").await,
    );
    assert_invalid_client(
        &token_post(
            app,
            &format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                c.secret, c.id
            ),
        )
        .await,
    );
    let fragment = &c.secret[5..25];
    assert_eq!(
        app.count(&format!("audit_log WHERE details LIKE '%{fragment}%'")),
        0
    );
    assert_eq!(
        app.count(&format!("login_failures WHERE email LIKE '%{fragment}%'")),
        0
    );
    assert_eq!(
        app.count("audit_log WHERE action = 'auth.client_auth_failed'"),
        2
    );
}

async fn percent_encoded_basic_credentials_are_decoded(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    // RFC 6749 §2.3.1: both parts are form-encoded before Basic; encoding
    // every character is legal.
    let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let auth = format!(
        "Basic {}",
        B64.encode(format!("{}:{}", encode(&c.id), encode(&c.secret)))
    );
    let res = app
        .raw(
            Method::POST,
            "/api/v1/oauth/token",
            &[("content-type", FORM), ("authorization", &auth)],
            b"grant_type=client_credentials".to_vec(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

async fn secret_paths_are_checked_against_their_account(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let mine = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let other = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let my_secret = mine.body["credentials"]["secret"]["id"].as_str().unwrap();
    // Another account's path with my secret's id.
    app.request(
        Method::DELETE,
        &format!("/api/v1/service-accounts/{}/secrets/{my_secret}", other.id),
        Some(&w.admin.token),
        None,
    )
    .await
    .expect(404);
    // A secret id that is no id at all.
    for bad in ["%00", "x%00y", &"9".repeat(5000)] {
        app.request(
            Method::DELETE,
            &format!("/api/v1/service-accounts/{}/secrets/{bad}", mine.id),
            Some(&w.admin.token),
            None,
        )
        .await
        .expect(404);
    }
    assert_eq!(
        app.count("service_account_secrets WHERE revoked_at IS NOT NULL"),
        0
    );
    token_basic(app, &mine.id, &mine.secret, "grant_type=client_credentials")
        .await
        .expect(200);
}

async fn racing_secret_creation_never_leaves_three_live(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let path = format!("/api/v1/service-accounts/{}/secrets", c.id);
    let empty = json!({});
    let requests = (0..8)
        .map(|_| app.post(&path, Some(&w.admin.token), &empty))
        .collect();
    let answers = join_all(requests).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert!(
        answers.iter().all(|r| r.status == 201 || r.status == 409),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(created, 1);
    assert_eq!(
        app.count(&format!(
            "service_account_secrets WHERE account_id = '{}' AND revoked_at IS NULL",
            c.id
        )),
        2
    );
}

async fn an_oversized_token_request_is_refused_not_failed(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let form = format!(
        "grant_type=client_credentials&padding={}",
        "a".repeat(4 * 1024 * 1024)
    );
    let res = token_basic(app, &c.id, &c.secret, &form).await;
    assert_eq!(res.status, 413, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(
        app.count("audit_log WHERE action = 'auth.client_token_issued'"),
        0
    );
}

async fn failed_client_authentications_are_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.login_throttle.per_account = 3;
        s.login_throttle.per_address = 100;
    })
    .await;
    let admin = app.seed_user(Role::Admin);
    let c = client(&app, &admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let other = client(&app, &admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let wrong = format!("bwsk_{}", "0".repeat(64));
    for _ in 0..3 {
        assert_invalid_client(
            &token_basic(&app, &c.id, &wrong, "grant_type=client_credentials").await,
        );
    }
    // The thief's guesses lock the account's client id, even to the right secret...
    let res = token_basic(&app, &c.id, &c.secret, "grant_type=client_credentials").await;
    assert_eq!(res.status, 429, "{}", String::from_utf8_lossy(&res.body));
    assert!(res.header("retry-after").is_some());
    // ... upper case or not ...
    let res = token_basic(
        &app,
        &c.id.to_uppercase(),
        &wrong,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(res.status, 429, "{}", String::from_utf8_lossy(&res.body));
    // ... and no other client's.
    token_basic(
        &app,
        &other.id,
        &other.secret,
        "grant_type=client_credentials",
    )
    .await
    .expect(200);
    // Malformed client ids are throttled together, apart from every real client.
    for _ in 0..4 {
        let res = token_basic(&app, "nobody", &wrong, "grant_type=client_credentials").await;
        assert!(res.status == 401 || res.status == 429, "{}", res.status);
    }
    token_basic(
        &app,
        &other.id,
        &other.secret,
        "grant_type=client_credentials",
    )
    .await
    .expect(200);
    assert_eq!(
        app.count("audit_log WHERE action = 'auth.client_token_issued'"),
        2
    );
}

async fn every_token_of_a_client_shares_one_limit_even_racing(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.client_rate_limit.requests = 3;
        s.client_rate_limit.window = std::time::Duration::from_secs(3600);
    })
    .await;
    let admin = app.seed_user(Role::Admin);
    let c = client(&app, &admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let added = app
        .post(
            &format!("/api/v1/service-accounts/{}/secrets", c.id),
            Some(&admin.token),
            &json!({}),
        )
        .await
        .expect(201);
    let second = added["client_secret"].as_str().unwrap();
    let mut tokens = Vec::new();
    for secret in [c.secret.as_str(), second, c.secret.as_str(), second] {
        let res = token_basic(&app, &c.id, secret, "grant_type=client_credentials").await;
        tokens.push(res.expect(200)["access_token"].as_str().unwrap().to_owned());
    }
    let requests = (0..8)
        .map(|i| app.get("/api/v1/incidents", Some(&tokens[i % tokens.len()])))
        .collect();
    let answers = join_all(requests).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    let limited: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!((ok, limited.len()), (3, 5));
    for res in &answers {
        assert_eq!(
            res.header("ratelimit-policy"),
            Some("\"default\";q=3;w=3600")
        );
    }
    for res in limited {
        assert!(
            res.header("ratelimit")
                .is_some_and(|v| v.starts_with("\"default\";r=0;t=")),
            "{:?}",
            res.headers
        );
    }
    assert_eq!(
        app.count(&format!(
            "client_request_windows WHERE client_id = '{}' AND requests = 8",
            c.id
        )),
        1
    );
}

/// An organisation's kind changing while a service account is created in it:
/// whichever commits first, an analyst never ends up in an NGO, where its
/// role would read every organisation's incidents.
async fn an_analyst_account_cannot_race_into_an_ngo(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let to_ngo = json!({"kind": "ngo"});
    for round in 0..6 {
        let office = app
            .post(
                "/api/v1/organisations",
                Some(&w.admin.token),
                &json!({"name": format!("Office {round}"), "kind": "oversight_office"}),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let account = json!({
            "name": "Oversight feed",
            "role": "analyst",
            "organisation_id": office,
            "scopes": ["incidents:read"],
        });
        let org_path = format!("/api/v1/organisations/{office}");
        let (changed, created) = crate::helpers::join_pair(
            app.patch(&org_path, Some(&w.admin.token), &to_ngo),
            app.post("/api/v1/service-accounts", Some(&w.admin.token), &account),
        )
        .await;
        assert!(
            [200, 422].contains(&changed.status) && [201, 422].contains(&created.status),
            "{} {}",
            changed.status,
            created.status
        );
    }
    assert_eq!(
        app.count(
            "users u JOIN organisations o ON o.id = u.organisation_id \
             WHERE u.role = 'analyst' AND o.kind <> 'oversight_office'"
        ),
        0
    );
}

async fn a_partner_account_sees_nothing_of_another_organisation(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let ngo = app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Partner NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let every_scope = [
        "incidents:write",
        "incidents:read",
        "stats:read",
        "exports:read",
        "webhooks:manage",
    ];
    let partner = client(app, &w.admin, &ngo, "partner", &every_scope).await;
    let token = token_basic(
        app,
        &partner.id,
        &partner.secret,
        "grant_type=client_credentials",
    )
    .await
    .expect(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A monitor of the host organisation submits a report.
    let monitor = app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let theirs = create(app, &monitor, &body).await.expect(201);
    let id = theirs["id"].as_str().unwrap();

    app.get(&format!("/api/v1/incidents/{id}"), Some(&token))
        .await
        .expect(404);
    app.get(&format!("/api/v1/incidents/{id}/history"), Some(&token))
        .await
        .expect(404);
    let list = app
        .get("/api/v1/incidents?limit=200", Some(&token))
        .await
        .expect(200);
    assert!(!list.to_string().contains(id), "{list}");
    let export = app
        .get("/api/v1/exports/incidents?format=ndjson", Some(&token))
        .await;
    assert_eq!(export.status, 200);
    assert!(!String::from_utf8_lossy(&export.body).contains(id));
    app.get("/api/v1/stats/incidents?scope=all", Some(&token))
        .await
        .expect(403);
    app.get("/api/v1/audit", Some(&token)).await.expect(403);
    let res = app
        .patch(
            &format!("/api/v1/incidents/{id}"),
            Some(&token),
            &json!({"description": "rewritten by a partner"}),
        )
        .await;
    assert!([404, 428].contains(&res.status), "{}", res.status);
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND version = 1 AND organisation_id = '{}'",
            app.org_id
        )),
        1
    );
}

async fn reactivation_does_not_revive_old_tokens(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let path = format!("/api/v1/service-accounts/{}", c.id);
    let issue = || token_basic(app, &c.id, &c.secret, "grant_type=client_credentials");
    let old = issue().await.expect(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/api/v1/incidents", Some(&old)).await.expect(200);
    app.patch(&path, Some(&w.admin.token), &json!({"active": false}))
        .await
        .expect(200);
    app.get("/api/v1/incidents", Some(&old)).await.expect(401);
    assert_invalid_client(&issue().await);
    app.patch(&path, Some(&w.admin.token), &json!({"active": true}))
        .await
        .expect(200);
    app.get("/api/v1/incidents", Some(&old)).await.expect(401);
    let new = issue().await.expect(200)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get("/api/v1/incidents", Some(&new)).await.expect(200);
}
