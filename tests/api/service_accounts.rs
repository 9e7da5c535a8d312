//! Service accounts: their lifecycle, the client credentials grant (RFC 6749
//! §4.4) with its §5.2 errors, scopes, secret rotation, per-client limits.

use std::future::Future;
use std::pin::Pin;

use awc::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use basewatch::domain::Role;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::audit::join_all;
use crate::helpers::{Backend, PASSWORD, Response, TestApp, TestUser, spawn_app_with};
use crate::incidents::{report, world};

crate::scenarios![
    the_lifecycle_of_a_service_account,
    both_client_authentication_methods_and_every_oauth_error,
    password_paths_refuse_service_accounts,
    scopes_narrow_what_the_role_allows,
    roles_are_capped,
    secrets_rotate_two_at_a_time_and_revoke_at_once,
    audit_rows_name_the_service_account,
    the_request_limit_is_shared_by_every_instance,
    two_service_accounts_and_a_person_act_at_once,
];

const FORM: &str = "application/x-www-form-urlencoded";

/// A service account just created: its id (the client id) and its secret.
pub struct Client {
    pub id: String,
    pub secret: String,
    pub body: Value,
}

pub async fn create_client(
    app: &TestApp,
    admin: &TestUser,
    org: &str,
    role: &str,
    scopes: &[&str],
) -> Response {
    app.post(
        "/api/v1/service-accounts",
        Some(&admin.token),
        &json!({"name": "Partner intake", "role": role, "organisation_id": org, "scopes": scopes}),
    )
    .await
}

pub async fn client(
    app: &TestApp,
    admin: &TestUser,
    org: &str,
    role: &str,
    scopes: &[&str],
) -> Client {
    let body = create_client(app, admin, org, role, scopes)
        .await
        .expect(201);
    Client {
        id: body["credentials"]["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret: body["credentials"]["client_secret"]
            .as_str()
            .unwrap()
            .to_owned(),
        body,
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", B64.encode(format!("{id}:{secret}")))
}

/// A token request with `client_secret_basic`.
pub async fn token_basic(app: &TestApp, id: &str, secret: &str, form: &str) -> Response {
    let auth = basic(id, secret);
    app.raw(
        Method::POST,
        "/api/v1/oauth/token",
        &[("content-type", FORM), ("authorization", &auth)],
        form.as_bytes().to_vec(),
    )
    .await
}

/// A token request with whatever form body and headers.
async fn token_raw(app: &TestApp, headers: &[(&str, &str)], form: &str) -> Response {
    app.raw(
        Method::POST,
        "/api/v1/oauth/token",
        headers,
        form.as_bytes().to_vec(),
    )
    .await
}

/// An access token for the client, with these scopes (all of its own if empty).
pub async fn access_token(app: &TestApp, client: &Client, scope: &str) -> String {
    let form = if scope.is_empty() {
        "grant_type=client_credentials".to_owned()
    } else {
        format!(
            "grant_type=client_credentials&scope={}",
            scope.replace(' ', "+")
        )
    };
    let res = token_basic(app, &client.id, &client.secret, &form).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()["access_token"].as_str().unwrap().to_owned()
}

/// The client as a `TestUser`, to call the API with its token.
fn caller(client: &Client, token: String) -> TestUser {
    TestUser {
        id: client.id.clone(),
        email: String::new(),
        token,
    }
}

#[track_caller]
fn assert_oauth_error(res: &Response, status: u16, error: &str) {
    assert_eq!(res.status, status, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    if error == "invalid_client" {
        assert!(
            res.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Basic realm=")),
            "{:?}",
            res.headers
        );
    }
}

async fn organisation(app: &TestApp, admin: &TestUser, name: &str, kind: &str) -> String {
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &json!({"name": name, "kind": kind}),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn the_lifecycle_of_a_service_account(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let ngo = organisation(app, &w.admin, "Partner NGO", "ngo").await;
    let res = create_client(
        app,
        &w.admin,
        &ngo,
        "partner",
        &["incidents:write", "incidents:read"],
    )
    .await;
    let created = res.expect(201);
    let id = created["account"]["id"].as_str().unwrap();
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/service-accounts/{id}").as_str())
    );
    assert_eq!(created["credentials"]["client_id"], id);
    let secret = created["credentials"]["client_secret"].as_str().unwrap();
    assert!(
        secret.starts_with("bwsk_") && secret.len() == 5 + 64,
        "{secret}"
    );
    let account = &created["account"];
    assert_eq!(account["role"], "partner");
    assert_eq!(account["organisation"]["id"], ngo.as_str());
    assert_eq!(
        account["scopes"],
        json!(["incidents:write", "incidents:read"])
    );
    assert_eq!(account["active"], true);
    assert!(account["last_used_at"].is_null());
    assert_eq!(account["secrets"].as_array().unwrap().len(), 1);
    assert!(!account.to_string().contains(secret));

    // Only the hash is stored, and the secret nowhere.
    assert_eq!(
        app.count(&format!(
            "service_account_secrets WHERE account_id = '{id}' AND secret_hash = '{}'",
            sha256_hex(secret)
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "service_account_secrets WHERE secret_hash = '{secret}' OR hint = '{secret}'"
        )),
        0
    );
    assert_eq!(
        app.count(&format!(
            "users WHERE id = '{id}' AND kind = 'service' AND password_hash NOT LIKE '%{}%'",
            &secret[5..]
        )),
        1
    );

    // Read back, listed; never among the people.
    let fetched = app
        .get(
            &format!("/api/v1/service-accounts/{id}"),
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    assert_eq!(&fetched, account);
    assert!(!fetched.to_string().contains(secret));
    let listed = app
        .get("/api/v1/service-accounts", Some(&w.admin.token))
        .await
        .expect(200);
    assert_eq!(listed["items"], json!([account]));
    let people = app
        .get("/api/v1/users?limit=200", Some(&w.admin.token))
        .await
        .expect(200);
    assert!(!people.to_string().contains(id), "{people}");
    app.get(&format!("/api/v1/users/{id}"), Some(&w.admin.token))
        .await
        .expect(404);
    app.patch(
        &format!("/api/v1/users/{id}"),
        Some(&w.admin.token),
        &json!({"role": "admin"}),
    )
    .await
    .expect(404);

    // A token, used to report: the account is the reporter.
    let client = Client {
        id: id.to_owned(),
        secret: secret.to_owned(),
        body: created.clone(),
    };
    let token = access_token(app, &client, "").await;
    let reported = app
        .post("/api/v1/incidents", Some(&token), &report(&w.mission))
        .await
        .expect(201);
    // A partner does not read reporter ids; the database names the account.
    assert_eq!(reported["reported_by_me"], true);
    assert_eq!(reported["organisation_id"], ngo.as_str());
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{}' AND reporter_id = '{id}'",
            reported["id"].as_str().unwrap()
        )),
        1
    );

    // Renamed, narrowed.
    let updated = app
        .patch(
            &format!("/api/v1/service-accounts/{id}"),
            Some(&w.admin.token),
            &json!({"name": "Partner intake v2", "scopes": ["incidents:read"]}),
        )
        .await
        .expect(200);
    assert_eq!(updated["name"], "Partner intake v2");
    assert_eq!(updated["scopes"], json!(["incidents:read"]));
    assert_eq!(
        app.count(&format!(
            "service_accounts WHERE id = '{id}' AND scopes = 'incidents:read'"
        )),
        1
    );

    // Retired: its token stops at once, its secret gets no new one.
    app.request(
        Method::DELETE,
        &format!("/api/v1/service-accounts/{id}"),
        Some(&w.admin.token),
        None,
    )
    .await
    .expect(204);
    app.get("/api/v1/incidents", Some(&token)).await.expect(401);
    let refused = token_basic(app, id, secret, "grant_type=client_credentials").await;
    assert_oauth_error(&refused, 401, "invalid_client");
    let retired = app
        .get(
            &format!("/api/v1/service-accounts/{id}"),
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    assert_eq!(retired["active"], false);
    assert_eq!(retired["secrets"], json!([]));
    // Its incident still names it.
    assert_eq!(
        app.count(&format!("incidents WHERE reporter_id = '{id}'")),
        1
    );
    // Non-admins cannot manage service accounts.
    let monitor = app.seed_user(Role::Monitor);
    app.get("/api/v1/service-accounts", Some(&monitor.token))
        .await
        .expect(403);
}

async fn both_client_authentication_methods_and_every_oauth_error(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(
        app,
        &w.admin,
        &app.org_id,
        "monitor",
        &["incidents:write", "incidents:read"],
    )
    .await;

    // client_secret_basic, with a narrower scope.
    let res = token_basic(
        app,
        &c.id,
        &c.secret,
        "grant_type=client_credentials&scope=incidents%3Aread",
    )
    .await;
    let body = res.expect(200);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "incidents:read");
    app.get(
        "/api/v1/incidents",
        Some(body["access_token"].as_str().unwrap()),
    )
    .await
    .expect(200);

    // client_secret_post, every scope of the account.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        c.id, c.secret
    );
    let res = token_raw(app, &[("content-type", FORM)], &form).await;
    let body = res.expect(200);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(body["scope"], "incidents:write incidents:read");

    let auth = basic(&c.id, &c.secret);
    let with_basic = [("content-type", FORM), ("authorization", auth.as_str())];
    // Both methods at once.
    assert_oauth_error(
        &token_raw(app, &with_basic, &form).await,
        400,
        "invalid_request",
    );
    // Not a form.
    assert_oauth_error(
        &token_raw(
            app,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            r#"{"grant_type":"client_credentials"}"#,
        )
        .await,
        400,
        "invalid_request",
    );
    // No grant type; a parameter twice.
    assert_oauth_error(
        &token_raw(app, &with_basic, "scope=incidents%3Aread").await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &token_raw(
            app,
            &with_basic,
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .await,
        400,
        "invalid_request",
    );
    // A grant type nobody knows; one that exists but is not for this client.
    assert_oauth_error(
        &token_raw(app, &with_basic, "grant_type=magic").await,
        400,
        "unsupported_grant_type",
    );
    assert_oauth_error(
        &token_raw(
            app,
            &with_basic,
            "grant_type=password&username=a&password=b",
        )
        .await,
        400,
        "unauthorized_client",
    );
    // A scope that does not exist; one the account does not have.
    assert_oauth_error(
        &token_raw(
            app,
            &with_basic,
            "grant_type=client_credentials&scope=admin",
        )
        .await,
        400,
        "invalid_scope",
    );
    assert_oauth_error(
        &token_raw(
            app,
            &with_basic,
            "grant_type=client_credentials&scope=stats%3Aread",
        )
        .await,
        400,
        "invalid_scope",
    );
    // Wrong secret (Basic, then post), unknown client, no authentication.
    let wrong = format!("bwsk_{}", "0".repeat(64));
    assert_oauth_error(
        &token_basic(app, &c.id, &wrong, "grant_type=client_credentials").await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &token_raw(
            app,
            &[("content-type", FORM)],
            &format!(
                "grant_type=client_credentials&client_id={}&client_secret={wrong}",
                c.id
            ),
        )
        .await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &token_basic(
            app,
            &uuid::Uuid::new_v4().to_string(),
            &c.secret,
            "grant_type=client_credentials",
        )
        .await,
        401,
        "invalid_client",
    );
    assert_oauth_error(
        &token_raw(
            app,
            &[("content-type", FORM)],
            "grant_type=client_credentials",
        )
        .await,
        401,
        "invalid_client",
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'auth.client_auth_failed' AND entity_id = '{}'",
            c.id
        )),
        2
    );
}

async fn password_paths_refuse_service_accounts(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let email = format!("{}@service-accounts.invalid", c.id);
    assert_eq!(app.count(&format!("users WHERE email = '{email}'")), 1);
    for password in [
        PASSWORD,
        c.secret.as_str(),
        "!service-account: signs in with a client secret",
    ] {
        app.login(&email, password).await.expect(401);
    }
    let token = access_token(app, &c, "").await;
    app.get("/api/v1/me", Some(&token)).await.expect(403);
    let res = app
        .post(
            "/api/v1/me/password",
            Some(&token),
            &json!({"current_password": c.secret, "new_password": "a brand new long passphrase"}),
        )
        .await;
    assert!(
        res.expect(403)["detail"]
            .as_str()
            .unwrap()
            .contains("not open to service accounts")
    );
    // The refresh path has nothing to refresh, and a service token is no refresh token.
    app.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": token}),
    )
    .await
    .expect(401);
    assert_eq!(
        app.count(&format!("refresh_tokens WHERE user_id = '{}'", c.id)),
        0
    );
}

async fn scopes_narrow_what_the_role_allows(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let ngo = organisation(app, &w.admin, "Partner NGO", "ngo").await;
    let c = client(
        app,
        &w.admin,
        &ngo,
        "partner",
        &["incidents:write", "incidents:read", "stats:read"],
    )
    .await;
    let reader = access_token(app, &c, "incidents:read").await;
    let res = app
        .post("/api/v1/incidents", Some(&reader), &report(&w.mission))
        .await;
    assert_eq!(
        res.expect(403)["detail"],
        "this token lacks the scope incidents:write"
    );
    assert_eq!(app.count("incidents"), 0);
    app.get("/api/v1/incidents", Some(&reader))
        .await
        .expect(200);
    app.get("/api/v1/missions", Some(&reader)).await.expect(200);
    let res = app.get("/api/v1/stats/incidents", Some(&reader)).await;
    assert_eq!(
        res.expect(403)["detail"],
        "this token lacks the scope stats:read"
    );

    let writer = access_token(app, &c, "incidents:write").await;
    app.post("/api/v1/incidents", Some(&writer), &report(&w.mission))
        .await
        .expect(201);
    let res = app.get("/api/v1/incidents", Some(&writer)).await;
    assert_eq!(
        res.expect(403)["detail"],
        "this token lacks the scope incidents:read"
    );

    // The role still rules: a partner's token with every scope cannot export
    // beyond what partners may, nor administer.
    let all = access_token(app, &c, "").await;
    app.get("/api/v1/stats/incidents", Some(&all))
        .await
        .expect(200);
    app.get("/api/v1/users", Some(&all)).await.expect(403);

    // Narrowing the account narrows its live tokens at once.
    app.patch(
        &format!("/api/v1/service-accounts/{}", c.id),
        Some(&w.admin.token),
        &json!({"scopes": ["incidents:read"]}),
    )
    .await
    .expect(200);
    let res = app.get("/api/v1/stats/incidents", Some(&all)).await;
    assert_eq!(
        res.expect(403)["detail"],
        "this token lacks the scope stats:read"
    );
    app.get("/api/v1/incidents", Some(&all)).await.expect(200);

    // A person's token is not narrowed.
    let person = app.seed_user(Role::Monitor);
    app.post(
        "/api/v1/incidents",
        Some(&person.token),
        &report(&w.mission),
    )
    .await
    .expect(201);
}

async fn roles_are_capped(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let ngo = organisation(app, &w.admin, "Partner NGO", "ngo").await;
    for (org, role, status) in [
        (app.org_id.as_str(), "admin", 422),
        (app.org_id.as_str(), "reviewer", 422),
        (app.org_id.as_str(), "analyst", 201),
        (app.org_id.as_str(), "monitor", 201),
        (ngo.as_str(), "admin", 422),
        (ngo.as_str(), "reviewer", 422),
        (ngo.as_str(), "analyst", 422),
        (ngo.as_str(), "partner", 201),
        (ngo.as_str(), "monitor", 201),
    ] {
        let res = create_client(app, &w.admin, org, role, &["incidents:read"]).await;
        assert_eq!(res.status, status, "{role} in {org}");
        let body = res.expect(status);
        if status == 422 {
            assert_eq!(body["errors"][0]["field"], "role", "{body}");
        }
    }
    assert_eq!(app.count("service_accounts"), 4);
    assert_eq!(
        app.count("users WHERE kind = 'service' AND role IN ('admin', 'reviewer')"),
        0
    );
    // Unknown scopes and none at all are refused.
    create_client(app, &w.admin, &ngo, "partner", &["everything"])
        .await
        .expect(422);
    create_client(app, &w.admin, &ngo, "partner", &[])
        .await
        .expect(422);
}

async fn secrets_rotate_two_at_a_time_and_revoke_at_once(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let first = client(app, &w.admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let path = format!("/api/v1/service-accounts/{}", first.id);
    let first_secret_id = first.body["credentials"]["secret"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_token = access_token(app, &first, "").await;

    // last_used_at on the account and the secret, set at token issue.
    let account = app.get(&path, Some(&w.admin.token)).await.expect(200);
    assert!(account["last_used_at"].is_string(), "{account}");
    assert!(
        account["secrets"][0]["last_used_at"].is_string(),
        "{account}"
    );
    assert_eq!(
        app.count(&format!(
            "service_account_secrets WHERE id = '{first_secret_id}' AND last_used_at IS NOT NULL"
        )),
        1
    );

    let added = app
        .post(&format!("{path}/secrets"), Some(&w.admin.token), &json!({}))
        .await
        .expect(201);
    let second = Client {
        id: first.id.clone(),
        secret: added["client_secret"].as_str().unwrap().to_owned(),
        body: added.clone(),
    };
    assert!(second.secret.starts_with("bwsk_"));
    assert_ne!(second.secret, first.secret);
    assert!(added["secret"]["last_used_at"].is_null());
    let res = app
        .post(&format!("{path}/secrets"), Some(&w.admin.token), &json!({}))
        .await;
    res.expect(409);
    assert_eq!(
        app.count(&format!(
            "service_account_secrets WHERE account_id = '{}' AND revoked_at IS NULL",
            first.id
        )),
        2
    );

    // Both secrets work during the rotation.
    let new_token = access_token(app, &second, "").await;
    app.get("/api/v1/incidents", Some(&old_token))
        .await
        .expect(200);
    app.get("/api/v1/incidents", Some(&new_token))
        .await
        .expect(200);

    // Revoking the first stops its token on the next request.
    app.request(
        Method::DELETE,
        &format!("{path}/secrets/{first_secret_id}"),
        Some(&w.admin.token),
        None,
    )
    .await
    .expect(204);
    app.get("/api/v1/incidents", Some(&old_token))
        .await
        .expect(401);
    app.get("/api/v1/incidents", Some(&new_token))
        .await
        .expect(200);
    assert_oauth_error(
        &token_basic(
            app,
            &first.id,
            &first.secret,
            "grant_type=client_credentials",
        )
        .await,
        401,
        "invalid_client",
    );
    app.request(
        Method::DELETE,
        &format!("{path}/secrets/{first_secret_id}"),
        Some(&w.admin.token),
        None,
    )
    .await
    .expect(404);
    // Room for the next rotation.
    app.post(&format!("{path}/secrets"), Some(&w.admin.token), &json!({}))
        .await
        .expect(201);
}

async fn audit_rows_name_the_service_account(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let c = client(app, &w.admin, &app.org_id, "monitor", &["incidents:write"]).await;
    let token = access_token(app, &c, "").await;
    let incident = app
        .post("/api/v1/incidents", Some(&token), &report(&w.mission))
        .await
        .expect(201);
    let id = incident["id"].as_str().unwrap();
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'incident.created' AND entity_id = '{id}' AND actor_id = '{}'",
            c.id
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE incident_id = '{id}' AND actor_id = '{}'",
            c.id
        )),
        1
    );
    let records = app
        .get(
            &format!("/api/v1/audit?actor_id={}", c.id),
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    let actions: Vec<&str> = records["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["actor_kind"], "service", "{r}");
            r["action"].as_str().unwrap()
        })
        .collect();
    assert_eq!(actions, ["incident.created", "auth.client_token_issued"]);
    let created = app
        .get(
            "/api/v1/audit?action=service_account.created",
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    assert_eq!(created["items"][0]["actor_id"], w.admin.id.as_str());
    assert_eq!(created["items"][0]["actor_kind"], "person");
    assert_eq!(created["items"][0]["entity_id"], c.id.as_str());
}

fn rate_limit_header(res: &Response) -> (Option<&str>, Option<&str>) {
    (res.header("ratelimit-policy"), res.header("ratelimit"))
}

async fn the_request_limit_is_shared_by_every_instance(backend: Backend) {
    // An hour's window: a test cannot straddle two of them but once an hour.
    let limits = |s: &mut basewatch::config::Settings| {
        s.client_rate_limit.requests = 4;
        s.client_rate_limit.window = std::time::Duration::from_secs(3600);
    };
    let app = spawn_app_with(backend, limits).await;
    let mut settings = app.settings.clone();
    limits(&mut settings);
    let sibling = app.spawn_sibling(settings);
    let admin = app.seed_user(Role::Admin);
    let c = client(&app, &admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let other = client(&app, &admin, &app.org_id, "monitor", &["incidents:read"]).await;
    let token = access_token(&app, &c, "").await;
    let other_token = access_token(&app, &other, "").await;

    let get = |address: String, token: String| {
        let client = app.client.clone();
        async move {
            let mut res = client
                .get(format!("{address}/api/v1/incidents"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let body = res.body().await.unwrap();
            Response {
                status: res.status().as_u16(),
                headers: res.headers().clone(),
                body: body.to_vec(),
            }
        }
    };
    for (i, address) in [&app.address, &sibling, &app.address, &sibling]
        .into_iter()
        .enumerate()
    {
        let res = get(address.clone(), token.clone()).await;
        res.expect(200);
        let (policy, state) = rate_limit_header(&res);
        assert_eq!(policy, Some("\"default\";q=4;w=3600"));
        let state = state.unwrap();
        assert!(
            state.starts_with(&format!("\"default\";r={};t=", 3 - i)),
            "{state}"
        );
    }
    for address in [&app.address, &sibling] {
        let res = get(address.clone(), token.clone()).await;
        let body = res.expect(429);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("more than 4 requests")
        );
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry));
        assert_eq!(rate_limit_header(&res).0, Some("\"default\";q=4;w=3600"));
        assert!(
            rate_limit_header(&res)
                .1
                .unwrap()
                .starts_with("\"default\";r=0;t=")
        );
    }
    // Another client has its own count; a person has none.
    let res = get(sibling.clone(), other_token).await;
    res.expect(200);
    assert!(
        rate_limit_header(&res)
            .1
            .unwrap()
            .starts_with("\"default\";r=3;")
    );
    let person = app.seed_user(Role::Monitor);
    let res = get(app.address.clone(), person.token.clone()).await;
    res.expect(200);
    assert_eq!(rate_limit_header(&res), (None, None));
    assert_eq!(
        app.count(&format!(
            "client_request_windows WHERE client_id = '{}' AND requests = 6",
            c.id
        )),
        1
    );
}

async fn two_service_accounts_and_a_person_act_at_once(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let ngo = organisation(app, &w.admin, "Partner NGO", "ngo").await;
    let a = client(app, &w.admin, &ngo, "partner", &["incidents:write"]).await;
    let b = client(app, &w.admin, &app.org_id, "monitor", &["incidents:write"]).await;
    let a = caller(&a, access_token(app, &a, "").await);
    let b = caller(&b, access_token(app, &b, "").await);
    let person = app.seed_user(Role::Monitor);
    let callers = [&a, &b, &person];
    type Answer<'a> = Pin<Box<dyn Future<Output = (String, Response)> + 'a>>;
    let requests: Vec<Answer> = (0..4)
        .flat_map(|_| callers.iter())
        .map(|who| -> Answer {
            let body = report(&w.mission);
            Box::pin(async move {
                (
                    who.id.clone(),
                    app.post("/api/v1/incidents", Some(&who.token), &body).await,
                )
            })
        })
        .collect();
    let answers = join_all(requests).await;
    assert_eq!(answers.len(), 12);
    for (who, res) in &answers {
        let incident = res.expect(201);
        let id = incident["id"].as_str().unwrap();
        assert_eq!(incident["reported_by_me"], true);
        assert_eq!(
            app.count(&format!(
                "incidents WHERE id = '{id}' AND reporter_id = '{who}'"
            )),
            1
        );
        assert_eq!(
            app.count(&format!(
                "audit_log WHERE action = 'incident.created' AND entity_id = '{id}' AND actor_id = '{who}'"
            )),
            1
        );
    }
    for who in callers {
        assert_eq!(
            app.count(&format!("incidents WHERE reporter_id = '{}'", who.id)),
            4
        );
    }
    assert_eq!(
        app.count(&format!(
            "incidents WHERE reporter_id = '{}' AND organisation_id = '{ngo}'",
            a.id
        )),
        4
    );
}
