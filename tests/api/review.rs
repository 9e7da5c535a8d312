//! The review workflow: every move, who may make it, four eyes, comments,
//! versions, assessment overrides, history and audit.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, TestUser};
use crate::incidents::{create, report, world};

crate::scenarios![
    an_incident_travels_the_whole_workflow,
    illegal_moves_are_409_naming_the_allowed_ones,
    each_move_is_refused_to_the_wrong_roles,
    reviewers_never_review_their_own_reports,
    moves_that_need_a_comment_refuse_without_one,
    two_reviewers_on_one_version_one_wins,
    two_reviewers_racing_on_twenty_incidents_one_wins_each,
    reviewers_override_the_assessment_with_a_reason,
    every_move_from_every_state_for_every_caller,
];

pub(crate) async fn transition(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    version: Option<i64>,
    body: Value,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    let etag = version.map(|v| format!("\"{v}\""));
    let mut headers = vec![
        ("content-type", "application/json"),
        ("authorization", auth.as_str()),
    ];
    if let Some(etag) = &etag {
        headers.push(("if-match", etag.as_str()));
    }
    app.raw(
        Method::POST,
        &format!("/api/v1/incidents/{id}/transitions"),
        &headers,
        body.to_string().into_bytes(),
    )
    .await
}

async fn to(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    version: i64,
    status: &str,
    comment: Option<&str>,
) -> Value {
    let res = transition(
        app,
        user,
        id,
        Some(version),
        json!({"to": status, "comment": comment}),
    )
    .await;
    let incident = res.expect(200);
    assert_eq!(incident["status"], status);
    assert_eq!(incident["version"], version + 1);
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}\"", version + 1).as_str())
    );
    incident
}

fn id_of(incident: &Value) -> String {
    incident["id"].as_str().unwrap().to_owned()
}

async fn an_incident_travels_the_whole_workflow(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let reviewer2 = app.seed_user(Role::Reviewer);
    let id = id_of(&create(app, &monitor, &report(&w.mission)).await.expect(201));

    let submitted = to(app, &monitor, &id, 1, "submitted", None).await;
    assert!(submitted["submitted_at"].is_string());
    to(app, &reviewer, &id, 2, "in_review", None).await;
    to(
        app,
        &reviewer,
        &id,
        3,
        "needs_info",
        Some("Which bar? Any photographs of the location?"),
    )
    .await;
    // Sent back: the reporter may edit again, then resubmits.
    let res = app
        .raw(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", monitor.token)),
                ("if-match", "\"4\""),
            ],
            json!({"venue": "hotel"}).to_string().into_bytes(),
        )
        .await;
    res.expect(200);
    to(app, &monitor, &id, 5, "submitted", None).await;
    to(app, &reviewer2, &id, 6, "in_review", None).await;
    to(app, &reviewer2, &id, 7, "verified", None).await;
    to(
        app,
        &reviewer,
        &id,
        8,
        "referred",
        Some("Referred to the mission's Conduct and Discipline Unit"),
    )
    .await;
    to(app, &reviewer, &id, 9, "closed", None).await;
    to(
        app,
        &w.admin,
        &id,
        10,
        "in_review",
        Some("New evidence from the NGO partner"),
    )
    .await;

    let history = app
        .get(
            &format!("/api/v1/incidents/{id}/history"),
            Some(&reviewer.token),
        )
        .await
        .expect(200);
    let moves: Vec<(Value, Value, Value)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].clone(),
                e["from_status"].clone(),
                e["to_status"].clone(),
            )
        })
        .collect();
    let t = |from: &str, to: &str| (json!("transition"), json!(from), json!(to));
    assert_eq!(
        moves,
        [
            (json!("created"), Value::Null, json!("draft")),
            t("draft", "submitted"),
            t("submitted", "in_review"),
            t("in_review", "needs_info"),
            (json!("edited"), Value::Null, Value::Null),
            t("needs_info", "submitted"),
            t("submitted", "in_review"),
            t("in_review", "verified"),
            t("verified", "referred"),
            t("referred", "closed"),
            t("closed", "in_review"),
        ]
    );
    let entries = history["items"].as_array().unwrap();
    assert_eq!(
        entries[3]["comment"],
        "Which bar? Any photographs of the location?"
    );
    assert_eq!(entries[3]["actor_id"], reviewer.id.as_str());
    assert_eq!(entries[10]["actor_id"], w.admin.id.as_str());
    assert_eq!(entries[10]["version"], 11);
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'incident.transitioned' AND entity_id = '{id}'"
        )),
        9
    );
}

async fn illegal_moves_are_409_naming_the_allowed_ones(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let id = id_of(&create(app, &monitor, &body).await.expect(201));
    let problem = transition(app, &reviewer, &id, Some(1), json!({"to": "verified"}))
        .await
        .expect(409);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("submitted → verified") && detail.ends_with("in_review"),
        "{detail}"
    );
    for target in ["draft", "submitted", "closed", "referred", "needs_info"] {
        transition(
            app,
            &reviewer,
            &id,
            Some(1),
            json!({"to": target, "comment": "x"}),
        )
        .await
        .expect(409);
    }
    transition(app, &reviewer, &id, Some(1), json!({"to": "archived"}))
        .await
        .expect(422);
    transition(app, &reviewer, &id, Some(1), json!({"status": "in_review"}))
        .await
        .expect(422);
    assert_eq!(
        app.count(&format!(
            "incidents WHERE id = '{id}' AND version = 1 AND status = 'submitted'"
        )),
        1
    );
    assert_eq!(app.count("incident_events"), 1);
    assert_eq!(
        app.count("audit_log WHERE action = 'incident.transitioned'"),
        0
    );
}

async fn each_move_is_refused_to_the_wrong_roles(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let analyst = app.seed_user(Role::Analyst);
    let partner = app.seed_user(Role::Partner);
    let other_monitor = app.seed_user(Role::Monitor);
    let id = id_of(&create(app, &monitor, &report(&w.mission)).await.expect(201));

    // A draft is the reporter's alone: others cannot even see it.
    for user in [&reviewer, &analyst, &w.admin, &other_monitor] {
        transition(app, user, &id, Some(1), json!({"to": "submitted"}))
            .await
            .expect(404);
    }
    to(app, &monitor, &id, 1, "submitted", None).await;
    // Reviewing is for reviewers and admins; the reporter may not; others do not see it.
    for user in [&analyst, &monitor] {
        let problem = transition(app, user, &id, Some(2), json!({"to": "in_review"}))
            .await
            .expect(403);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("reviewers and admins")
        );
    }
    // Partners (same organisation here) see it but may not review it.
    transition(app, &partner, &id, Some(2), json!({"to": "in_review"}))
        .await
        .expect(403);
    transition(
        app,
        &other_monitor,
        &id,
        Some(2),
        json!({"to": "in_review"}),
    )
    .await
    .expect(404);
    to(app, &reviewer, &id, 2, "in_review", None).await;
    to(
        app,
        &reviewer,
        &id,
        3,
        "needs_info",
        Some("More detail please"),
    )
    .await;
    // Only the reporter resubmits.
    transition(app, &reviewer, &id, Some(4), json!({"to": "submitted"}))
        .await
        .expect(403);
    transition(app, &w.admin, &id, Some(4), json!({"to": "submitted"}))
        .await
        .expect(403);
    to(app, &monitor, &id, 4, "submitted", None).await;
    to(app, &w.admin, &id, 5, "in_review", None).await;
    to(
        app,
        &w.admin,
        &id,
        6,
        "unsubstantiated",
        Some("No corroboration"),
    )
    .await;
    to(app, &reviewer, &id, 7, "closed", None).await;
    // Only admins reopen.
    let problem = transition(
        app,
        &reviewer,
        &id,
        Some(8),
        json!({"to": "in_review", "comment": "again"}),
    )
    .await
    .expect(403);
    assert!(problem["detail"].as_str().unwrap().contains("admins"));
    transition(
        app,
        &monitor,
        &id,
        Some(8),
        json!({"to": "in_review", "comment": "again"}),
    )
    .await
    .expect(403);
    to(app, &w.admin, &id, 8, "in_review", Some("again")).await;
    transition(app, &monitor, &id, None, json!({"to": "verified"}))
        .await
        .expect(428);
}

async fn reviewers_never_review_their_own_reports(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let reviewer = app.seed_user(Role::Reviewer);
    let other = app.seed_user(Role::Reviewer);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let id = id_of(&create(app, &reviewer, &body).await.expect(201));
    let problem = transition(app, &reviewer, &id, Some(1), json!({"to": "in_review"}))
        .await
        .expect(403);
    assert!(problem["detail"].as_str().unwrap().contains("four eyes"));
    let by_admin = id_of(&create(app, &w.admin, &body).await.expect(201));
    transition(
        app,
        &w.admin,
        &by_admin,
        Some(1),
        json!({"to": "in_review"}),
    )
    .await
    .expect(403);
    to(app, &other, &id, 1, "in_review", None).await;
    transition(app, &reviewer, &id, Some(2), json!({"to": "verified"}))
        .await
        .expect(403);
    to(app, &other, &id, 2, "verified", None).await;
}

async fn moves_that_need_a_comment_refuse_without_one(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let id = id_of(&create(app, &monitor, &body).await.expect(201));
    to(app, &reviewer, &id, 1, "in_review", None).await;
    for (target, comment) in [
        ("unsubstantiated", None),
        ("needs_info", Some("   ")),
        ("unsubstantiated", Some("")),
    ] {
        let problem = transition(
            app,
            &reviewer,
            &id,
            Some(2),
            json!({"to": target, "comment": comment}),
        )
        .await
        .expect(422);
        assert_eq!(problem["errors"][0]["field"], "comment");
    }
    transition(
        app,
        &reviewer,
        &id,
        Some(2),
        json!({"to": "verified", "comment": "x".repeat(5001)}),
    )
    .await
    .expect(422);
    to(app, &reviewer, &id, 2, "verified", None).await;
    transition(app, &reviewer, &id, Some(3), json!({"to": "referred"}))
        .await
        .expect(422);
    to(app, &reviewer, &id, 3, "closed", None).await;
    transition(app, &w.admin, &id, Some(4), json!({"to": "in_review"}))
        .await
        .expect(422);
    assert_eq!(
        app.count(&format!("incident_events WHERE incident_id = '{id}'")),
        4
    );
}

async fn two_reviewers_on_one_version_one_wins(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let (a, b) = (app.seed_user(Role::Reviewer), app.seed_user(Role::Reviewer));
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let id = id_of(&create(app, &monitor, &body).await.expect(201));

    transition(app, &a, &id, None, json!({"to": "in_review"}))
        .await
        .expect(428);
    to(app, &a, &id, 1, "in_review", None).await;
    // B read version 1 too: refused, nothing changed.
    let problem = transition(app, &b, &id, Some(1), json!({"to": "in_review"}))
        .await
        .expect(412);
    assert!(problem["detail"].as_str().unwrap().contains("version 2"));

    // At the same moment, on the same version: exactly one wins.
    let (ra, rb) = crate::helpers::join_pair(
        transition(app, &a, &id, Some(2), json!({"to": "verified"})),
        transition(
            app,
            &b,
            &id,
            Some(2),
            json!({"to": "needs_info", "comment": "more"}),
        ),
    )
    .await;
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412]);
    assert_eq!(
        app.count(&format!("incidents WHERE id = '{id}' AND version = 3")),
        1
    );
    assert_eq!(
        app.count(&format!("incident_events WHERE incident_id = '{id}'")),
        3
    );
}

/// Twenty incidents, both reviewers moving each from the same version at the
/// same moment: both requests pass the If-Match check on what they read, and
/// the versioned UPDATE alone lets one of them through.
async fn two_reviewers_racing_on_twenty_incidents_one_wins_each(backend: Backend) {
    const PAIRS: usize = 20;
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let (a, b) = (app.seed_user(Role::Reviewer), app.seed_user(Role::Reviewer));
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let mut ids = Vec::new();
    for _ in 0..PAIRS {
        let id = id_of(&create(app, &monitor, &body).await.expect(201));
        to(app, &a, &id, 1, "in_review", None).await;
        ids.push(id);
    }

    let pairs = crate::helpers::join_all(
        ids.iter()
            .map(|id| {
                crate::helpers::join_pair(
                    transition(app, &a, id, Some(2), json!({"to": "verified"})),
                    transition(
                        app,
                        &b,
                        id,
                        Some(2),
                        json!({"to": "needs_info", "comment": "more"}),
                    ),
                )
            })
            .collect(),
    )
    .await;
    for (id, (ra, rb)) in ids.iter().zip(&pairs) {
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "{id}");
        let (winner, status) = if ra.status == 200 {
            (ra, "verified")
        } else {
            (rb, "needs_info")
        };
        let loser = if ra.status == 200 { rb } else { ra };
        assert_eq!(winner.json()["status"], status);
        assert!(
            loser.expect(412)["detail"]
                .as_str()
                .unwrap()
                .contains("version 3")
        );
        let stored = app
            .get(&format!("/api/v1/incidents/{id}"), Some(&a.token))
            .await
            .expect(200);
        assert_eq!(
            (stored["status"].as_str(), stored["version"].as_i64()),
            (Some(status), Some(3))
        );
        assert_eq!(
            app.count(&format!(
                "incident_events WHERE incident_id = '{id}' AND kind = 'transition'"
            )),
            2,
            "{id}: in_review and the one winning move"
        );
        assert_eq!(
            app.count(&format!(
                "incident_events WHERE incident_id = '{id}' AND to_status = '{status}'"
            )),
            1
        );
    }
}

async fn reviewers_override_the_assessment_with_a_reason(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let analyst = app.seed_user(Role::Analyst);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    let id = id_of(&create(app, &monitor, &body).await.expect(201));
    let put = |user: &TestUser, version: Option<&str>, body: Value| {
        let auth = format!("Bearer {}", user.token);
        let version = version.map(str::to_owned);
        let id = id.clone();
        async move {
            let mut headers = vec![
                ("content-type", "application/json"),
                ("authorization", auth.as_str()),
            ];
            if let Some(v) = &version {
                headers.push(("if-match", v.as_str()));
            }
            app.raw(
                Method::PUT,
                &format!("/api/v1/incidents/{id}/assessment"),
                &headers,
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    let change = json!({"assessment": "smuggling_indicated", "reason": "The documents were returned; the women left freely."});
    put(&analyst, Some("\"1\""), change.clone())
        .await
        .expect(403);
    put(&monitor, Some("\"1\""), change.clone())
        .await
        .expect(403);
    put(&reviewer, None, change.clone()).await.expect(428);
    put(
        &reviewer,
        Some("\"1\""),
        json!({"assessment": "smuggling_indicated"}),
    )
    .await
    .expect(422);
    put(
        &reviewer,
        Some("\"1\""),
        json!({"assessment": "smuggling_indicated", "reason": ""}),
    )
    .await
    .expect(422);
    put(
        &reviewer,
        Some("\"1\""),
        json!({"assessment": "consensual", "reason": "x"}),
    )
    .await
    .expect(422);

    let res = put(&reviewer, Some("\"1\""), change.clone()).await;
    let incident = res.expect(200);
    assert_eq!(incident["consent"]["assessment"], "smuggling_indicated");
    assert_eq!(incident["consent"]["computed"], "trafficking_indicated");
    assert_eq!(incident["consent"]["override_reason"], change["reason"]);
    assert_eq!(incident["version"], 2);
    put(&reviewer, Some("\"1\""), change.clone())
        .await
        .expect(412);

    let own = id_of(&create(app, &reviewer, &body).await.expect(201));
    let res = app
        .raw(
            Method::PUT,
            &format!("/api/v1/incidents/{own}/assessment"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", reviewer.token)),
                ("if-match", "\"1\""),
            ],
            change.to_string().into_bytes(),
        )
        .await;
    res.expect(403);

    let history = app
        .get(
            &format!("/api/v1/incidents/{id}/history"),
            Some(&reviewer.token),
        )
        .await
        .expect(200);
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "assessment_overridden");
    assert!(
        last["comment"]
            .as_str()
            .unwrap()
            .contains("trafficking_indicated → smuggling_indicated")
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'incident.assessment_overridden' AND entity_id = '{id}'"
        )),
        1
    );
    let listed = app
        .get(
            "/api/v1/incidents?consent_assessment=smuggling_indicated",
            Some(&reviewer.token),
        )
        .await
        .expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

/// The workflow as domain.md states it, written out again here as the oracle:
/// (from, to, who, comment required).
const LEGAL: &[(&str, &str, &str, bool)] = &[
    ("draft", "submitted", "reporter", false),
    ("submitted", "in_review", "reviewer", false),
    ("in_review", "verified", "reviewer", false),
    ("in_review", "unsubstantiated", "reviewer", true),
    ("in_review", "needs_info", "reviewer", true),
    ("needs_info", "submitted", "reporter", false),
    ("verified", "referred", "reviewer", true),
    ("verified", "closed", "reviewer", false),
    ("unsubstantiated", "closed", "reviewer", false),
    ("referred", "closed", "reviewer", false),
    ("closed", "in_review", "admin", true),
];

pub const STATES: [&str; 8] = [
    "draft",
    "submitted",
    "in_review",
    "verified",
    "unsubstantiated",
    "needs_info",
    "referred",
    "closed",
];

/// The moves that bring a new draft to `state`.
fn path_to(state: &str) -> Vec<&'static str> {
    match state {
        "draft" => vec![],
        "submitted" => vec!["submitted"],
        "in_review" => vec!["submitted", "in_review"],
        "verified" => vec!["submitted", "in_review", "verified"],
        "unsubstantiated" => vec!["submitted", "in_review", "unsubstantiated"],
        "needs_info" => vec!["submitted", "in_review", "needs_info"],
        "referred" => vec!["submitted", "in_review", "verified", "referred"],
        "closed" => vec!["submitted", "in_review", "verified", "closed"],
        other => panic!("{other}"),
    }
}

async fn every_move_from_every_state_for_every_caller(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let other_org = app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Elsewhere NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reporter = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    // (name, user, sees others' non-drafts, may review, is admin)
    let callers: Vec<(&str, TestUser, bool, bool, bool)> = vec![
        ("reporter", reporter.clone(), false, false, false),
        (
            "other monitor",
            app.seed_user(Role::Monitor),
            false,
            false,
            false,
        ),
        ("reviewer", app.seed_user(Role::Reviewer), true, true, false),
        ("analyst", app.seed_user(Role::Analyst), true, false, false),
        ("admin", w.admin.clone(), true, true, true),
        (
            "partner, same organisation",
            app.seed_user(Role::Partner),
            true,
            false,
            false,
        ),
        (
            "partner, other organisation",
            app.seed_user_in(Role::Partner, &other_org),
            false,
            false,
            false,
        ),
    ];
    let mission = w.mission.as_str();
    let fresh = |state: &'static str| {
        let (reporter, reviewer) = (reporter.clone(), reviewer.clone());
        async move {
            let id = id_of(&create(app, &reporter, &report(mission)).await.expect(201));
            for (version, next) in path_to(state).into_iter().enumerate() {
                let mover = if next == "submitted" {
                    &reporter
                } else {
                    &reviewer
                };
                to(app, mover, &id, version as i64 + 1, next, Some("because")).await;
            }
            (id, path_to(state).len() as i64 + 1)
        }
    };
    let mut checked = 0;
    for from in STATES {
        let (mut id, mut version) = fresh(from).await;
        for (name, user, sees_all, may_review, is_admin) in &callers {
            for target in STATES {
                let is_reporter = *name == "reporter";
                let visible = is_reporter || (from != "draft" && *sees_all);
                let legal = LEGAL.iter().find(|(f, t, _, _)| *f == from && *t == target);
                let expected = match legal {
                    _ if !visible => 404,
                    None => 409,
                    Some((_, _, "reporter", _)) if !is_reporter => 403,
                    Some((_, _, "reviewer", _)) if !may_review || is_reporter => 403,
                    Some((_, _, "admin", _)) if !is_admin || is_reporter => 403,
                    Some(_) => 200,
                };
                let res = transition(
                    app,
                    user,
                    &id,
                    Some(version),
                    json!({"to": target, "comment": "because"}),
                )
                .await;
                assert_eq!(
                    res.status,
                    expected,
                    "{name}: {from} -> {target}: {}",
                    String::from_utf8_lossy(&res.body)
                );
                res.expect(expected);
                checked += 1;
                if expected == 200 {
                    (id, version) = fresh(from).await;
                }
            }
        }
    }
    assert_eq!(checked, STATES.len() * callers.len() * STATES.len());
}
