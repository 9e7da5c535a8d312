//! GET /metrics: requests by route template, pool and database gauges, release
//! age; open in development, behind a token or absent in production.

use awc::http::Method;
use basewatch::config::{Environment, MetricsAccess};
use basewatch::domain::Role;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

crate::scenarios![
    requests_are_counted_by_route_template_not_raw_path,
    pool_database_and_release_age_are_read_at_scrape_time,
    a_token_guards_the_metrics_and_production_hides_them,
    the_webhook_outbox_and_attempts_are_read_from_the_database,
];

const TOKEN: &str = "metrics-token-0123456789abcdef0123456789";

/// The value of the one sample `series` (name and labels, exactly as encoded).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a sample value is a number"))
}

/// Scrapes without a token and checks the format.
pub async fn scrape(app: &TestApp) -> String {
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    String::from_utf8(res.body).expect("the metrics are UTF-8")
}

async fn requests_are_counted_by_route_template_not_raw_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let unknown_ids = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()];
    for id in unknown_ids {
        let path = format!("/api/v1/incidents/{id}");
        app.get(&path, Some(&admin.token)).await.expect(404);
        app.get(&format!("/scanner/{id}"), None).await.expect(404);
    }
    app.get("/health", None).await.expect(200);
    // An extension method: its name is no label value either.
    let odd = Method::from_bytes(b"BREW").unwrap();
    let res = app.request(odd, "/health", None, None).await;
    assert_eq!(res.status, 405);

    let text = scrape(&app).await;
    let incident = r#"route="/api/v1/incidents/{id}",method="GET""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"basewatch_http_requests_total{{{incident},status="404"}}"#)
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"basewatch_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"basewatch_http_requests_total{route="/health",method="OTHER",status="405"}"#
        ),
        Some(1.0),
        "{text}"
    );
    for id in unknown_ids {
        assert!(!text.contains(&id.to_string()), "a raw path leaked: {text}");
    }
    assert!(
        !text.contains("BREW") && !text.contains("scanner"),
        "{text}"
    );
    // The latency histogram: every request in the +Inf bucket, and in the count.
    let health = r#"route="/health",method="GET""#;
    assert_eq!(
        sample(
            &text,
            &format!(r#"basewatch_http_request_duration_seconds_bucket{{{health},le="+Inf"}}"#)
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("basewatch_http_request_duration_seconds_count{{{incident}}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert!(text.contains("# TYPE basewatch_http_request_duration_seconds histogram"));
    assert!(text.contains("# TYPE basewatch_http_requests_total counter"));

    // A scrape is counted by the next one.
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"basewatch_http_requests_total{route="/metrics",method="GET",status="200"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

async fn pool_database_and_release_age_are_read_at_scrape_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "basewatch_database_up"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "basewatch_db_pool_max_connections"),
        Some(f64::from(app.settings.pool_size)),
        "{text}"
    );
    let open = sample(&text, "basewatch_db_pool_connections").unwrap();
    let idle = sample(&text, "basewatch_db_pool_idle_connections").unwrap();
    let busy = sample(&text, "basewatch_db_pool_in_use_connections").unwrap();
    assert!(open >= 1.0 && open == idle + busy, "{text}");
    // No release yet: no age rather than a made-up one.
    assert!(!text.contains("basewatch_release_age_seconds"), "{text}");

    let built = chrono::Utc::now().naive_utc() - chrono::Duration::hours(2);
    let insert = format!(
        "INSERT INTO releases (id, month, built_at, epsilon, mechanism, parameters) \
         VALUES ('{}', '2020-01', '{}', 1.0, 'laplace', '{{}}')",
        uuid::Uuid::new_v4(),
        built.format("%Y-%m-%d %H:%M:%S")
    );
    app.db(|conn| diesel::RunQueryDsl::execute(diesel::sql_query(insert), conn));
    let text = scrape(&app).await;
    let age = sample(&text, "basewatch_release_age_seconds").expect("a release age");
    assert!((7200.0..7200.0 + 120.0).contains(&age), "{age}");
}

async fn a_token_guards_the_metrics_and_production_hides_them(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.environment = Environment::Production;
        s.metrics = MetricsAccess::Token(TOKEN.into());
    })
    .await;
    let admin = app.seed_user(Role::Admin);
    let same_length_wrong = format!("Bearer {}", "x".repeat(TOKEN.len()));
    let admin_bearer = format!("Bearer {}", admin.token);
    let prefix_only = format!("Bearer {}", &TOKEN[..TOKEN.len() - 1]);
    for sent in [
        None,
        Some(same_length_wrong.as_str()),
        Some(admin_bearer.as_str()),
        Some(prefix_only.as_str()),
        Some(TOKEN),
        Some("Basic bWV0cmljczp4"),
    ] {
        let headers: Vec<(&str, &str)> = sent.map(|v| ("authorization", v)).into_iter().collect();
        let res = app.raw(Method::GET, "/metrics", &headers, Vec::new()).await;
        res.expect(401);
        assert!(
            res.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{sent:?}"
        );
    }
    for scheme in ["Bearer", "bearer"] {
        let auth = format!("{scheme} {TOKEN}");
        let res = app
            .raw(
                Method::GET,
                "/metrics",
                &[("authorization", &auth)],
                Vec::new(),
            )
            .await;
        assert_eq!(res.status, 200, "{scheme}");
        let text = String::from_utf8(res.body).unwrap();
        // The refusals above were counted, and nothing of what they sent.
        assert_eq!(
            sample(
                &text,
                r#"basewatch_http_requests_total{route="/metrics",method="GET",status="401"}"#
            ),
            Some(6.0),
            "{text}"
        );
        assert!(!text.contains(&admin.token) && !text.contains(TOKEN));
    }

    // Production without a token: there is no such route.
    let app = spawn_app_with(backend, |s| {
        s.environment = Environment::Production;
        s.metrics = MetricsAccess::Off;
    })
    .await;
    app.get("/metrics", None).await.expect(404);
    let auth = format!("Bearer {TOKEN}");
    app.raw(
        Method::GET,
        "/metrics",
        &[("authorization", &auth)],
        Vec::new(),
    )
    .await
    .expect(404);
}

async fn the_webhook_outbox_and_attempts_are_read_from_the_database(backend: Backend) {
    // The test servers allow http to loopback targets.
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let monitor = app.seed_user(Role::Monitor);
    let (mission, _, _) = crate::reference::seed_mission(&app, &admin.token).await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, "basewatch_webhook_outbox_pending"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "basewatch_webhook_outbox_oldest_pending_age_seconds"),
        Some(0.0),
        "{text}"
    );
    // Port 9 (discard) refuses connections: every attempt fails and is retried later.
    let url = "http://127.0.0.1:9/hook";
    let body = serde_json::json!({"url": url, "events": ["incident.reported"]});
    app.post("/api/v1/webhooks", Some(&admin.token), &body)
        .await
        .expect(201);
    let mut report = crate::incidents::report(&mission);
    report["submit"] = true.into();
    app.post("/api/v1/incidents", Some(&monitor.token), &report)
        .await
        .expect(201);

    let failed = r#"basewatch_webhook_delivery_attempts_total{outcome="failed"}"#;
    let mut text = scrape(&app).await;
    for _ in 0..100 {
        if sample(&text, failed).is_some() {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        text = scrape(&app).await;
    }
    assert!(sample(&text, failed).is_some_and(|n| n >= 1.0), "{text}");
    assert_eq!(
        sample(&text, "basewatch_webhook_outbox_pending"),
        Some(1.0),
        "{text}"
    );
    let age = sample(&text, "basewatch_webhook_outbox_oldest_pending_age_seconds").unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
    assert!(text.contains("# TYPE basewatch_webhook_delivery_attempts_total counter"));
    assert_eq!(
        sample(&text, "basewatch_webhook_subscriptions_disabled"),
        Some(0.0)
    );
}
