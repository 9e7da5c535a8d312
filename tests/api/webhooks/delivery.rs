//! Signed delivery, order, retries with the same webhook-id, final answers,
//! Retry-After, give-up and disable, redelivery, ping, rotation, rollback.

use std::time::Duration;

use basewatch::auth::Actor;
use basewatch::domain::{OrganisationId, Role, UserId};
use serde_json::json;

use super::{
    INCIDENT_EVENTS, Receiver, Reply, fast_retries, log, log_until, report_submitted, settled,
    statuses, subscribe, world,
};
use crate::changes::move_to;
use crate::helpers::Backend;

crate::scenarios![
    changes_are_delivered_signed_and_in_order,
    failures_are_retried_with_the_same_webhook_id_and_final_answers_are_not,
    retry_after_is_honoured,
    a_subscription_that_keeps_failing_is_given_up_and_disabled,
    ping_and_redelivery,
    both_secrets_sign_during_a_rotation_overlap,
    a_rolled_back_change_announces_nothing,
    reports_stored_in_a_batch_are_announced,
    three_workers_deliver_each_event_once_and_in_order_per_incident,
];

async fn changes_are_delivered_signed_and_in_order(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    let (sub, secret) = subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let reviewer = w.app.seed_user(Role::Reviewer);

    // A draft is the reporter's alone: nothing is announced until it is submitted.
    let draft = crate::incidents::create(&w.app, &monitor, &crate::incidents::report(&w.mission))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    rx.settles_at(0).await;
    move_to(&w.app, &monitor, &draft, 1, "submitted", None).await;
    move_to(&w.app, &reviewer, &draft, 2, "in_review", None).await;
    let reported = report_submitted(&w.app, &monitor, &w.mission).await;

    let got = rx.wait_for(3).await;
    let bodies: Vec<_> = got.iter().map(|r| r.json()).collect();
    let by_incident = |id: &str| {
        bodies
            .iter()
            .filter(|b| b["data"]["incident_id"] == id)
            .collect::<Vec<_>>()
    };
    let moves = by_incident(&draft);
    assert_eq!(moves.len(), 2);
    assert_eq!(moves[0]["type"], "incident.status_changed");
    assert_eq!(moves[0]["data"]["change"]["from"], "draft");
    assert_eq!(moves[0]["data"]["change"]["to"], "submitted");
    assert_eq!(moves[0]["data"]["change"]["version"], 2);
    assert_eq!(moves[1]["data"]["change"]["from"], "submitted");
    assert_eq!(moves[1]["data"]["change"]["to"], "in_review");
    assert!(
        moves[0]["data"]["change"]["position"].as_i64()
            < moves[1]["data"]["change"]["position"].as_i64()
    );
    let new = by_incident(&reported);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["type"], "incident.reported");
    assert_eq!(new[0]["data"]["incident"]["id"], reported.as_str());
    assert_eq!(new[0]["data"]["incident"]["status"], "submitted");
    // The admin's subscription takes an analyst's view: narratives included.
    assert_eq!(
        new[0]["data"]["incident"]["narrative"],
        crate::incidents::report(&w.mission)["narrative"]
    );
    let mut ids = Vec::new();
    for r in &got {
        assert!(r.verifies_with(&secret), "signature of {:?}", r.json());
        assert!(!r.verifies_with(&basewatch::webhooks::signing::new_secret()));
        assert_eq!(r.header("content-type"), "application/json");
        assert!(r.header("webhook-id").starts_with("msg_"));
        let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
        assert!(
            chrono::DateTime::parse_from_rfc3339(r.json()["timestamp"].as_str().unwrap()).is_ok()
        );
        ids.push(r.header("webhook-id").to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "one webhook-id per event");
    rx.settles_at(3).await;

    let items = log_until(&w.app, &w.admin.token, &sub, settled(3)).await;
    for item in &items {
        assert_eq!(item["status"], "succeeded", "{item}");
        assert_eq!(item["attempt"], 1);
        assert_eq!(item["response_status"], 200);
        assert!(item["latency_ms"].as_i64().unwrap() >= 0);
        let excerpt = item["response_excerpt"].as_str().unwrap();
        assert!(excerpt.starts_with("answer 200") && excerpt.chars().count() == 256);
    }
}

async fn failures_are_retried_with_the_same_webhook_id_and_final_answers_are_not(backend: Backend) {
    let w = world(backend, fast_retries).await;
    let rx = Receiver::start().await;
    let (sub, secret) = subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    let monitor = w.app.seed_user(Role::Monitor);

    rx.script(&[Reply(500, None), Reply(503, None)]);
    report_submitted(&w.app, &monitor, &w.mission).await;
    let got = rx.wait_for(3).await;
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == got[0].header("webhook-id"))
    );
    assert!(got.iter().all(|r| r.verifies_with(&secret)));
    let items = log_until(&w.app, &w.admin.token, &sub, settled(3)).await;
    assert_eq!(statuses(&items), ["succeeded", "failed", "failed"]);
    assert_eq!(
        items
            .iter()
            .map(|i| i["attempt"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [3, 2, 1]
    );
    assert_eq!(items[2]["response_status"], 500);

    // 410, 400 and a redirect are final: one request each, never followed.
    for (n, status) in [410, 400, 307].into_iter().enumerate() {
        rx.script(&[Reply(status, None)]);
        report_submitted(&w.app, &monitor, &w.mission).await;
        rx.wait_for(4 + n).await;
        let got = rx.settles_at(4 + n).await;
        assert!(
            got.iter().all(|r| r.path == "/hook"),
            "a redirect was followed"
        );
        let items = log_until(&w.app, &w.admin.token, &sub, settled(4 + n)).await;
        assert_eq!(items[0]["status"], "given_up");
        assert_eq!(items[0]["response_status"], status);
        assert_eq!(items[0]["attempt"], 1);
    }
}

async fn retry_after_is_honoured(backend: Backend) {
    let w = world(backend, fast_retries).await;
    let rx = Receiver::start().await;
    subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    let monitor = w.app.seed_user(Role::Monitor);
    rx.script(&[Reply(429, Some("2"))]);
    report_submitted(&w.app, &monitor, &w.mission).await;
    let got = rx.wait_for(2).await;
    // The schedule alone would retry within milliseconds.
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}

async fn a_subscription_that_keeps_failing_is_given_up_and_disabled(backend: Backend) {
    let w = world(backend, fast_retries).await;
    let rx = Receiver::start().await;
    let (sub, _) = subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    let monitor = w.app.seed_user(Role::Monitor);
    rx.fallback(Reply(500, None));
    let max = basewatch::webhooks::MAX_ATTEMPTS as usize;
    report_submitted(&w.app, &monitor, &w.mission).await;
    rx.wait_for(max).await;
    let items = log_until(&w.app, &w.admin.token, &sub, settled(max)).await;
    assert_eq!(items[0]["status"], "given_up");
    assert!(statuses(&items[1..]).iter().all(|s| *s == "failed"));
    rx.settles_at(max).await;
    let path = format!("/api/v1/webhooks/{sub}");
    let disabled = w.app.get(&path, Some(&w.admin.token)).await.expect(200);
    let reason = disabled["disabled"]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{max} consecutive failed attempts")),
        "{reason}"
    );
    assert!(reason.contains("HTTP 500"), "{reason}");

    // While disabled, events wait.
    rx.fallback(Reply(200, None));
    let waiting = report_submitted(&w.app, &monitor, &w.mission).await;
    rx.settles_at(max).await;
    let items = log(&w.app, &w.admin.token, &sub).await;
    assert_eq!(items[0]["status"], "pending");
    assert_eq!(items[0]["incident_id"], waiting.as_str());

    let enabled = w
        .app
        .patch(&path, Some(&w.admin.token), &json!({"paused": false}))
        .await
        .expect(200);
    assert!(enabled["disabled"].is_null());
    let got = rx.wait_for(max + 1).await;
    assert_eq!(got[max].json()["data"]["incident_id"], waiting.as_str());
}

async fn ping_and_redelivery(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    let (sub, secret) = subscribe(&w.app, &w.admin.token, &rx.url, &["incident.reported"]).await;
    let base = format!("/api/v1/webhooks/{sub}");
    let ping = w
        .app
        .post(&format!("{base}/ping"), Some(&w.admin.token), &json!({}))
        .await
        .expect(202);
    let event = ping["event_id"].as_str().unwrap().to_owned();
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "ping");
    assert_eq!(got[0].json()["data"]["subscription_id"], sub.as_str());
    assert_eq!(got[0].header("webhook-id"), format!("msg_{event}"));
    assert!(got[0].verifies_with(&secret));
    log_until(&w.app, &w.admin.token, &sub, settled(1)).await;

    let redeliver = format!("{base}/redeliver");
    let queued = w
        .app
        .post(
            &redeliver,
            Some(&w.admin.token),
            &json!({"event_id": event}),
        )
        .await
        .expect(202);
    assert_eq!(queued["queued"], 1);
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].header("webhook-id"), format!("msg_{event}"));
    log_until(&w.app, &w.admin.token, &sub, settled(2)).await;

    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let queued = w
        .app
        .post(&redeliver, Some(&w.admin.token), &json!({"since": since}))
        .await
        .expect(202);
    assert_eq!(queued["queued"], 1);
    rx.wait_for(3).await;

    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for (body, status) in [
        (json!({}), 422),
        (json!({"event_id": event, "since": since}), 422),
        (json!({"since": future}), 422),
        (json!({"since": "yesterday"}), 422),
        (json!({"event_id": "not-a-uuid"}), 422),
        (json!({"event_id": 7}), 422),
        (json!({"event_id": "a\u{0}b"}), 422),
        (json!({"event_id": uuid::Uuid::new_v4().to_string()}), 404),
    ] {
        w.app
            .post(&redeliver, Some(&w.admin.token), &body)
            .await
            .expect(status);
    }
    // Another subscription's event is not this one's.
    let (other, _) = subscribe(&w.app, &w.admin.token, &rx.url, &["ping"]).await;
    w.app
        .post(
            &format!("/api/v1/webhooks/{other}/redeliver"),
            Some(&w.admin.token),
            &json!({"event_id": event}),
        )
        .await
        .expect(404);
    rx.settles_at(3).await;
}

async fn both_secrets_sign_during_a_rotation_overlap(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    let (sub, old) = subscribe(&w.app, &w.admin.token, &rx.url, &["ping"]).await;
    let base = format!("/api/v1/webhooks/{sub}");
    let rotated = w
        .app
        .post(
            &format!("{base}/rotate-secret"),
            Some(&w.admin.token),
            // a whole number written as a float is an integer to JSON Schema
            &json!({"overlap_seconds": 3600.0}),
        )
        .await
        .expect(200);
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated["previous_expires_at"].is_string());
    let shown = w.app.get(&base, Some(&w.admin.token)).await.expect(200);
    assert_eq!(
        shown["previous_secret_expires_at"],
        rotated["previous_expires_at"]
    );
    assert!(shown.get("secret").is_none());

    w.app
        .post(&format!("{base}/ping"), Some(&w.admin.token), &json!({}))
        .await
        .expect(202);
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2);
    assert!(got[0].verifies_with(&old) && got[0].verifies_with(&new));

    let newest = w
        .app
        .post(
            &format!("{base}/rotate-secret"),
            Some(&w.admin.token),
            &json!({"overlap_seconds": 0}),
        )
        .await
        .expect(200);
    assert!(newest["previous_expires_at"].is_null());
    let newest = newest["secret"].as_str().unwrap();
    w.app
        .post(&format!("{base}/ping"), Some(&w.admin.token), &json!({}))
        .await
        .expect(202);
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].header("webhook-signature").split(' ').count(), 1);
    assert!(got[1].verifies_with(newest));
    assert!(!got[1].verifies_with(&new) && !got[1].verifies_with(&old));

    for body in [
        json!({"overlap_seconds": -1}),
        json!({"overlap_seconds": 604_801}),
        json!({"overlap_seconds": 60.5}),
        json!({"overlap_seconds": "1"}),
    ] {
        w.app
            .post(
                &format!("{base}/rotate-secret"),
                Some(&w.admin.token),
                &body,
            )
            .await
            .expect(422);
    }
    // The secret is stored sealed, never as written.
    assert_eq!(
        w.app.count(&format!(
            "webhook_subscriptions WHERE secret LIKE '%{}%'",
            &newest[6..20]
        )),
        0
    );
}

async fn a_rolled_back_change_announces_nothing(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let reviewer = w.app.seed_user(Role::Reviewer);
    let id = report_submitted(&w.app, &monitor, &w.mission).await;
    rx.wait_for(1).await;
    assert_eq!(w.app.count("webhook_deliveries"), 1);

    // Refused changes: the monitor may not review, a stale version, an illegal move.
    let path = format!("/api/v1/incidents/{id}/transitions");
    for (user, version, to, status) in [
        (&monitor, 1, "in_review", 403),
        (&reviewer, 2, "in_review", 412),
        (&reviewer, 1, "verified", 409),
    ] {
        crate::changes::versioned(
            &w.app,
            awc::http::Method::POST,
            &path,
            user,
            version,
            "application/json",
            json!({"to": to}),
        )
        .await
        .expect(status);
    }

    // A change recorded, then rolled back with its transaction.
    let actor = Actor::person(
        UserId::from_db(monitor.id.clone()),
        Role::Monitor,
        OrganisationId::from_db(w.app.org_id.clone()),
    );
    let object = crate::incidents::report(&w.mission)
        .as_object()
        .unwrap()
        .clone();
    let content = basewatch::incidents::content::IncidentContent::from_object(object).unwrap();
    let keys = w.app.data_keys.clone();
    let rolled_back = uuid::Uuid::new_v4().to_string();
    let result: Result<(), basewatch::error::ApiError> = w.app.db(|conn| {
        Ok(basewatch::db::in_transaction(conn, |conn| {
            basewatch::incidents::service::report(
                conn,
                &actor,
                &keys,
                &rolled_back,
                &content,
                true,
            )?;
            let queued: i64 = diesel::RunQueryDsl::get_result(
                diesel::QueryDsl::count(basewatch::db::schema::webhook_deliveries::table),
                conn,
            )?;
            assert_eq!(
                queued, 2,
                "the event is written in the change's transaction"
            );
            Err(basewatch::error::ApiError::Conflict("roll back".into()))
        }))
    });
    assert!(result.is_err());
    assert_eq!(
        w.app
            .count(&format!("incidents WHERE id = '{rolled_back}'")),
        0
    );
    assert_eq!(w.app.count("webhook_deliveries"), 1);
    rx.settles_at(1).await;
}

/// The batch stores reports around `service::record` (a group at a time):
/// its reports reach subscribers like any other, drafts excepted, once each.
async fn reports_stored_in_a_batch_are_announced(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    let (_, secret) = subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let mut items: Vec<_> = (0..3).map(|_| crate::batch::item(&w.mission)).collect();
    for item in &mut items[..2] {
        item["submit"] = json!(true);
    }
    let results = crate::batch::send_array(&w.app, &monitor, &items).await;
    assert_eq!(crate::batch::statuses(&results), [201, 201, 201]);
    // A re-sent batch stores nothing and announces nothing more.
    let again = crate::batch::send_array(&w.app, &monitor, &items).await;
    assert_eq!(crate::batch::statuses(&again), [200, 200, 200]);

    let got = rx.settles_at(2).await;
    let mut announced: Vec<String> = got
        .iter()
        .map(|r| {
            assert!(r.verifies_with(&secret));
            let body = r.json();
            assert_eq!(body["type"], "incident.reported");
            assert_eq!(body["data"]["incident"]["status"], "submitted");
            body["data"]["incident_id"].as_str().unwrap().to_owned()
        })
        .collect();
    announced.sort();
    let mut submitted: Vec<String> = items[..2]
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    submitted.sort();
    assert_eq!(
        announced, submitted,
        "the two submitted reports, the draft not"
    );
}

async fn three_workers_deliver_each_event_once_and_in_order_per_incident(backend: Backend) {
    let w = world(backend, |_| {}).await;
    // Two more instances over the same database: three workers claim at once.
    w.app.spawn_sibling(w.app.settings.clone());
    w.app.spawn_sibling(w.app.settings.clone());
    let rx = Receiver::start().await;
    let (sub, secret) = subscribe(&w.app, &w.admin.token, &rx.url, &INCIDENT_EVENTS).await;
    // Paused while the events queue, so that every worker finds all of them at once.
    let path = format!("/api/v1/webhooks/{sub}");
    w.app
        .patch(&path, Some(&w.admin.token), &json!({"paused": true}))
        .await
        .expect(200);
    let monitor = w.app.seed_user(Role::Monitor);
    let reviewer = w.app.seed_user(Role::Reviewer);
    let mut incidents = Vec::new();
    for _ in 0..12 {
        let id = report_submitted(&w.app, &monitor, &w.mission).await;
        move_to(&w.app, &reviewer, &id, 1, "in_review", None).await;
        incidents.push(id);
    }
    w.app
        .patch(&path, Some(&w.admin.token), &json!({"paused": false}))
        .await
        .expect(200);
    rx.wait_for(24).await;
    let got = rx.settles_at(24).await;
    let mut ids: Vec<_> = got
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24, "an event was delivered twice");
    assert!(got.iter().all(|r| r.verifies_with(&secret)));
    for id in &incidents {
        let kinds: Vec<_> = got
            .iter()
            .map(|r| r.json())
            .filter(|b| b["data"]["incident_id"] == id.as_str())
            .map(|b| b["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kinds,
            ["incident.reported", "incident.status_changed"],
            "{id}"
        );
    }
}
