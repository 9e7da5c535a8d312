//! Intake: client ids and re-sends, validation, nearest base, classification,
//! who may report, who sees what, edits.

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, TestUser, spawn_app};
use crate::reference::seed_mission;

crate::scenarios![
    a_report_is_stored_with_what_the_server_derives,
    re_sends_of_one_id_are_idempotent,
    twenty_parallel_re_sends_store_one_incident,
    every_validation_rule_names_its_field,
    each_consent_classification,
    analysts_may_not_report,
    visibility_for_every_role,
    partners_never_read_others_narratives,
    lists_filter_and_page_newest_first,
    reported_by_me_lists_exactly_the_callers_reports,
    bounding_boxes_across_the_antimeridian,
    reporters_edit_drafts_with_if_match,
];

/// A report near Camp Bondsteel: 1.383 km from it, 35.432 km from Pristina.
pub fn report(mission: &str) -> Value {
    json!({
        "mission_id": mission,
        "occurred_at": "2024-03-10T22:15:00Z",
        "latitude": 42.35, "longitude": 21.26,
        "location_precision": "approximate",
        "venue": "bar_or_club",
        "exploitation_types": ["sexual_exploitation"],
        "means_of_control": ["debt_bondage", "withholds_documents"],
        "recruitment": ["job_offer"],
        "victims": {"count": 3, "age_bands": {"18-20": 2, "unknown": 1}, "sexes": {"female": 3}, "nationalities": ["MD", "UA"]},
        "perpetrators": [{"affiliation": "local_criminal_network", "count": 2}],
        "source": {"type": "third_party", "reliability": "B", "credibility": 2},
        "narrative": "Three women held in a bar near the base; passports taken by the owner."
    })
}

pub async fn create(app: &TestApp, user: &TestUser, body: &Value) -> Response {
    app.post("/api/v1/incidents", Some(&user.token), body).await
}

pub struct World {
    pub app: TestApp,
    pub admin: TestUser,
    pub mission: String,
    pub pristina: String,
    pub bondsteel: String,
}

pub async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, pristina, bondsteel) = seed_mission(&app, &admin.token).await;
    World {
        app,
        admin,
        mission,
        pristina,
        bondsteel,
    }
}

async fn a_report_is_stored_with_what_the_server_derives(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let res = create(&w.app, &monitor, &report(&w.mission)).await;
    let incident = res.expect(201);
    let id = incident["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/incidents/{id}").as_str())
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(incident["status"], "draft");
    assert_eq!(incident["version"], 1);
    assert_eq!(incident["reporter_id"], monitor.id.as_str());
    assert_eq!(incident["reported_by_me"], true);
    assert_eq!(incident["organisation_id"], w.app.org_id.as_str());
    assert_eq!(incident["base"]["id"], w.bondsteel.as_str());
    assert_eq!(incident["base"]["name"], "Camp Bondsteel");
    assert_eq!(incident["base"]["distance_km"], 1.383);
    assert_eq!(incident["consent"]["assessment"], "trafficking_indicated");
    assert_eq!(incident["consent"]["computed"], "trafficking_indicated");
    assert_eq!(
        incident["consent"]["indicators"],
        json!([
            "means_of_control:debt_bondage",
            "means_of_control:withholds_documents"
        ])
    );
    assert_eq!(incident["victims"]["nationalities"], json!(["MD", "UA"]));
    assert_eq!(incident["narrative"], report(&w.mission)["narrative"]);
    assert_eq!(incident["synthetic"], false);
    assert!(incident["submitted_at"].is_null());

    let fetched = w
        .app
        .get(&format!("/api/v1/incidents/{id}"), Some(&monitor.token))
        .await;
    assert_eq!(fetched.expect(200), incident);
    assert_eq!(fetched.header("etag"), Some("\"1\""));
    assert_eq!(
        w.app.count(&format!(
            "incidents WHERE id = '{id}' AND base_id = '{}'",
            w.bondsteel
        )),
        1
    );
    assert_eq!(
        w.app.count(&format!(
            "incident_exploitation_types WHERE incident_id = '{id}'"
        )),
        1
    );
    assert_eq!(
        w.app.count(&format!(
            "incident_events WHERE incident_id = '{id}' AND kind = 'created'"
        )),
        1
    );
    assert_eq!(
        w.app.count(&format!(
            "audit_log WHERE action = 'incident.created' AND entity_id = '{id}'"
        )),
        1
    );

    // Submitting at once, and the other base being nearer.
    let mut near_pristina = report(&w.mission);
    near_pristina["latitude"] = json!(42.60);
    near_pristina["longitude"] = json!(21.20);
    near_pristina["submit"] = json!(true);
    let submitted = create(&w.app, &monitor, &near_pristina).await.expect(201);
    assert_eq!(submitted["status"], "submitted");
    assert!(submitted["submitted_at"].is_string());
    assert_eq!(submitted["base"]["id"], w.pristina.as_str());
    assert_eq!(submitted["base"]["distance_km"], 7.431);
}

async fn re_sends_of_one_id_are_idempotent(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let id = uuid::Uuid::new_v4().to_string();
    let mut body = report(&w.mission);
    body["id"] = json!(id);
    let first = create(&w.app, &monitor, &body).await.expect(201);

    // The same report again (lists in another order, codes in lower case): the stored one.
    let mut same = body.clone();
    same["means_of_control"] = json!(["withholds_documents", "debt_bondage", "debt_bondage"]);
    same["victims"]["nationalities"] = json!(["ua", "md"]);
    let again = create(&w.app, &monitor, &same).await;
    assert_eq!(again.expect(200), first);
    assert_eq!(again.header("etag"), Some("\"1\""));

    let mut different = body.clone();
    different["victims"]["count"] = json!(4);
    let clash = create(&w.app, &monitor, &different).await.expect(409);
    assert!(
        clash["detail"]
            .as_str()
            .unwrap()
            .contains("different content")
    );
    // Another user re-using the id learns nothing about it.
    let other = w.app.seed_user(Role::Monitor);
    create(&w.app, &other, &body).await.expect(409);

    assert_eq!(w.app.count(&format!("incidents WHERE id = '{id}'")), 1);
    assert_eq!(w.app.count("incident_events"), 1);
    assert_eq!(
        w.app.count("audit_log WHERE action = 'incident.created'"),
        1
    );
}

async fn twenty_parallel_re_sends_store_one_incident(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["id"] = json!(uuid::Uuid::new_v4());
    let app = std::rc::Rc::new(w.app);
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (app, monitor, body) = (app.clone(), monitor.clone(), body.clone());
            actix_web::rt::spawn(async move { create(&app, &monitor, &body).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(app.count("incidents"), 1);
    assert_eq!(app.count("incident_events"), 1);
    assert_eq!(app.count("incident_exploitation_types"), 1);
    assert_eq!(app.count("audit_log WHERE action = 'incident.created'"), 1);
}

async fn every_validation_rule_names_its_field(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let good = report(&w.mission);
    let with = |path: &[&str], value: Value| {
        let mut body = good.clone();
        let mut target = &mut body;
        for key in &path[..path.len() - 1] {
            target = &mut target[*key];
        }
        target[path[path.len() - 1]] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let future = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let cases: Vec<(Value, &str)> = vec![
        (with(&["latitude"], json!(90.5)), "latitude"),
        (with(&["longitude"], json!(-180.01)), "longitude"),
        (with(&["latitude"], json!("north")), "latitude"),
        (with(&["occurred_at"], json!(future)), "occurred_at"),
        (with(&["occurred_at"], json!("yesterday")), "occurred_at"),
        (
            with(&["occurred_at"], json!("1899-12-31T23:00:00Z")),
            "occurred_at",
        ),
        (with(&["mission_id"], json!("not-a-uuid")), "mission_id"),
        (
            with(&["mission_id"], json!(uuid::Uuid::new_v4())),
            "mission_id",
        ),
        (with(&["victims", "count"], json!(-1)), "victims.count"),
        (with(&["victims", "count"], json!(2)), "victims.sexes"),
        (
            with(&["victims", "age_bands", "9-17"], json!(5)),
            "victims.age_bands",
        ),
        (
            with(&["victims", "age_bands", "12-14"], json!(1)),
            "victims.age_bands.12-14",
        ),
        (
            with(&["victims", "sexes", "female"], json!(-3)),
            "victims.sexes.female",
        ),
        (
            with(&["victims", "nationalities"], json!(["MD", "XX"])),
            "victims.nationalities[1]",
        ),
        (
            with(
                &["perpetrators"],
                json!([{"affiliation": "un_military", "contingent_country": "ZZ"}]),
            ),
            "perpetrators[0].contingent_country",
        ),
        (
            with(&["perpetrators"], json!([{"affiliation": "peacekeeper"}])),
            "perpetrators[0].affiliation",
        ),
        (
            with(&["source", "credibility"], json!(7)),
            "source.credibility",
        ),
        (
            with(&["source", "reliability"], json!("G")),
            "source.reliability",
        ),
        (
            with(&["exploitation_types"], json!(["organ_removal"])),
            "exploitation_types[0]",
        ),
        (
            with(&["means_of_control"], json!(["debt_bondage", "kindness"])),
            "means_of_control[1]",
        ),
        (with(&["venue"], json!("nightclub")), "venue"),
        (with(&["narrative"], json!("x".repeat(20_001))), "narrative"),
        (with(&["colour"], json!("blue")), "colour"),
        (with(&["status"], json!("verified")), "status"),
        (with(&["version"], json!(7)), "version"),
        (
            with(&["reporter_id"], json!(uuid::Uuid::new_v4())),
            "reporter_id",
        ),
        (
            with(&["consent_assessment"], json!("undetermined")),
            "consent_assessment",
        ),
        (with(&["base_id"], json!(uuid::Uuid::new_v4())), "base_id"),
        (with(&["id"], json!("not-a-uuid")), "id"),
        (with(&["submit"], json!("yes")), "submit"),
        (without("victims"), "victims"),
        (without("latitude"), "latitude"),
    ];
    for (body, field) in cases {
        let res = create(&w.app, &monitor, &body).await;
        assert_eq!(
            res.status,
            422,
            "{field}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let problem = res.expect(422);
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "expected {field}: {problem}"
        );
    }
    // A 20,000-character narrative is fine.
    create(
        &w.app,
        &monitor,
        &with(&["narrative"], json!("x".repeat(20_000))),
    )
    .await
    .expect(201);
    assert_eq!(w.app.count("incidents"), 1);
    assert_eq!(w.app.count("incident_events"), 1);
}

async fn each_consent_classification(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let base = |extra: Value| {
        let mut body = json!({
            "mission_id": w.mission, "occurred_at": "2023-01-01T00:00:00Z",
            "latitude": 42.5, "longitude": 21.2, "victims": {"count": 1}
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({"means_of_control": ["false_promises"]}),
            "trafficking_indicated",
            json!(["means_of_control:false_promises"]),
        ),
        (
            json!({"recruitment": ["abduction"], "movement_facilitated": true}),
            "trafficking_indicated",
            json!(["recruitment:abduction"]),
        ),
        (
            json!({"exploitation_types": ["sexual_exploitation"], "victims": {"count": 1, "age_bands": {"9-17": 1}}, "movement_facilitated": true}),
            "trafficking_indicated",
            json!(["minor_in_sexual_exploitation"]),
        ),
        (
            json!({"movement_facilitated": true, "recruitment": ["job_offer"]}),
            "smuggling_indicated",
            json!(["movement_facilitated"]),
        ),
        (
            json!({"means_of_control": ["other"]}),
            "undetermined",
            json!([]),
        ),
        (json!({}), "undetermined", json!([])),
    ];
    for (extra, expected, indicators) in cases {
        let incident = create(&w.app, &monitor, &base(extra.clone()))
            .await
            .expect(201);
        assert_eq!(incident["consent"]["assessment"], expected, "{extra}");
        assert_eq!(incident["consent"]["indicators"], indicators, "{extra}");
    }
    let listed = w
        .app
        .get(
            "/api/v1/incidents?consent_assessment=smuggling_indicated",
            Some(&monitor.token),
        )
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

async fn analysts_may_not_report(backend: Backend) {
    let w = world(backend).await;
    for role in [Role::Monitor, Role::Reviewer, Role::Admin, Role::Partner] {
        let user = w.app.seed_user(role);
        create(&w.app, &user, &report(&w.mission)).await.expect(201);
    }
    let analyst = w.app.seed_user(Role::Analyst);
    create(&w.app, &analyst, &report(&w.mission))
        .await
        .expect(403);
    w.app
        .post("/api/v1/incidents", None, &report(&w.mission))
        .await
        .expect(401);
    assert_eq!(w.app.count("incidents"), 4);
}

/// Ids of incidents by who reported them and whether they were submitted.
async fn visibility_for_every_role(backend: Backend) {
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
    let monitor = app.seed_user(Role::Monitor);
    let monitor2 = app.seed_user(Role::Monitor);
    let partner = app.seed_user_in(Role::Partner, &ngo);
    let partner2 = app.seed_user_in(Role::Partner, &ngo);
    let other_ngo = app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Other NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_partner = app.seed_user_in(Role::Partner, &other_ngo);
    let reviewer = app.seed_user(Role::Reviewer);
    let analyst = app.seed_user(Role::Analyst);

    let mut ids = std::collections::HashMap::new();
    for (name, user, submit) in [
        ("monitor_draft", &monitor, false),
        ("monitor_sent", &monitor, true),
        ("monitor2_sent", &monitor2, true),
        ("partner_draft", &partner, false),
        ("partner_sent", &partner, true),
        ("reviewer_draft", &reviewer, false),
    ] {
        let mut body = report(&w.mission);
        body["submit"] = json!(submit);
        ids.insert(
            name,
            create(app, user, &body).await.expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let all = [
        "monitor_draft",
        "monitor_sent",
        "monitor2_sent",
        "partner_draft",
        "partner_sent",
        "reviewer_draft",
    ];
    let sent = ["monitor_sent", "monitor2_sent", "partner_sent"];
    let expectations: Vec<(&TestUser, Vec<&str>)> = vec![
        (&monitor, vec!["monitor_draft", "monitor_sent"]),
        (&monitor2, vec!["monitor2_sent"]),
        (&partner, vec!["partner_draft", "partner_sent"]),
        (&partner2, vec!["partner_sent"]),
        (&other_partner, vec![]),
        (&reviewer, [&sent[..], &["reviewer_draft"]].concat()),
        (&analyst, sent.to_vec()),
        (&w.admin, sent.to_vec()),
    ];
    for (user, visible) in expectations {
        for name in all {
            let res = app
                .get(
                    &format!("/api/v1/incidents/{}", ids[name]),
                    Some(&user.token),
                )
                .await;
            let expected = if visible.contains(&name) { 200 } else { 404 };
            assert_eq!(res.status, expected, "{:?} reading {name}", user.email);
            res.expect(expected);
        }
        let list = app
            .get("/api/v1/incidents", Some(&user.token))
            .await
            .expect(200);
        let mut listed: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                ids.iter()
                    .find(|(_, id)| **id == i["id"])
                    .map(|(n, _)| *n)
                    .unwrap()
            })
            .collect();
        listed.sort();
        let mut want = visible.clone();
        want.sort();
        assert_eq!(listed, want, "{:?} listing", user.email);
    }
    // A draft filter never reveals others' drafts.
    let drafts = app
        .get("/api/v1/incidents?status=draft", Some(&w.admin.token))
        .await
        .expect(200);
    assert_eq!(drafts["items"].as_array().unwrap().len(), 0);
}

async fn partners_never_read_others_narratives(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let partner = app.seed_user(Role::Partner);
    let colleague = app.seed_user(Role::Partner);
    let monitor = app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let by_monitor = create(app, &monitor, &body).await.expect(201);
    let by_partner = create(app, &partner, &body).await.expect(201);

    let own = app
        .get(
            &format!("/api/v1/incidents/{}", by_partner["id"].as_str().unwrap()),
            Some(&partner.token),
        )
        .await
        .expect(200);
    assert!(own["narrative"].is_string());
    for id in [&by_monitor["id"], &by_partner["id"]] {
        let seen = app
            .get(
                &format!("/api/v1/incidents/{}", id.as_str().unwrap()),
                Some(&colleague.token),
            )
            .await
            .expect(200);
        assert!(seen.get("narrative").is_none(), "{seen}");
    }
    let list = app
        .get("/api/v1/incidents", Some(&colleague.token))
        .await
        .expect(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert!(items.iter().all(|i| i.get("narrative").is_none()), "{list}");
    let analyst = app.seed_user(Role::Analyst);
    let seen = app
        .get(
            &format!("/api/v1/incidents/{}", by_partner["id"].as_str().unwrap()),
            Some(&analyst.token),
        )
        .await
        .expect(200);
    assert!(seen["narrative"].is_string());
}

async fn lists_filter_and_page_newest_first(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let other = app.seed_user(Role::Monitor);
    let analyst = app.seed_user(Role::Analyst);
    let mut ids = Vec::new();
    for day in 1..=7 {
        let mut body = report(&w.mission);
        body["occurred_at"] = json!(format!("2024-01-{day:02}T12:00:00Z"));
        body["submit"] = json!(true);
        if day % 2 == 0 {
            body["exploitation_types"] = json!(["forced_labour"]);
            body["latitude"] = json!(42.60);
            body["longitude"] = json!(21.20);
        }
        let who = if day == 7 { &other } else { &monitor };
        ids.push(
            create(app, who, &body).await.expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Two on the same instant: the id breaks the tie.
    let mut twin = report(&w.mission);
    twin["occurred_at"] = json!("2024-01-03T12:00:00Z");
    twin["submit"] = json!(true);
    let twin_id = create(app, &monitor, &twin).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut seen = Vec::new();
    let mut path = "/api/v1/incidents?limit=3".to_owned();
    loop {
        let page = app.get(&path, Some(&analyst.token)).await.expect(200);
        seen.extend(page["items"].as_array().unwrap().iter().map(|i| {
            (
                i["occurred_at"].as_str().unwrap().to_owned(),
                i["id"].as_str().unwrap().to_owned(),
            )
        }));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/incidents?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties by id");
    assert!(seen.iter().any(|(_, id)| *id == twin_id));

    let token = analyst.token.as_str();
    let count = |query: String| async move {
        app.get(&format!("/api/v1/incidents?{query}"), Some(token))
            .await
            .expect(200)["items"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(format!("mission_id={}", w.mission)).await, 8);
    assert_eq!(
        count(format!("mission_id={}", uuid::Uuid::new_v4())).await,
        0
    );
    assert_eq!(count(format!("base_id={}", w.pristina)).await, 3);
    assert_eq!(count(format!("base_id={}", w.bondsteel)).await, 5);
    assert_eq!(count("exploitation_type=forced_labour".into()).await, 3);
    assert_eq!(
        count("exploitation_type=sexual_exploitation".into()).await,
        5
    );
    assert_eq!(
        count("occurred_from=2024-01-03T00:00:00Z&occurred_to=2024-01-05T00:00:00Z".into()).await,
        3
    );
    assert_eq!(count("status=submitted".into()).await, 8);
    assert_eq!(count("status=verified".into()).await, 0);
    assert_eq!(
        count("consent_assessment=trafficking_indicated".into()).await,
        8
    );
    assert_eq!(count("bbox=21.15,42.55,21.25,42.65".into()).await, 3);
    assert_eq!(count("bbox=179,-10,-179,10".into()).await, 0);
    let mine = app
        .get("/api/v1/incidents?reported_by_me=true", Some(&other.token))
        .await
        .expect(200);
    assert_eq!(mine["items"], json!([mine["items"][0]]));
    assert_eq!(mine["items"][0]["id"], ids[6].as_str());

    for bad in [
        "limit=0",
        "limit=500",
        "cursor=xyz",
        "status=lost",
        "bbox=1,2,3",
        "mission_id=nope",
        "occurred_from=monday",
        "exploitation_type=x",
        "sort=asc",
    ] {
        app.get(&format!("/api/v1/incidents?{bad}"), Some(&analyst.token))
            .await
            .expect(400);
    }
}

/// Ids of a list, in the order given.
async fn listed_ids(app: &TestApp, user: &TestUser, query: &str) -> Vec<String> {
    app.get(&format!("/api/v1/incidents?{query}"), Some(&user.token))
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A reviewer sees every submitted report; the filter leaves only theirs.
async fn reported_by_me_lists_exactly_the_callers_reports(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let reviewer = app.seed_user(Role::Reviewer);
    let mut everyone = Vec::new();
    for (day, who) in [
        (1, app.seed_user(Role::Monitor)),
        (2, app.seed_user(Role::Monitor)),
        (3, reviewer.clone()),
        (4, app.seed_user(Role::Partner)),
        (5, app.seed_user(Role::Monitor)),
    ] {
        let mut body = report(&w.mission);
        body["occurred_at"] = json!(format!("2024-01-{day:02}T12:00:00Z"));
        body["submit"] = json!(true);
        everyone.push(
            create(app, &who, &body).await.expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let own = everyone[2].clone();
    everyone.reverse();
    assert_eq!(
        listed_ids(app, &reviewer, "reported_by_me=true").await,
        [own]
    );
    assert_eq!(
        listed_ids(app, &reviewer, "reported_by_me=false").await,
        everyone
    );
    assert_eq!(listed_ids(app, &reviewer, "").await, everyone);
}

/// A box whose west edge is east of its east edge crosses 180°.
async fn bounding_boxes_across_the_antimeridian(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let mission = app
        .post(
            "/api/v1/missions",
            Some(&w.admin.token),
            &json!({"name": "Pacific", "country": "FJ", "mandate_start": "2020-01-01"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/missions/{mission}/bases"),
        Some(&w.admin.token),
        &json!({"name": "Taveuni", "latitude": -16.8, "longitude": 179.99}),
    )
    .await
    .expect(201);
    let monitor = app.seed_user(Role::Monitor);
    let mut ids = Vec::new();
    for (day, latitude, longitude) in [
        (1, -16.5, 179.5),
        (2, -16.5, -179.5),
        (3, -16.5, 178.5),
        (4, -16.5, -178.5),
        (5, -9.5, 179.5),
    ] {
        let body = json!({
            "mission_id": mission, "occurred_at": format!("2024-01-{day:02}T12:00:00Z"),
            "latitude": latitude, "longitude": longitude, "victims": {"count": 1}, "submit": true,
        });
        ids.push(
            create(app, &monitor, &body).await.expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let inside = vec![ids[1].clone(), ids[0].clone()];
    let analyst = app.seed_user(Role::Analyst);
    assert_eq!(
        listed_ids(app, &analyst, "bbox=179,-20,-179,-10").await,
        inside
    );
    let export = app
        .get(
            "/api/v1/exports/incidents?format=ndjson&bbox=179,-20,-179,-10",
            Some(&analyst.token),
        )
        .await;
    assert_eq!(export.status, 200);
    let exported: Vec<String> = String::from_utf8(export.body)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(exported, inside);
}

async fn reporters_edit_drafts_with_if_match(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let incident = create(app, &monitor, &report(&w.mission)).await.expect(201);
    let id = incident["id"].as_str().unwrap();
    let path = format!("/api/v1/incidents/{id}");
    let edit = |token: &str, if_match: Option<&str>, body: Value| {
        let mut headers = vec![
            ("content-type", "application/merge-patch+json".to_owned()),
            ("authorization", format!("Bearer {token}")),
        ];
        if let Some(v) = if_match {
            headers.push(("if-match", v.to_owned()));
        }
        let path = path.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.raw(
                awc::http::Method::PATCH,
                &path,
                &headers,
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    let move_to_pristina = json!({"latitude": 42.60, "longitude": 21.20, "means_of_control": null, "movement_facilitated": true, "narrative": null});

    edit(&monitor.token, None, move_to_pristina.clone())
        .await
        .expect(428);
    edit(&monitor.token, Some("\"7\""), move_to_pristina.clone())
        .await
        .expect(412);
    edit(&monitor.token, Some("garbage"), move_to_pristina.clone())
        .await
        .expect(412);
    edit(&monitor.token, Some("\"1\""), json!({"status": "verified"}))
        .await
        .expect(422);
    edit(&monitor.token, Some("\"1\""), json!({"submit": true}))
        .await
        .expect(422);
    edit(
        &monitor.token,
        Some("\"1\""),
        json!({"victims": {"count": 0}}),
    )
    .await
    .expect(422);
    assert_eq!(
        app.count(&format!("incidents WHERE id = '{id}' AND version = 1")),
        1
    );

    let res = edit(&monitor.token, Some("\"1\""), move_to_pristina.clone()).await;
    let edited = res.expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["base"]["id"], w.pristina.as_str());
    assert_eq!(edited["consent"]["assessment"], "smuggling_indicated");
    assert_eq!(edited["means_of_control"], json!([]));
    assert!(edited.get("narrative").is_none());
    assert_eq!(edited["venue"], "bar_or_club", "fields not sent are kept");
    // The old version is stale now.
    edit(&monitor.token, Some("\"1\""), json!({"venue": "street"}))
        .await
        .expect(412);

    let history = app
        .get(&format!("{path}/history"), Some(&monitor.token))
        .await
        .expect(200);
    let entries = history["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["kind"], "edited");
    assert_eq!(entries[1]["version"], 2);
    assert_eq!(
        entries[1]["changed_fields"],
        json!([
            "latitude",
            "longitude",
            "means_of_control",
            "movement_facilitated",
            "narrative"
        ])
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'incident.updated' AND entity_id = '{id}'"
        )),
        1
    );

    // RFC 9110 If-Match: a weak tag never matches, any tag of a list may, `*` matches
    // whatever version is current.
    edit(&monitor.token, Some("W/\"2\""), json!({"venue": "street"}))
        .await
        .expect(412);
    let listed = edit(
        &monitor.token,
        Some("\"1\", \"2\""),
        json!({"venue": "street"}),
    )
    .await;
    assert_eq!(listed.expect(200)["version"], 3);
    let any = edit(&monitor.token, Some("*"), json!({"venue": "bar_or_club"})).await;
    assert_eq!(any.expect(200)["version"], 4);
    assert_eq!(any.header("etag"), Some("\"4\""));

    // Once submitted, neither the reporter nor anyone else edits it.
    let submitted = app
        .raw(
            awc::http::Method::POST,
            &format!("{path}/transitions"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", monitor.token)),
                ("if-match", "\"4\""),
            ],
            json!({"to": "submitted"}).to_string().into_bytes(),
        )
        .await;
    submitted.expect(200);
    edit(&monitor.token, Some("\"5\""), json!({"venue": "street"}))
        .await
        .expect(409);
    edit(&reviewer.token, Some("\"5\""), json!({"venue": "street"}))
        .await
        .expect(403);
    let stranger = app.seed_user(Role::Monitor);
    edit(&stranger.token, Some("\"5\""), json!({"venue": "street"}))
        .await
        .expect(404);
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND version = 5 AND venue = 'bar_or_club'"
        )),
        1
    );
}
