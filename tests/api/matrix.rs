//! The authorization matrix: every operation of the OpenAPI document, for every
//! kind of caller, on the caller's own object, a colleague's and another
//! organisation's, answers the status `TABLE` gives. A refused cell leaves the
//! database as it was; an operation the table does not list fails the walk.

use std::collections::BTreeSet;

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Response, TestApp, TestUser};
use crate::incidents::{report, world};

crate::scenarios![every_route_for_every_caller_and_owner];

/// Whose object a cell is called on.
#[derive(Clone, Copy, Debug)]
enum Owner {
    /// The caller's own (for an anonymous caller, a monitor's).
    Own,
    /// A monitor's, in the caller's organisation.
    Colleague,
    /// A monitor's, in another organisation.
    OtherOrg,
}

/// What `{id}` in the path names.
#[derive(Clone, Copy, Debug)]
enum Object {
    /// The route names no object.
    NoId,
    /// A fresh incident in a state (`draft` or `submitted`).
    Incident(Owner, &'static str),
    /// A user account.
    Account(Owner),
    /// A monitor's account, and a change that makes it an admin.
    Promote(Owner),
    /// An admin of the caller's oversight office, and a move to an NGO.
    MoveAdminToNgo,
    /// A new account: an admin of an NGO organisation.
    NgoAdmin,
    /// Reference data belongs to nobody.
    Mission,
    Base,
    /// A fresh deployment at the base, made for the cell.
    Deployment,
    /// A fresh NGO organisation, made for the cell.
    Organisation,
}

use Object::*;
use Owner::*;

/// Not applicable: an analyst cannot own an incident (analysts may not report).
const NA: u16 = 0;

/// The table's columns, in order.
const CALLERS: [Option<Role>; 6] = [
    None,
    Some(Role::Monitor),
    Some(Role::Partner),
    Some(Role::Reviewer),
    Some(Role::Analyst),
    Some(Role::Admin),
];

#[rustfmt::skip]
const TABLE: &[(&str, Object, [u16; 6])] = &[
    // route                                           object                            anon mon  partn rev  anal admin
    ("GET /health",                                    NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /ready",                                     NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/openapi.json",                       NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /",                                          NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1",                                    NoId,                            [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/login",                        NoId,                            [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/refresh",                      NoId,                            [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/logout",                       NoId,                            [204, 204, 204, 204, 204, 204]),
    ("GET /api/v1/me",                                 NoId,                            [401, 200, 200, 200, 200, 200]),
    // Each cell changes the password of a fresh account of the caller's role.
    ("POST /api/v1/me/password",                       NoId,                            [401, 200, 200, 200, 200, 200]),

    ("GET /api/v1/organisations",                      NoId,                            [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/organisations",                     NoId,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/organisations/{id}",                 Organisation,                    [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/organisations/{id}",               Organisation,                    [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/users",                              NoId,                            [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/users",                             NoId,                            [401, 403, 403, 403, 403, 201]),
    // Admin accounts belong only to oversight offices.
    ("POST /api/v1/users",                             NgoAdmin,                        [401, 403, 403, 403, 403, 422]),
    ("GET /api/v1/users/{id}",                         Account(Own),                    [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/users/{id}",                         Account(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/users/{id}",                         Account(OtherOrg),               [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Account(Own),                    [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Account(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Account(OtherOrg),               [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Promote(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Promote(OtherOrg),               [401, 403, 403, 403, 403, 422]),
    ("PATCH /api/v1/users/{id}",                       MoveAdminToNgo,                  [401, 403, 403, 403, 403, 422]),
    ("GET /api/v1/audit",                              NoId,                            [401, 403, 403, 403, 403, 200]),

    ("GET /api/v1/missions",                           NoId,                            [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/missions",                          NoId,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/missions/{id}",                      Mission,                         [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/missions/{id}",                    Mission,                         [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/missions/{id}/bases",                Mission,                         [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/missions/{id}/bases",               Mission,                         [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/bases/{id}",                         Base,                            [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/bases/{id}",                       Base,                            [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/bases/{id}/deployments",             Base,                            [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/bases/{id}/deployments",            Base,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/deployments/{id}",                   Deployment,                      [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/deployments/{id}",                 Deployment,                      [401, 403, 403, 403, 403, 200]),
    ("DELETE /api/v1/deployments/{id}",                Deployment,                      [401, 403, 403, 403, 403, 204]),

    ("GET /api/v1/incidents",                          NoId,                            [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/incidents",                         NoId,                            [401, 201, 201, 201, 403, 201]),
    ("POST /api/v1/incidents/batch",                   NoId,                            [401, 200, 200, 200, 403, 200]),
    ("GET /api/v1/incidents/{id}",                     Incident(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}",                     Incident(Colleague, "submitted"),[401, 404, 200, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}",                     Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}",                     Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("GET /api/v1/incidents/{id}/history",             Incident(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}/history",             Incident(Colleague, "submitted"),[401, 404, 200, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/history",             Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/history",             Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(Own, "draft"),          [401, 200, 200, 200, NA,  200]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(Colleague, "submitted"),[401, 404, 403, 403, 403, 403]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(OtherOrg, "submitted"), [401, 404, 404, 403, 403, 403]),
    // From a draft the move is `submitted` (the reporter's), from `submitted` it is `in_review` (a reviewer's).
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Own, "draft"),          [401, 200, 200, 200, NA,  200]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Colleague, "submitted"),[401, 404, 403, 200, 403, 200]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 403, 200]),
    ("PUT /api/v1/incidents/{id}/assessment",          Incident(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("PUT /api/v1/incidents/{id}/assessment",          Incident(Colleague, "submitted"),[401, 404, 403, 200, 403, 200]),
    ("PUT /api/v1/incidents/{id}/assessment",          Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 403, 200]),

    ("GET /api/v1/stats/incidents",                    NoId,                            [401, 403, 200, 403, 200, 200]),
    ("GET /api/v1/exports/incidents",                  NoId,                            [401, 403, 200, 403, 200, 200]),
    ("GET /api/v1/analysis/deployment-effect",         Mission,                         [401, 403, 200, 403, 200, 200]),
    ("GET /api/v1/releases",                           NoId,                            [401, 403, 200, 403, 200, 200]),
];

/// What every cell shares: a mission with a base, callers of every role in one
/// organisation, and a second organisation.
struct Fixture {
    app: TestApp,
    admin: TestUser,
    callers: Vec<Option<TestUser>>,
    other_org: String,
    mission: String,
    base: String,
}

async fn every_route_for_every_caller_and_owner(backend: Backend) {
    let listed: BTreeSet<&str> = TABLE.iter().map(|(route, ..)| *route).collect();
    let documented = documented_operations();
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "operations missing from the authorization matrix: {missing:?}"
    );
    let unknown: Vec<_> = listed.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "the matrix lists operations the API does not have: {unknown:?}"
    );

    let w = world(backend).await;
    let other_org = w
        .app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Another NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let callers = CALLERS
        .iter()
        .map(|role| role.map(|role| w.app.seed_user(role)))
        .collect();
    let fx = Fixture {
        admin: w.admin,
        callers,
        other_org,
        mission: w.mission,
        base: w.bondsteel,
        app: w.app,
    };

    let mut failures = Vec::new();
    let mut walked = 0;
    for (route, object, statuses) in TABLE {
        for (column, &expected) in statuses.iter().enumerate() {
            let role = CALLERS[column];
            if expected == NA {
                assert!(
                    role == Some(Role::Analyst) && matches!(object, Incident(Own, _)),
                    "{route} {object:?}: only an analyst's own incident is not applicable"
                );
                continue;
            }
            walked += 1;
            if let Err(why) = cell(&fx, route, *object, column, expected).await {
                failures.push(format!(
                    "{route} on {object:?} as {}: {why}",
                    caller_name(role)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {walked} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn caller_name(role: Option<Role>) -> String {
    role.map_or("anonymous".into(), |r| r.to_string())
}

/// `METHOD /path` of every operation in the committed OpenAPI document.
fn documented_operations() -> BTreeSet<&'static str> {
    static DOC: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    ops.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        ops
    })
    .iter()
    .map(String::as_str)
    .collect()
}

/// Sets up a cell's object, calls the route, checks the status and, when the
/// call was refused, that nothing changed.
async fn cell(
    fx: &Fixture,
    route: &str,
    object: Object,
    column: usize,
    expected: u16,
) -> Result<(), String> {
    let app = &fx.app;
    // Changing a password ends the caller's sign-ins: those cells get an account of their own.
    let own_account;
    let caller = if route == "POST /api/v1/me/password" {
        own_account = CALLERS[column].map(|role| app.seed_user(role));
        own_account.as_ref()
    } else {
        fx.callers[column].as_ref()
    };
    let (method, template) = route.split_once(' ').unwrap();
    let target = prepare(fx, object, caller).await;
    let path = template.replace("{id}", target.id.as_deref().unwrap_or(""));
    let unique = uuid::Uuid::new_v4().simple().to_string();

    let mut headers: Vec<(String, String)> = vec![];
    if let Some(user) = caller {
        headers.push(("authorization".into(), format!("Bearer {}", user.token)));
    }
    if let Some(version) = target.version {
        headers.push(("if-match".into(), format!("\"{version}\"")));
    }
    let (query, body) = match (route, object) {
        ("POST /api/v1/users", NgoAdmin) => (
            String::new(),
            Some(json!({
                "email": format!("{unique}@example.org"), "name": "NGO Admin", "role": "admin",
                "organisation_id": fx.other_org, "password": PASSWORD,
            })),
        ),
        ("PATCH /api/v1/users/{id}", Promote(_)) => (String::new(), Some(json!({"role": "admin"}))),
        ("PATCH /api/v1/users/{id}", MoveAdminToNgo) => (
            String::new(),
            Some(json!({"organisation_id": fx.other_org})),
        ),
        _ => match route {
            "POST /api/v1/me/password" => (
                String::new(),
                Some(
                    json!({"current_password": PASSWORD, "new_password": "a fresh matrix passphrase"}),
                ),
            ),
            "POST /api/v1/auth/login" => (
                String::new(),
                Some(json!({"email": fx.admin.email, "password": PASSWORD})),
            ),
            "POST /api/v1/auth/refresh" | "POST /api/v1/auth/logout" => {
                let session = app.login(&fx.admin.email, PASSWORD).await.expect(200);
                (
                    String::new(),
                    Some(json!({"refresh_token": session["refresh_token"]})),
                )
            }
            "POST /api/v1/organisations" => {
                (String::new(), Some(json!({"name": unique, "kind": "ngo"})))
            }
            "POST /api/v1/users" => (
                String::new(),
                Some(json!({
                    "email": format!("{unique}@example.org"), "name": "New Monitor", "role": "monitor",
                    "organisation_id": app.org_id, "password": PASSWORD,
                })),
            ),
            "POST /api/v1/missions" => (
                String::new(),
                Some(json!({"name": unique, "country": "XK", "mandate_start": "1999-06-12"})),
            ),
            "POST /api/v1/missions/{id}/bases" => (
                String::new(),
                Some(json!({"name": unique, "latitude": 42.5, "longitude": 21.2})),
            ),
            "POST /api/v1/bases/{id}/deployments" => (
                String::new(),
                Some(
                    json!({"start_date": "2000-01-01", "troop_count": 100, "contributing_country": "US"}),
                ),
            ),
            "PATCH /api/v1/users/{id}"
            | "PATCH /api/v1/missions/{id}"
            | "PATCH /api/v1/bases/{id}"
            | "PATCH /api/v1/organisations/{id}" => (String::new(), Some(json!({"name": unique}))),
            "PATCH /api/v1/deployments/{id}" => (
                String::new(),
                Some(json!({"troop_count": 4321, "end_date": "2001-01-01"})),
            ),
            "DELETE /api/v1/deployments/{id}" => (String::new(), None),
            "POST /api/v1/incidents" => (String::new(), Some(report(&fx.mission))),
            "POST /api/v1/incidents/batch" => {
                let mut item = report(&fx.mission);
                item["id"] = json!(uuid::Uuid::new_v4().to_string());
                (String::new(), Some(json!([item])))
            }
            "PATCH /api/v1/incidents/{id}" => {
                headers.push(("content-type".into(), "application/merge-patch+json".into()));
                (
                    String::new(),
                    Some(json!({"narrative": "Edited in the authorization matrix."})),
                )
            }
            "POST /api/v1/incidents/{id}/transitions" => {
                let to = if target.status == Some("draft") {
                    "submitted"
                } else {
                    "in_review"
                };
                (String::new(), Some(json!({"to": to})))
            }
            "PUT /api/v1/incidents/{id}/assessment" => (
                String::new(),
                Some(json!({"assessment": "undetermined", "reason": "Matrix override."})),
            ),
            "GET /api/v1/exports/incidents" => ("?format=csv".into(), None),
            "GET /api/v1/analysis/deployment-effect" => {
                (format!("?mission_id={}", fx.mission), None)
            }
            _ if method == "GET" => (String::new(), None),
            _ => panic!("{route}: the matrix has no request body for it"),
        },
    };
    if body.is_some() && !headers.iter().any(|(name, _)| name == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }

    let before = snapshot(fx, &target).await;
    let res = send(app, method, &format!("{path}{query}"), &headers, body).await;
    if res.status != expected {
        return Err(format!(
            "expected {expected}, got {}: {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        ));
    }
    if expected >= 400 {
        res.expect(expected);
        let after = snapshot(fx, &target).await;
        if after != before {
            return Err(format!(
                "refused, yet the database changed: {before:?} → {after:?}"
            ));
        }
    }
    Ok(())
}

/// The object a cell is called on, made for it.
struct Target {
    id: Option<String>,
    kind: &'static str,
    version: Option<i64>,
    status: Option<&'static str>,
}

async fn prepare(fx: &Fixture, object: Object, caller: Option<&TestUser>) -> Target {
    let app = &fx.app;
    let owner = |owner: Owner| -> TestUser {
        match (owner, caller) {
            (Own, Some(user)) => user.clone(),
            (Own, None) | (Colleague, _) => app.seed_user(Role::Monitor),
            (OtherOrg, _) => app.seed_user_in(Role::Monitor, &fx.other_org),
        }
    };
    let plain = |kind, id: &str| Target {
        id: Some(id.to_owned()),
        kind,
        version: None,
        status: None,
    };
    match object {
        NoId | NgoAdmin => Target {
            id: None,
            kind: "",
            version: None,
            status: None,
        },
        Mission => plain("mission", &fx.mission),
        Base => plain("base", &fx.base),
        Deployment => {
            let deployment = app
                .post(
                    &format!("/api/v1/bases/{}/deployments", fx.base),
                    Some(&fx.admin.token),
                    &json!({"start_date": "2000-01-01", "troop_count": 100, "contributing_country": "US"}),
                )
                .await
                .expect(201);
            plain("deployment", deployment["id"].as_str().unwrap())
        }
        Organisation => {
            let unique = uuid::Uuid::new_v4().simple().to_string();
            let organisation = app
                .post(
                    "/api/v1/organisations",
                    Some(&fx.admin.token),
                    &json!({"name": unique, "kind": "ngo"}),
                )
                .await
                .expect(201);
            plain("organisation", organisation["id"].as_str().unwrap())
        }
        Account(who) | Promote(who) => plain("user", &owner(who).id),
        MoveAdminToNgo => plain("user", &app.seed_user(Role::Admin).id),
        Incident(who, status) => {
            let reporter = owner(who);
            let incident = app
                .post(
                    "/api/v1/incidents",
                    Some(&reporter.token),
                    &report(&fx.mission),
                )
                .await
                .expect(201);
            let id = incident["id"].as_str().unwrap().to_owned();
            let mut version = 1;
            if status == "submitted" {
                let res = send(
                    app,
                    "POST",
                    &format!("/api/v1/incidents/{id}/transitions"),
                    &[
                        ("authorization".into(), format!("Bearer {}", reporter.token)),
                        ("if-match".into(), "\"1\"".into()),
                        ("content-type".into(), "application/json".into()),
                    ],
                    Some(json!({"to": "submitted"})),
                )
                .await;
                version = res.expect(200)["version"].as_i64().unwrap();
            }
            Target {
                id: Some(id),
                kind: "incident",
                version: Some(version),
                status: Some(status),
            }
        }
    }
}

/// Row counts of every table a request could write, and the object as stored.
async fn snapshot(fx: &Fixture, target: &Target) -> (Vec<i64>, Value) {
    let app = &fx.app;
    let counts = [
        "organisations",
        "users",
        "missions",
        "bases",
        "deployments",
        "incidents",
        "incident_events",
    ]
    .iter()
    .map(|table| app.count(table))
    .collect();
    let object = match (target.kind, &target.id) {
        ("incident", Some(id)) => json!(app.count(&format!(
            "incidents WHERE id = '{id}' AND version = {} AND status = '{}' AND consent_assessment = computed_assessment",
            target.version.unwrap(),
            target.status.unwrap()
        ))),
        (kind, Some(id)) => {
            let path = match kind {
                "user" => format!("/api/v1/users/{id}"),
                "mission" => format!("/api/v1/missions/{id}"),
                "deployment" => format!("/api/v1/deployments/{id}"),
                "organisation" => format!("/api/v1/organisations/{id}"),
                _ => format!("/api/v1/bases/{id}"),
            };
            app.get(&path, Some(&fx.admin.token)).await.expect(200)
        }
        _ => Value::Null,
    };
    (counts, object)
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<Value>,
) -> Response {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let body = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
    app.raw(
        Method::from_bytes(method.as_bytes()).unwrap(),
        path,
        &headers,
        body,
    )
    .await
}
