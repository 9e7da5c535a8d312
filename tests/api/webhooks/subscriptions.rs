//! Subscriptions: their lifecycle, bad input, what a service account may
//! manage, and the SSRF refusals (as written, after DNS, at connection time).

use base64::Engine;
use basewatch::domain::Role;
use serde_json::{Value, json};

use super::{Receiver, create_ngo, log_until, subscribe, world};
use crate::helpers::Backend;
use crate::service_accounts::{access_token, client};

crate::scenarios![
    the_lifecycle_of_a_subscription,
    bad_subscriptions_are_422,
    service_accounts_manage_their_own_subscriptions,
    inside_targets_are_refused_when_saved_and_when_connecting,
];

async fn the_lifecycle_of_a_subscription(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let created = w
        .app
        .post(
            "/api/v1/webhooks",
            Some(&w.admin.token),
            &json!({"url": "https://hooks.example.org/basewatch", "events": ["incident.reported", "ping", "ping"],
                    "description": "Oversight intake"}),
        )
        .await;
    let body = created.expect(201);
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/webhooks/{id}").as_str())
    );
    let secret = body["secret"].as_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(body["events"], json!(["incident.reported", "ping"]));
    assert_eq!(body["organisation_id"], w.app.org_id.as_str());
    assert_eq!(body["role"], "analyst");
    assert_eq!(body["paused"], false);
    assert!(body["disabled"].is_null());

    let path = format!("/api/v1/webhooks/{id}");
    let shown = w.app.get(&path, Some(&w.admin.token)).await.expect(200);
    assert!(shown.get("secret").is_none());
    let list = w
        .app
        .get("/api/v1/webhooks", Some(&w.admin.token))
        .await
        .expect(200);
    assert_eq!(list["items"], json!([shown]));

    let updated = w
        .app
        .patch(
            &path,
            Some(&w.admin.token),
            &json!({"events": ["incident.status_changed"], "paused": true, "description": ""}),
        )
        .await
        .expect(200);
    assert_eq!(updated["events"], json!(["incident.status_changed"]));
    assert_eq!(updated["paused"], true);
    assert!(updated["description"].is_null());
    assert_eq!(w.app.count("audit_log WHERE action LIKE 'webhook.%'"), 2);

    w.app
        .request(awc::http::Method::DELETE, &path, Some(&w.admin.token), None)
        .await
        .expect(204);
    w.app.get(&path, Some(&w.admin.token)).await.expect(404);
    w.app
        .get(&format!("{path}/deliveries"), Some(&w.admin.token))
        .await
        .expect(404);
    w.app
        .get("/api/v1/webhooks/not-a-uuid", Some(&w.admin.token))
        .await
        .expect(404);
    assert_eq!(w.app.count("webhook_subscriptions"), 0);
}

async fn bad_subscriptions_are_422(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let ngo = create_ngo(&w.app, &w.admin).await;
    let ok = |patch: Value| {
        let mut body = json!({"url": "https://hooks.example.org/x", "events": ["ping"]});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, field) in [
        (ok(json!({"events": []})), "events"),
        (ok(json!({"events": ["incident.deleted"]})), "events[0]"),
        (ok(json!({"events": "ping"})), "events"),
        (ok(json!({"url": "https://exa\u{0}mple.org/"})), "url"),
        (
            ok(json!({"url": format!("https://example.org/{}", "a".repeat(2000))})),
            "url",
        ),
        (ok(json!({"url": 42})), "url"),
        (ok(json!({"description": "a\u{0}b"})), "description"),
        (ok(json!({"description": "x".repeat(501)})), "description"),
        (ok(json!({"role": "monitor"})), "role"),
        (ok(json!({"role": "overlord"})), "role"),
        (ok(json!({"organisation_id": ngo, "role": "admin"})), "role"),
        (
            ok(json!({"organisation_id": uuid::Uuid::new_v4().to_string()})),
            "organisation_id",
        ),
        (ok(json!({"organisation_id": "nope"})), "organisation_id"),
        (ok(json!({"secret": "whsec_mine"})), "secret"),
    ] {
        let res = w
            .app
            .post("/api/v1/webhooks", Some(&w.admin.token), &body)
            .await;
        let problem = res.expect(422);
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body}: {problem}"
        );
    }
    assert_eq!(w.app.count("webhook_subscriptions"), 0);
    let (id, _) = subscribe(
        &w.app,
        &w.admin.token,
        "https://hooks.example.org/y",
        &["ping"],
    )
    .await;
    for body in [
        json!({"events": []}),
        json!({"paused": "yes"}),
        json!({"url": "ftp://example.org/"}),
    ] {
        w.app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                Some(&w.admin.token),
                &body,
            )
            .await
            .expect(422);
    }
}

async fn service_accounts_manage_their_own_subscriptions(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let account = client(
        &w.app,
        &w.admin,
        &w.app.org_id,
        "partner",
        &["webhooks:manage"],
    )
    .await;
    let token = access_token(&w.app, &account, "").await;
    let (mine, _) = subscribe(&w.app, &token, "https://hooks.example.org/mine", &["ping"]).await;
    let (admins, _) = subscribe(
        &w.app,
        &w.admin.token,
        "https://hooks.example.org/a",
        &["ping"],
    )
    .await;
    let listed = w
        .app
        .get("/api/v1/webhooks", Some(&token))
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], mine.as_str());
    assert_eq!(
        w.app
            .get("/api/v1/webhooks", Some(&w.admin.token))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    w.app
        .get(&format!("/api/v1/webhooks/{admins}"), Some(&token))
        .await
        .expect(404);
    // Its own organisation and role only.
    for body in [
        json!({"url": "https://hooks.example.org/z", "events": ["ping"], "role": "analyst"}),
        json!({"url": "https://hooks.example.org/z", "events": ["ping"],
               "organisation_id": uuid::Uuid::new_v4().to_string()}),
    ] {
        w.app
            .post("/api/v1/webhooks", Some(&token), &body)
            .await
            .expect(403);
    }
    assert_eq!(w.app.count("webhook_subscriptions"), 2);
}

async fn inside_targets_are_refused_when_saved_and_when_connecting(backend: Backend) {
    let w = world(backend, |s| s.webhooks.allow_private = false).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",
        "https://LocalHost./hook",
        "https://2130706433/hook",
        "http://hooks.example.org/hook",
        "https://user:secret@hooks.example.org/hook",
        // Addresses that carry or relay an inside IPv4 address, and documentation ranges.
        "https://[64:ff9b:1::a00:1]/hook",
        "https://[::ffff:0:7f00:1]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://[2001:db8::1]/hook",
        "https://203.0.113.1/hook",
        // What the URL parser would read otherwise than written.
        "https://hooks.example.org/\r\nX-Injected: 1",
        " https://hooks.example.org/hook",
        "https:///hooks.example.org",
        "https://hooks.example.org\\@127.0.0.1/",
        "https://hooks.example.org:0/hook",
    ] {
        let problem = w
            .app
            .post(
                "/api/v1/webhooks",
                Some(&w.admin.token),
                &json!({"url": url, "events": ["ping"]}),
            )
            .await
            .expect(422);
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    assert_eq!(w.app.count("webhook_subscriptions"), 0);

    // A name that pointed elsewhere when saved and resolves inside now (DNS
    // rebinding), and a literal address written around the API: refused when
    // connecting, and the receiver inside never hears of it.
    let rx = Receiver::start().await;
    let (id, _) = subscribe(
        &w.app,
        &w.admin.token,
        "https://hooks.example.org/hook",
        &["ping"],
    )
    .await;
    // This machine's name: not `localhost`, yet it resolves (via /etc/hosts) to
    // an address inside.
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let inside = std::net::ToSocketAddrs::to_socket_addrs(&(machine.as_str(), 443))
        .expect("the machine's name resolves")
        .all(|a| basewatch::webhooks::outbound::refused(a.ip()).is_some());
    assert!(inside, "{machine} must resolve inside for this test");
    for (n, (host, why)) in [
        (machine.as_str(), "resolves to no public address"),
        ("localhost", "loopback address (localhost)"),
        ("127.0.0.1", "loopback"),
    ]
    .into_iter()
    .enumerate()
    {
        w.app.db(|conn| {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!(
                    "UPDATE webhook_subscriptions SET url = 'https://{host}:{}/hook'",
                    rx.port
                )),
                conn,
            )
        });
        w.app
            .post(
                &format!("/api/v1/webhooks/{id}/ping"),
                Some(&w.admin.token),
                &json!({}),
            )
            .await
            .expect(202);
        let items = log_until(&w.app, &w.admin.token, &id, |items| {
            items.iter().filter(|i| i["status"] != "pending").count() == n + 1
        })
        .await;
        let attempt = items.iter().find(|i| i["status"] != "pending").unwrap();
        let error = attempt["error"].as_str().unwrap();
        assert!(error.contains(why), "{host}: {error}");
        assert!(attempt["response_status"].is_null());
    }
    rx.settles_at(0).await;
    let _ = Role::Admin;
}
