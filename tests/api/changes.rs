//! The change feed (`GET /api/v1/changes`) and the incident list by update
//! time (`updated_since`, `sort=updated_at`).

use std::cell::Cell;
use std::collections::BTreeSet;

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, TestUser};
use crate::incidents::{create, report, world};

crate::scenarios![
    every_kind_of_change_is_in_the_feed,
    the_feed_shows_what_each_role_may_see_now,
    the_feed_pages_and_waits_at_its_end,
    bad_feed_cursors_are_400,
    concurrent_writers_never_make_a_follower_skip,
    the_list_by_update_time,
    bulk_loaded_incidents_are_in_the_feed,
];

fn id_of(incident: &Value) -> String {
    incident["id"].as_str().unwrap().to_owned()
}

/// A request with a JSON body and an `If-Match` version.
pub async fn versioned(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &TestUser,
    version: i64,
    content_type: &str,
    body: Value,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    let etag = format!("\"{version}\"");
    app.raw(
        method,
        path,
        &[
            ("content-type", content_type),
            ("authorization", auth.as_str()),
            ("if-match", etag.as_str()),
        ],
        body.to_string().into_bytes(),
    )
    .await
}

async fn edit(app: &TestApp, user: &TestUser, id: &str, version: i64, body: Value) -> Value {
    versioned(
        app,
        Method::PATCH,
        &format!("/api/v1/incidents/{id}"),
        user,
        version,
        "application/merge-patch+json",
        body,
    )
    .await
    .expect(200)
}

pub async fn move_to(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    version: i64,
    to: &str,
    comment: Option<&str>,
) -> Value {
    versioned(
        app,
        Method::POST,
        &format!("/api/v1/incidents/{id}/transitions"),
        user,
        version,
        "application/json",
        json!({"to": to, "comment": comment}),
    )
    .await
    .expect(200)
}

/// The whole feed as `user` sees it, paging by `limit`.
async fn feed(app: &TestApp, user: &TestUser, limit: usize) -> Vec<Value> {
    let mut cursor = String::new();
    let mut items = Vec::new();
    for _ in 0..100 {
        let path = if cursor.is_empty() {
            format!("/api/v1/changes?limit={limit}")
        } else {
            format!("/api/v1/changes?limit={limit}&cursor={cursor}")
        };
        let page = app.get(&path, Some(&user.token)).await.expect(200);
        let got = page["items"].as_array().unwrap().clone();
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if got.is_empty() {
            return items;
        }
        assert!(got.len() <= limit);
        items.extend(got);
    }
    panic!("the feed never came to its end");
}

/// (incident id, kind, version) of each change, in feed order.
fn triples(items: &[Value]) -> Vec<(String, String, i64)> {
    items
        .iter()
        .map(|c| {
            (
                c["incident"]["id"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
                c["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn every_kind_of_change_is_in_the_feed(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let id = id_of(&create(app, &monitor, &report(&w.mission)).await.expect(201));
    edit(app, &monitor, &id, 1, json!({"victims": {"count": 4}})).await;
    move_to(app, &monitor, &id, 2, "submitted", None).await;
    move_to(app, &reviewer, &id, 3, "in_review", None).await;
    versioned(
        app,
        Method::PUT,
        &format!("/api/v1/incidents/{id}/assessment"),
        &reviewer,
        4,
        "application/json",
        json!({"assessment": "smuggling_indicated", "reason": "witness statement"}),
    )
    .await
    .expect(200);

    let items = feed(app, &reviewer, 50).await;
    let kinds = [
        ("reported", 1),
        ("edited", 2),
        ("moved", 3),
        ("moved", 4),
        ("assessed", 5),
    ];
    assert_eq!(
        triples(&items),
        kinds
            .iter()
            .map(|(k, v)| (id.clone(), k.to_string(), *v))
            .collect::<Vec<_>>()
    );
    let actors: Vec<&str> = items
        .iter()
        .map(|c| c["actor_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        [
            &monitor.id,
            &monitor.id,
            &monitor.id,
            &reviewer.id,
            &reviewer.id
        ]
    );
    for (n, change) in items.iter().enumerate() {
        assert_eq!(change["position"], n as i64 + 1);
        assert!(change["at"].is_string());
        // Each change carries the incident as it is now.
        assert_eq!(change["incident"]["version"], 5);
        assert_eq!(
            change["incident"]["consent"]["assessment"],
            "smuggling_indicated"
        );
    }
    // Stored in the changes table, with the history, one row per change.
    assert_eq!(app.count("changes"), 5);
    assert_eq!(app.count("incident_events"), 5);
    for (kind, n) in [
        ("reported", 1),
        ("edited", 1),
        ("moved", 2),
        ("assessed", 1),
    ] {
        assert_eq!(
            app.count(&format!("changes WHERE kind = '{kind}'")),
            n,
            "{kind}"
        );
    }
}

/// A partner in an NGO organisation of its own, and a colleague there.
async fn ngo_partners(app: &TestApp, admin: &TestUser) -> (TestUser, TestUser) {
    let org = app
        .post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": format!("NGO {}", uuid::Uuid::new_v4()), "kind": "ngo"}),
        )
        .await
        .expect(201);
    let org = org["id"].as_str().unwrap();
    (
        app.seed_user_in(Role::Partner, org),
        app.seed_user_in(Role::Partner, org),
    )
}

async fn the_feed_shows_what_each_role_may_see_now(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let (partner, colleague) = ngo_partners(app, &w.admin).await;
    let (stranger, _) = ngo_partners(app, &w.admin).await;
    let monitor = app.seed_user(Role::Monitor);
    let other_monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let analyst = app.seed_user(Role::Analyst);
    let mut submitted = report(&w.mission);
    submitted["submit"] = json!(true);

    let ngo = id_of(&create(app, &partner, &submitted).await.expect(201));
    move_to(app, &reviewer, &ngo, 1, "in_review", None).await;
    let elsewhere = id_of(&create(app, &stranger, &submitted).await.expect(201));
    let draft = id_of(&create(app, &monitor, &report(&w.mission)).await.expect(201));
    let sent = id_of(&create(app, &monitor, &submitted).await.expect(201));
    let others = id_of(&create(app, &other_monitor, &submitted).await.expect(201));

    let incidents_in = |items: &[Value]| -> Vec<String> {
        triples(items).into_iter().map(|(id, ..)| id).collect()
    };
    let ngo2 = [ngo.clone(), ngo.clone()];
    // Partners: their organisation's, without people or others' narratives.
    for p in [&partner, &colleague] {
        let items = feed(app, p, 50).await;
        assert_eq!(incidents_in(&items), ngo2, "partner");
        let reviewer_change = &items[1];
        assert_eq!(reviewer_change["kind"], "moved");
        assert!(
            reviewer_change.get("actor_id").is_none(),
            "{reviewer_change}"
        );
        assert!(reviewer_change["incident"].get("reporter_id").is_none());
        let own = p.id == partner.id;
        assert_eq!(items[0].get("actor_id").is_some(), own, "own change only");
        assert_eq!(items[0]["incident"]["narrative"].is_string(), own);
    }
    // Monitors: only their own reports, drafts included.
    assert_eq!(
        incidents_in(&feed(app, &monitor, 50).await),
        [draft.clone(), sent.clone()]
    );
    // Reviewers and analysts: everything but others' drafts.
    let all_but_draft = vec![ngo.clone(), ngo.clone(), elsewhere, sent, others];
    for viewer in [&reviewer, &analyst] {
        assert_eq!(incidents_in(&feed(app, viewer, 2).await), all_but_draft);
    }
    // A draft's changes appear once it is submitted: the feed shows what the
    // caller may see now.
    move_to(app, &monitor, &draft, 1, "submitted", None).await;
    let analyst_sees = triples(&feed(app, &analyst, 50).await);
    assert!(analyst_sees.contains(&(draft.clone(), "reported".into(), 1)));
    assert!(analyst_sees.contains(&(draft.clone(), "moved".into(), 2)));
    assert_eq!(analyst_sees.len(), 7);
}

async fn the_feed_pages_and_waits_at_its_end(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id_of(
            &create(app, &monitor, &report(&w.mission)).await.expect(201),
        ));
    }
    let first = app
        .get("/api/v1/changes?limit=2", Some(&monitor.token))
        .await
        .expect(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let mut seen = triples(first["items"].as_array().unwrap());
    for page_no in 0.. {
        assert!(page_no < 10, "the feed never came to its end");
        let page = app
            .get(
                &format!("/api/v1/changes?limit=2&cursor={cursor}"),
                Some(&monitor.token),
            )
            .await
            .expect(200);
        let next = page["next_cursor"].as_str().unwrap().to_owned();
        let items = page["items"].as_array().unwrap();
        if items.is_empty() {
            // At the end the cursor stays where it was, to poll with.
            assert_eq!(next, cursor);
            break;
        }
        assert_ne!(next, cursor);
        seen.extend(triples(items));
        cursor = next;
    }
    assert_eq!(
        seen,
        ids.iter()
            .map(|id| (id.clone(), "reported".to_owned(), 1))
            .collect::<Vec<_>>()
    );
    // A change made after the follower reached the end comes with the same cursor.
    edit(app, &monitor, &ids[0], 1, json!({"victims": {"count": 5}})).await;
    let later = app
        .get(
            &format!("/api/v1/changes?cursor={cursor}"),
            Some(&monitor.token),
        )
        .await
        .expect(200);
    assert_eq!(
        triples(later["items"].as_array().unwrap()),
        [(ids[0].clone(), "edited".to_owned(), 2)]
    );
    // Without a cursor the feed starts at the first change; an empty feed
    // still answers a cursor to poll with.
    let newcomer = app.seed_user(Role::Monitor);
    let empty = app
        .get("/api/v1/changes", Some(&newcomer.token))
        .await
        .expect(200);
    assert_eq!(empty["items"], json!([]));
    let start = empty["next_cursor"].as_str().unwrap();
    assert_eq!(
        app.get(
            &format!("/api/v1/changes?cursor={start}"),
            Some(&monitor.token)
        )
        .await
        .expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
}

async fn bad_feed_cursors_are_400(backend: Backend) {
    use base64::Engine;
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    create(app, &monitor, &report(&w.mission)).await.expect(201);
    let list_cursor = {
        create(app, &monitor, &report(&w.mission)).await.expect(201);
        app.get("/api/v1/incidents?limit=1", Some(&monitor.token))
            .await
            .expect(200)["next_cursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let forge = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for query in [
        "cursor=nonsense".to_owned(),
        "cursor=1".to_owned(),
        format!("cursor={}", forge("changes:-1")),
        format!("cursor={}", forge("changes:1x")),
        format!("cursor={}", forge("changes:99999999999999999999")),
        format!("cursor={list_cursor}"),
        "limit=0".to_owned(),
        "limit=201".to_owned(),
        "since=1".to_owned(),
    ] {
        let res = app
            .get(&format!("/api/v1/changes?{query}"), Some(&monitor.token))
            .await;
        res.expect(400);
    }
    app.get("/api/v1/changes", None).await.expect(401);
}

/// Writers on many connections edit and move incidents while a follower reads
/// the feed with its cursor in a loop: it sees every change exactly once, in
/// order, and nothing the table does not hold. Positions handed out before
/// commit (a sequence) would let a change commit behind a position the
/// follower already passed, and it would never see it.
async fn concurrent_writers_never_make_a_follower_skip(backend: Backend) {
    const EDITORS: usize = 4;
    const MOVERS: usize = 4;
    const ROUNDS: i64 = 6;
    let w = world(backend).await;
    let app = &w.app;
    let reviewer = app.seed_user(Role::Reviewer);
    let follower = app.seed_user(Role::Analyst);
    let mut submitted = report(&w.mission);
    submitted["submit"] = json!(true);
    // Each editor edits its own incident, sent back for more information.
    let mut editors = Vec::new();
    for _ in 0..EDITORS {
        let monitor = app.seed_user(Role::Monitor);
        let id = id_of(&create(app, &monitor, &submitted).await.expect(201));
        move_to(app, &reviewer, &id, 1, "in_review", None).await;
        move_to(app, &reviewer, &id, 2, "needs_info", Some("where?")).await;
        editors.push((monitor, id));
    }
    // Each mover takes its own incident round the workflow and back.
    let mut movers = Vec::new();
    for _ in 0..MOVERS {
        let monitor = app.seed_user(Role::Monitor);
        let id = id_of(&create(app, &monitor, &submitted).await.expect(201));
        movers.push((monitor, id));
    }
    let before = app.count("changes");

    let running = Cell::new(EDITORS + MOVERS);
    let mut writers: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>> = Vec::new();
    for (monitor, id) in &editors {
        let running = &running;
        writers.push(Box::pin(async move {
            for round in 0..ROUNDS {
                edit(
                    app,
                    monitor,
                    id,
                    3 + round,
                    json!({"victims": {"count": round + 4}}),
                )
                .await;
            }
            running.set(running.get() - 1);
        }));
    }
    for (monitor, id) in &movers {
        let (running, reviewer) = (&running, &reviewer);
        writers.push(Box::pin(async move {
            let mut version = 1;
            for _ in 0..ROUNDS / 2 {
                move_to(app, reviewer, id, version, "in_review", None).await;
                move_to(app, reviewer, id, version + 1, "needs_info", Some("more")).await;
                move_to(app, monitor, id, version + 2, "submitted", None).await;
                version += 3;
            }
            running.set(running.get() - 1);
        }));
    }
    let follow = Box::pin(async {
        let mut cursor: Option<String> = None;
        let mut seen: Vec<i64> = Vec::new();
        for read in 0.. {
            assert!(read < 10_000, "the follower never reached the end");
            let done = running.get() == 0;
            let path = match &cursor {
                Some(c) => format!("/api/v1/changes?limit=7&cursor={c}"),
                None => "/api/v1/changes?limit=7".to_owned(),
            };
            let page = app.get(&path, Some(&follower.token)).await.expect(200);
            let items = page["items"].as_array().unwrap();
            seen.extend(items.iter().map(|c| c["position"].as_i64().unwrap()));
            cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
            // Stop only after a read that began once every writer had finished
            // came back empty: nothing can commit after it.
            if done && items.is_empty() {
                break;
            }
        }
        seen
    });
    let writing = crate::helpers::join_all(writers);
    let (_, seen) = crate::helpers::join_pair(writing, follow).await;

    let written = EDITORS as i64 * ROUNDS + MOVERS as i64 * (ROUNDS / 2) * 3;
    assert_eq!(app.count("changes") - before, written);
    let stored: Vec<i64> = app.db(|conn| {
        use basewatch::db::schema::changes;
        use diesel::prelude::*;
        changes::table
            .select(changes::position)
            .order(changes::position.asc())
            .load(conn)
    });
    assert!(
        seen.windows(2).all(|p| p[0] < p[1]),
        "the follower saw positions out of order or twice: {seen:?}"
    );
    let seen_set: BTreeSet<i64> = seen.iter().copied().collect();
    let stored_set: BTreeSet<i64> = stored.iter().copied().collect();
    let missed: Vec<_> = stored_set.difference(&seen_set).collect();
    assert!(missed.is_empty(), "the follower never saw {missed:?}");
    assert_eq!(seen, stored);
    assert_eq!(stored, (1..=stored.len() as i64).collect::<Vec<_>>());
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect()
}

async fn the_list_by_update_time(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    // a happened last but changes last; c happened first.
    let mut made = Vec::new();
    for occurred in [
        "2024-03-12T10:00:00Z",
        "2024-03-11T10:00:00Z",
        "2024-03-10T10:00:00Z",
    ] {
        body["occurred_at"] = json!(occurred);
        made.push(id_of(&create(app, &monitor, &body).await.expect(201)));
    }
    let [a, b, c] = [made[0].clone(), made[1].clone(), made[2].clone()];
    let moved = move_to(app, &reviewer, &a, 1, "in_review", None).await;
    let since = moved["updated_at"].as_str().unwrap().to_owned();
    let get = |query: String| {
        let token = reviewer.token.clone();
        async move {
            app.get(&format!("/api/v1/incidents?{query}"), Some(&token))
                .await
        }
    };

    // The default order is unchanged: newest first by when it happened.
    assert_eq!(
        ids(&get(String::new()).await.expect(200)),
        [a.clone(), b.clone(), c.clone()]
    );
    // By update time, oldest first.
    assert_eq!(
        ids(&get("sort=updated_at".into()).await.expect(200)),
        [b.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        ids(&get("sort=occurred_at".into()).await.expect(200)),
        [a.clone(), b.clone(), c.clone()]
    );
    // updated_since: at or after the time, in either order.
    assert_eq!(
        ids(&get(format!("updated_since={since}")).await.expect(200)),
        [a.as_str()]
    );
    assert_eq!(
        ids(&get(format!("updated_since={since}&sort=updated_at"))
            .await
            .expect(200)),
        [a.as_str()]
    );
    let created = app
        .get(&format!("/api/v1/incidents/{c}"), Some(&reviewer.token))
        .await
        .expect(200)["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ids(&get(format!("updated_since={created}&sort=updated_at"))
            .await
            .expect(200)),
        [c.clone(), a.clone()]
    );

    // Paging by update time, one at a time.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let query = match &cursor {
            Some(cur) => format!("sort=updated_at&limit=1&cursor={cur}"),
            None => "sort=updated_at&limit=1".to_owned(),
        };
        let page = get(query).await.expect(200);
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, [b.clone(), c.clone(), a.clone()]);

    // A cursor belongs to its order.
    let by_update = get("sort=updated_at&limit=1".into()).await.expect(200)["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_occurrence = get("limit=1".into()).await.expect(200)["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ids(&get(format!("limit=1&cursor={by_occurrence}"))
            .await
            .expect(200)),
        [b.as_str()]
    );
    for query in [
        format!("cursor={by_update}"),
        format!("sort=occurred_at&cursor={by_update}"),
        format!("sort=updated_at&cursor={by_occurrence}"),
        "sort=recent".to_owned(),
        "updated_since=yesterday".to_owned(),
    ] {
        get(query).await.expect(400);
    }
}

/// The bulk loader writes around the service layer; its incidents still reach
/// the feed, as `reported` changes after the ones before them.
async fn bulk_loaded_incidents_are_in_the_feed(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let admin = &w.admin;
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let first = id_of(&create(app, &monitor, &body).await.expect(201));
    {
        let mut conn = app.pool.get().unwrap();
        basewatch::demo::seed_synthetic(&mut conn, &app.database_url, &app.data_keys, 120, 50, 3)
            .unwrap();
    }
    let incidents = app.count("incidents");
    assert_eq!(incidents, 121);
    assert_eq!(app.count("changes"), incidents);
    assert_eq!(
        app.count("changes WHERE kind = 'reported' AND version = 1"),
        incidents
    );
    let items = feed(app, admin, 200).await;
    assert_eq!(triples(&items[..1]), [(first, "reported".to_owned(), 1)]);
    let positions: Vec<i64> = items
        .iter()
        .map(|c| c["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]));
    // Everything but the synthetic drafts, which nobody else sees.
    assert_eq!(
        items.len() as i64,
        app.count("incidents WHERE status <> 'draft'")
    );
    assert!(
        items[1..]
            .iter()
            .all(|c| c["kind"] == "reported" && c["incident"]["synthetic"] == true)
    );
}
