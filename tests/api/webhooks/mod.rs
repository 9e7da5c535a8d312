//! Webhooks: subscriptions and their rights, signed deliveries to a real
//! receiver, retries and give-up, visibility per role at delivery time, SSRF
//! refusals, redelivery, ping and secret rotation.

mod delivery;
mod receiver;
mod subscriptions;
mod visibility;

use std::time::{Duration, Instant};

use basewatch::config::Settings;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser, spawn_app_with};
use crate::reference::seed_mission;

pub use receiver::{Receiver, Reply};

pub fn scenarios() -> Vec<crate::Scenario> {
    [
        subscriptions::scenarios(),
        delivery::scenarios(),
        visibility::scenarios(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub const INCIDENT_EVENTS: [&str; 4] = [
    "incident.reported",
    "incident.updated",
    "incident.status_changed",
    "incident.assessment_overridden",
];

pub struct World {
    pub app: TestApp,
    pub admin: TestUser,
    pub mission: String,
}

/// A server (with settings changed by `configure`), an admin and a mission.
pub async fn world(backend: Backend, configure: impl FnOnce(&mut Settings)) -> World {
    let app = spawn_app_with(backend, configure).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    World {
        app,
        admin,
        mission,
    }
}

/// A retry schedule shrunk 100,000 times: eleven attempts within seconds.
pub fn fast_retries(settings: &mut Settings) {
    settings.webhooks.retry_scale = 0.000_01;
}

/// Creates a subscription; its id and secret.
pub async fn subscribe(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let created = app
        .post(
            "/api/v1/webhooks",
            Some(token),
            &json!({"url": url, "events": events}),
        )
        .await
        .expect(201);
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// Reports an incident, submitted at once; its id.
pub async fn report_submitted(app: &TestApp, user: &TestUser, mission: &str) -> String {
    let mut body = crate::incidents::report(mission);
    body["submit"] = json!(true);
    crate::incidents::create(app, user, &body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The delivery log's first page.
pub async fn log(app: &TestApp, token: &str, subscription: &str) -> Vec<Value> {
    app.get(
        &format!("/api/v1/webhooks/{subscription}/deliveries"),
        Some(token),
    )
    .await
    .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Polls the log until `done` holds (20 s at most); the log then.
pub async fn log_until(
    app: &TestApp,
    token: &str,
    subscription: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let items = log(app, token, subscription).await;
        if done(&items) {
            return items;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the delivery log never got there: {items:#?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The statuses of a log, newest first.
pub fn statuses(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect()
}

/// A log of `n` attempts and no event waiting.
pub fn settled(n: usize) -> impl Fn(&[Value]) -> bool {
    move |items| items.len() == n && items.iter().all(|i| i["status"] != "pending")
}

/// A new NGO organisation; its id.
pub use crate::helpers::create_ngo;
