//! Bulk intake (POST /incidents/batch): per-item answers in order, re-sends,
//! JSON arrays and NDJSON, the 1,000-item cap, broken JSON mid-stream, roles,
//! the body limit.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, TestUser, join_all, spawn_app_with};
use crate::incidents::{create, report, world};
use crate::reference::seed_mission;

crate::scenarios![
    a_mixed_batch_is_answered_item_by_item_in_order,
    two_identical_batches_at_once_store_each_report_once,
    ndjson_in_and_out,
    a_thousand_items_are_taken_and_the_next_refused,
    broken_json_mid_array_keeps_what_came_before,
    who_may_send_a_batch,
    each_item_may_be_as_large_as_the_body_limit,
];

const PATH: &str = "/api/v1/incidents/batch";

pub(crate) fn item(mission: &str) -> Value {
    let mut body = report(mission);
    body["id"] = json!(uuid::Uuid::new_v4().to_string());
    body
}

async fn send(
    app: &TestApp,
    user: &TestUser,
    content_type: &str,
    accept: &str,
    body: Vec<u8>,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    app.raw(
        Method::POST,
        PATH,
        &[
            ("authorization", &auth),
            ("content-type", content_type),
            ("accept", accept),
        ],
        body,
    )
    .await
}

pub(crate) async fn send_array(app: &TestApp, user: &TestUser, items: &[Value]) -> Vec<Value> {
    let res = send(
        app,
        user,
        "application/json",
        "application/json",
        serde_json::to_vec(items).unwrap(),
    )
    .await;
    let body = res.expect(200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    body.as_array().expect("an array of results").clone()
}

pub(crate) fn statuses(results: &[Value]) -> Vec<u64> {
    results
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

/// Each result names its place, the item's id, and an incident or a problem matching its status.
pub(crate) fn check_shape(results: &[Value], items: &[Value]) {
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["index"], i, "{r}");
        assert_eq!(
            r["id"],
            items.get(i).map_or(Value::Null, |it| it["id"].clone()),
            "{r}"
        );
        let status = r["status"].as_u64().unwrap();
        if status < 300 {
            assert_eq!(r["incident"]["id"], r["id"], "{r}");
            assert!(r.get("problem").is_none(), "{r}");
        } else {
            assert_eq!(r["problem"]["status"], status, "{r}");
            assert!(
                r["problem"]["detail"].is_string() && r["problem"]["type"].is_string(),
                "{r}"
            );
            assert!(r.get("incident").is_none(), "{r}");
        }
    }
}

pub(crate) fn stored(app: &TestApp, id: &str) -> (i64, i64, i64) {
    (
        app.count(&format!("incidents WHERE id = '{id}'")),
        app.count(&format!(
            "incident_events WHERE incident_id = '{id}' AND kind = 'created'"
        )),
        app.count(&format!(
            "audit_log WHERE action = 'incident.created' AND entity_id = '{id}'"
        )),
    )
}

async fn a_mixed_batch_is_answered_item_by_item_in_order(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let resent = item(&w.mission);
    let clashing = item(&w.mission);
    create(&w.app, &monitor, &resent).await.expect(201);
    create(&w.app, &monitor, &clashing).await.expect(201);

    let good = [item(&w.mission), item(&w.mission)];
    let mut clash = clashing.clone();
    clash["victims"]["count"] = json!(4);
    clash["victims"]["sexes"] = json!({"female": 4});
    let mut invalid = item(&w.mission);
    invalid["latitude"] = json!(200);
    let mut no_id = item(&w.mission);
    no_id.as_object_mut().unwrap().remove("id");
    let mut unknown_mission = item(&w.mission);
    unknown_mission["mission_id"] = json!(uuid::Uuid::new_v4().to_string());
    let mut submitted = good[1].clone();
    submitted["submit"] = json!(true);
    let items = vec![
        good[0].clone(),
        resent.clone(),
        clash,
        invalid,
        no_id,
        unknown_mission,
        submitted,
    ];

    let before = (
        w.app.count("incidents"),
        w.app.count("incident_events"),
        w.app.count("audit_log"),
    );
    let results = send_array(&w.app, &monitor, &items).await;
    assert_eq!(statuses(&results), [201, 200, 409, 422, 422, 422, 201]);
    check_shape(&results, &items);
    assert_eq!(results[0]["incident"]["status"], "draft");
    assert_eq!(results[5]["problem"]["errors"][0]["field"], "mission_id");
    assert_eq!(results[6]["incident"]["status"], "submitted");
    assert_eq!(results[1]["incident"]["victims"]["count"], 3);
    assert_eq!(results[3]["problem"]["errors"][0]["field"], "latitude");
    assert_eq!(results[4]["problem"]["errors"][0]["field"], "id");
    assert_eq!(results[4]["id"], Value::Null);

    for g in &good {
        assert_eq!(stored(&w.app, g["id"].as_str().unwrap()), (1, 1, 1));
    }
    assert_eq!(stored(&w.app, resent["id"].as_str().unwrap()), (1, 1, 1));
    assert_eq!(w.app.count("incidents"), before.0 + 2);
    assert_eq!(w.app.count("incident_events"), before.1 + 2);
    let audited = w.app.count("audit_log");
    assert_eq!(
        w.app.count("audit_log WHERE action = 'incident.created'"),
        4,
        "two single posts, two from the batch"
    );

    // The whole batch again: nothing new is stored.
    let again = send_array(&w.app, &monitor, &items).await;
    assert_eq!(statuses(&again), [200, 200, 409, 422, 422, 422, 200]);
    check_shape(&again, &items);
    assert_eq!(
        (
            w.app.count("incidents"),
            w.app.count("incident_events"),
            w.app.count("audit_log")
        ),
        (before.0 + 2, before.1 + 2, audited)
    );
}

async fn two_identical_batches_at_once_store_each_report_once(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let items: Vec<Value> = (0..150).map(|_| item(&w.mission)).collect();
    let answers = join_all(vec![
        send_array(&w.app, &monitor, &items),
        send_array(&w.app, &monitor, &items),
    ])
    .await;
    assert_eq!((answers[0].len(), answers[1].len()), (150, 150));
    for (i, (one, other)) in answers[0].iter().zip(&answers[1]).enumerate() {
        let mut pair = [one["status"].as_u64(), other["status"].as_u64()];
        pair.sort();
        assert_eq!(pair, [Some(200), Some(201)], "item {i}");
    }
    assert_eq!(w.app.count("incidents"), 150);
    assert_eq!(w.app.count("incident_events"), 150);
    assert_eq!(
        w.app.count("audit_log WHERE action = 'incident.created'"),
        150
    );
}

async fn ndjson_in_and_out(backend: Backend) {
    let w = world(backend).await;
    let partner = w.app.seed_user(Role::Partner);
    let items = [item(&w.mission), item(&w.mission), item(&w.mission)];
    let mut body = Vec::new();
    body.extend(serde_json::to_vec(&items[0]).unwrap());
    body.extend(b"\r\n\n{\"broken\": \n");
    body.extend(serde_json::to_vec(&items[1]).unwrap());
    body.extend(b"\n");
    body.extend(serde_json::to_vec(&items[2]).unwrap());
    let res = send(
        &w.app,
        &partner,
        "application/x-ndjson",
        "application/x-ndjson",
        body.clone(),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/x-ndjson"));
    let text = String::from_utf8(res.body.clone()).unwrap();
    assert!(text.ends_with('\n'));
    let results: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(statuses(&results), [201, 400, 201, 201]);
    // A broken line is answered on its own, and the lines after it are read.
    assert!(
        results[1]["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{}",
        results[1]
    );
    assert_eq!(results[2]["id"], items[1]["id"]);
    assert_eq!(results[3]["index"], 3);
    for it in &items {
        assert_eq!(stored(&w.app, it["id"].as_str().unwrap()), (1, 1, 1));
    }

    // NDJSON in, a JSON array out (the default answer).
    let res = send(&w.app, &partner, "application/x-ndjson", "*/*", body).await;
    let results = res.expect(200);
    assert_eq!(statuses(results.as_array().unwrap()), [200, 400, 200, 200]);
    assert_eq!(w.app.count("incidents"), 3);
}

async fn a_thousand_items_are_taken_and_the_next_refused(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let items: Vec<Value> = (0..1001).map(|_| item(&w.mission)).collect();
    let results = send_array(&w.app, &monitor, &items).await;
    assert_eq!(results.len(), 1001);
    assert!(
        results[..1000].iter().all(|r| r["status"] == 201),
        "every one of the first 1,000 is stored"
    );
    check_shape(&results[..1000], &items);
    let refused = &results[1000];
    assert_eq!(
        (refused["index"].as_u64(), refused["status"].as_u64()),
        (Some(1000), Some(400))
    );
    assert!(
        refused["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("at most 1000 items"),
        "{refused}"
    );
    assert_eq!(w.app.count("incidents"), 1000);
    assert_eq!(w.app.count("incident_events"), 1000);
    assert_eq!(
        stored(&w.app, items[1000]["id"].as_str().unwrap()),
        (0, 0, 0)
    );
}

async fn broken_json_mid_array_keeps_what_came_before(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let items = [item(&w.mission), item(&w.mission), item(&w.mission)];
    let body = format!(
        "[{}, {} , {{\"mission_id\": ]\n, {}]",
        items[0], items[1], items[2]
    );
    let results = send_array_raw(&w.app, &monitor, body.into_bytes()).await;
    assert_eq!(statuses(&results), [201, 201, 400]);
    assert_eq!(results[2]["index"], 2);
    assert!(
        results[2]["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{}",
        results[2]
    );
    assert_eq!(stored(&w.app, items[0]["id"].as_str().unwrap()), (1, 1, 1));
    assert_eq!(stored(&w.app, items[1]["id"].as_str().unwrap()), (1, 1, 1));
    assert_eq!(
        w.app.count("incidents"),
        2,
        "nothing after the broken item is read"
    );

    // An item that is JSON but not a report is answered 422, and the batch goes on.
    let body = format!("[\n{}, 7, \"x\"]", items[2]);
    let results = send_array_raw(&w.app, &monitor, body.into_bytes()).await;
    assert_eq!(statuses(&results), [201, 422, 422]);
    // A body that is not an array is refused whole.
    let res = send(
        &w.app,
        &monitor,
        "application/json",
        "application/json",
        items[0].to_string().into_bytes(),
    )
    .await;
    res.expect(400);
    // An array cut short.
    let body = format!("[{}", item(&w.mission));
    let results = send_array_raw(&w.app, &monitor, body.into_bytes()).await;
    assert_eq!(statuses(&results), [201, 400]);
}

async fn send_array_raw(app: &TestApp, user: &TestUser, body: Vec<u8>) -> Vec<Value> {
    let res = send(app, user, "application/json", "application/json", body).await;
    res.expect(200).as_array().unwrap().clone()
}

async fn who_may_send_a_batch(backend: Backend) {
    let w = world(backend).await;
    let analyst = w.app.seed_user(Role::Analyst);
    let items = [item(&w.mission)];
    let body = serde_json::to_vec(&items).unwrap();
    send(
        &w.app,
        &analyst,
        "application/json",
        "application/json",
        body.clone(),
    )
    .await
    .expect(403);
    let res = w
        .app
        .raw(
            Method::POST,
            PATH,
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
    res.expect(401);
    for role in [Role::Monitor, Role::Reviewer, Role::Admin, Role::Partner] {
        let user = w.app.seed_user(role);
        let results = send_array(&w.app, &user, &[item(&w.mission)]).await;
        assert_eq!(statuses(&results), [201], "{role:?}");
    }
    let monitor = w.app.seed_user(Role::Monitor);
    send(&w.app, &monitor, "text/plain", "application/json", body)
        .await
        .expect(415);
    // The analyst's item was not stored; each of the four others was.
    assert_eq!(stored(&w.app, items[0]["id"].as_str().unwrap()), (0, 0, 0));
    assert_eq!(w.app.count("incidents"), 4);
}

async fn each_item_may_be_as_large_as_the_body_limit(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.body_limit = 4096).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    let monitor = app.seed_user(Role::Monitor);
    let sized = |len: usize| {
        let mut it = item(&mission);
        let base = serde_json::to_vec(&it).unwrap().len();
        let narrative = it["narrative"].as_str().unwrap().len() + len - base;
        it["narrative"] = json!("n".repeat(narrative));
        it
    };
    // Three items just under the limit: the batch is larger than the limit, each item is not.
    let fits: Vec<Value> = (0..3).map(|_| sized(4000)).collect();
    let big = sized(5000);
    let late = item(&mission);
    let items = [fits.clone(), vec![big.clone(), late.clone()]].concat();
    assert!(serde_json::to_vec(&fits).unwrap().len() > 4096);

    let results = send_array(&app, &monitor, &items).await;
    assert_eq!(statuses(&results), [201, 201, 201, 413]);
    assert!(
        results[3]["problem"]["detail"]
            .as_str()
            .unwrap()
            .contains("4096 bytes"),
        "{}",
        results[3]
    );
    assert_eq!(app.count("incidents"), 3);

    let mut lines = Vec::new();
    for it in [&fits[0], &big, &late] {
        lines.extend(serde_json::to_vec(it).unwrap());
        lines.push(b'\n');
    }
    let res = send(
        &app,
        &monitor,
        "application/x-ndjson",
        "application/json",
        lines,
    )
    .await;
    assert_eq!(statuses(res.expect(200).as_array().unwrap()), [200, 413]);
    assert_eq!(stored(&app, late["id"].as_str().unwrap()), (0, 0, 0));

    // A body declared larger than 1,001 items at the limit is refused before it is read.
    let huge = vec![b' '; 4096 * 1001 + 1];
    let res = send(&app, &monitor, "application/json", "application/json", huge).await;
    let problem = res.expect(413);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("4100096 bytes"),
        "{problem}"
    );
}
