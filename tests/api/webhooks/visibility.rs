//! What a subscription carries: only its organisation's incidents for a
//! partner, never a narrative it may not read; and a demotion or a
//! deactivation applies at delivery time.

use basewatch::domain::Role;
use serde_json::json;

use super::{INCIDENT_EVENTS, Receiver, create_ngo, log_until, report_submitted, world};
use crate::helpers::{Backend, TestUser};
use crate::service_accounts::{access_token, client};

crate::scenarios![
    partner_subscriptions_carry_only_their_organisation_without_others_narratives,
    demotion_and_deactivation_apply_at_delivery_time,
];

async fn partner_subscriptions_carry_only_their_organisation_without_others_narratives(
    backend: Backend,
) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    let ngo = create_ngo(&w.app, &w.admin).await;
    let system = client(
        &w.app,
        &w.admin,
        &ngo,
        "partner",
        &["incidents:write", "webhooks:manage"],
    )
    .await;
    let system = TestUser {
        id: system.id.clone(),
        email: String::new(),
        token: access_token(&w.app, &system, "").await,
    };
    let own = w
        .app
        .post(
            "/api/v1/webhooks",
            Some(&system.token),
            &json!({"url": format!("{}/system", rx.url), "events": INCIDENT_EVENTS}),
        )
        .await
        .expect(201);
    assert_eq!(own["organisation_id"], ngo.as_str());
    assert_eq!(own["role"], "partner");
    let by_admin = w
        .app
        .post(
            "/api/v1/webhooks",
            Some(&w.admin.token),
            &json!({"url": format!("{}/admin", rx.url), "events": INCIDENT_EVENTS,
                    "organisation_id": ngo, "role": "partner"}),
        )
        .await
        .expect(201);
    assert_eq!(by_admin["role"], "partner");

    let office_monitor = w.app.seed_user(Role::Monitor);
    let ngo_partner = w.app.seed_user_in(Role::Partner, &ngo);
    let elsewhere = report_submitted(&w.app, &office_monitor, &w.mission).await;
    let colleague = report_submitted(&w.app, &ngo_partner, &w.mission).await;
    let mine = report_submitted(&w.app, &system, &w.mission).await;
    let got = rx.wait_for(4).await;
    rx.settles_at(4).await;
    let narrative = crate::incidents::report(&w.mission)["narrative"].clone();
    for r in &got {
        let body = r.json();
        let incident = &body["data"]["incident"];
        assert_ne!(
            body["data"]["incident_id"],
            elsewhere.as_str(),
            "another organisation's incident"
        );
        assert_eq!(incident["organisation_id"], ngo.as_str());
        assert!(incident.get("reporter_id").is_none(), "{incident}");
        let own_report = r.path == "/hook/system" && incident["id"] == mine.as_str();
        if own_report {
            assert_eq!(incident["narrative"], narrative);
        } else {
            assert!(
                incident.get("narrative").is_none(),
                "{} read a narrative: {incident}",
                r.path
            );
        }
    }
    // Not even the log of a partner's subscription names another organisation's incident.
    for (id, token) in [
        (&own["id"], &system.token),
        (&by_admin["id"], &w.admin.token),
    ] {
        let items = super::log(&w.app, token, id.as_str().unwrap()).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items.iter().all(|i| i["incident_id"] != elsewhere.as_str()));
    }
    for path in ["/hook/system", "/hook/admin"] {
        let mut ids: Vec<_> = got
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json()["data"]["incident_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        let mut expected = vec![colleague.clone(), mine.clone()];
        expected.sort();
        assert_eq!(ids, expected, "{path}");
    }
}

async fn demotion_and_deactivation_apply_at_delivery_time(backend: Backend) {
    let w = world(backend, |_| {}).await;
    let rx = Receiver::start().await;
    let other_admin = w.app.seed_user(Role::Admin);
    let account = client(
        &w.app,
        &w.admin,
        &w.app.org_id,
        "analyst",
        &["webhooks:manage"],
    )
    .await;
    let system = access_token(&w.app, &account, "").await;
    let mut subscriptions = Vec::new();
    for token in [&other_admin.token, &system] {
        let created = w
            .app
            .post(
                "/api/v1/webhooks",
                Some(token),
                &json!({"url": rx.url, "events": INCIDENT_EVENTS}),
            )
            .await
            .expect(201);
        let id = created["id"].as_str().unwrap().to_owned();
        w.app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                Some(token),
                &json!({"paused": true}),
            )
            .await
            .expect(200);
        subscriptions.push(id);
    }
    let monitor = w.app.seed_user(Role::Monitor);
    report_submitted(&w.app, &monitor, &w.mission).await;
    assert_eq!(w.app.count("webhook_deliveries WHERE state = 'pending'"), 2);

    w.app
        .patch(
            &format!("/api/v1/users/{}", other_admin.id),
            Some(&w.admin.token),
            &json!({"role": "reviewer"}),
        )
        .await
        .expect(200);
    w.app
        .patch(
            &format!("/api/v1/service-accounts/{}", account.id),
            Some(&w.admin.token),
            &json!({"active": false}),
        )
        .await
        .expect(200);
    for (id, why) in subscriptions
        .iter()
        .zip(["no longer holds the admin role", "deactivated"])
    {
        w.app
            .patch(
                &format!("/api/v1/webhooks/{id}"),
                Some(&w.admin.token),
                &json!({"paused": false}),
            )
            .await
            .expect(200);
        let items = log_until(&w.app, &w.admin.token, id, |i| {
            i.first().is_some_and(|i| i["status"] == "skipped")
        })
        .await;
        assert!(
            items[0]["error"].as_str().unwrap().contains(why),
            "{items:?}"
        );
        assert!(items[0]["response_status"].is_null());
    }
    rx.settles_at(0).await;
}
