//! Every error, ours or the framework's, is an RFC 9457 problem document.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

crate::scenarios![
    unknown_routes_are_404_problems,
    wrong_methods_are_405_with_allow,
    malformed_bodies_are_400_problems,
    wrong_content_types_are_415_problems,
    oversized_bodies_are_413_problems,
    bad_query_strings_are_400_problems,
    responses_carry_request_ids_and_no_store,
    over_long_targets_are_414_problems,
    over_large_headers_are_431_problems,
    hostile_query_values_are_400_naming_the_parameter,
    an_array_never_fills_an_object_body,
];

async fn unknown_routes_are_404_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    // `/` and `/api/v1` answer the index (tests/api/integrator.rs).
    for path in [
        "/api",
        "/api/v1/",
        "/api/v1/nothing",
        "/api/v2/users",
        "/api/v1/users/",
        "/health/x",
    ] {
        let problem = app.get(path, Some(&admin.token)).await.expect(404);
        assert_eq!(problem["title"], "Not Found");
    }
}

async fn wrong_methods_are_405_with_allow(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let id = uuid::Uuid::new_v4();
    let cases = [
        (Method::DELETE, "/api/v1/users".to_owned(), "GET, POST"),
        (Method::PUT, format!("/api/v1/users/{id}"), "GET, PATCH"),
        (Method::DELETE, format!("/api/v1/users/{id}"), "GET, PATCH"),
        (Method::GET, "/api/v1/auth/login".to_owned(), "POST"),
        (Method::POST, "/health".to_owned(), "GET"),
        (Method::PATCH, "/api/v1/me".to_owned(), "GET"),
        // Not the incident whose id would be "batch".
        (Method::PATCH, "/api/v1/incidents/batch".to_owned(), "POST"),
        (Method::GET, "/api/v1/incidents/batch".to_owned(), "POST"),
        (Method::DELETE, "/api/v1/incidents/batch".to_owned(), "POST"),
    ];
    for (method, path, allow) in cases {
        let res = app
            .request(method.clone(), &path, Some(&admin.token), None)
            .await;
        let problem = res.expect(405);
        assert_eq!(res.header("allow"), Some(allow), "{method} {path}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(method.as_str())
        );
    }
}

async fn malformed_bodies_are_400_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let auth = format!("Bearer {}", admin.token);
    for body in [
        &b"{"[..],
        b"{\"name\": }",
        b"not json",
        b"",
        b"{\"name\": \"x\", \"kind\": \"ngo\"} trailing",
    ] {
        let res = app
            .raw(
                Method::POST,
                "/api/v1/organisations",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &auth),
                ],
                body.to_vec(),
            )
            .await;
        let problem = res.expect(400);
        assert!(
            problem["detail"].as_str().unwrap().contains("JSON"),
            "{problem}"
        );
    }
    // JSON of the wrong shape is a 422 naming where.
    let problem = app
        .post("/api/v1/organisations", Some(&admin.token), &json!("ngo"))
        .await
        .expect(422);
    assert_eq!(problem["errors"][0]["field"], "body");
    app.post("/api/v1/organisations", Some(&admin.token), &json!([1, 2]))
        .await
        .expect(422);
    assert_eq!(app.count("organisations"), 1);
}

async fn wrong_content_types_are_415_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = br#"{"email": "a@b.org", "password": "whatever it is"}"#.to_vec();
    for headers in [
        vec![("content-type", "text/plain")],
        vec![("content-type", "application/x-www-form-urlencoded")],
        vec![("content-type", "application/xml")],
        vec![],
    ] {
        let res = app
            .raw(Method::POST, "/api/v1/auth/login", &headers, body.clone())
            .await;
        let problem = res.expect(415);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    // A structured suffix and parameters are fine.
    for content_type in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let res = app
            .raw(
                Method::POST,
                "/api/v1/auth/login",
                &[("content-type", content_type)],
                body.clone(),
            )
            .await;
        res.expect(401);
    }
}

async fn oversized_bodies_are_413_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let limit = app.settings.body_limit;
    assert_eq!(limit, 1 << 20);
    // A valid JSON body of exactly `len` bytes.
    let body_of = |len: usize| {
        let body = json!({"name": "x".repeat(len - 24), "kind": "ngo"}).to_string();
        assert_eq!(body.len(), len);
        body.into_bytes()
    };
    let send = |body: Vec<u8>| {
        let bearer = format!("Bearer {}", admin.token);
        let app = &app;
        async move {
            app.raw(
                awc::http::Method::POST,
                "/api/v1/organisations",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &bearer),
                ],
                body,
            )
            .await
        }
    };
    for len in [limit + 1, limit + 300] {
        let problem = send(body_of(len)).await.expect(413);
        assert!(
            problem["detail"].as_str().unwrap().contains("1048576"),
            "{problem}"
        );
    }
    assert_eq!(app.count("organisations"), 1);
    // Up to the limit the body is read (and then refused for what it says: the name is long).
    for len in [limit - 300, limit] {
        let problem = send(body_of(len)).await.expect(422);
        assert_eq!(problem["errors"][0]["field"], "name", "{problem}");
    }
    assert_eq!(app.count("organisations"), 1);
}

async fn bad_query_strings_are_400_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    for query in [
        "limit=-1",
        "limit=1.5",
        "limit=99999999999999999999",
        "cursor=%FF",
        "bogus=1",
    ] {
        let problem = app
            .get(
                &format!("/api/v1/organisations?{query}"),
                Some(&admin.token),
            )
            .await
            .expect(400);
        assert_eq!(problem["type"], "about:blank", "{query}");
    }
}

async fn responses_carry_request_ids_and_no_store(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let a = app.get("/api/v1/me", Some(&admin.token)).await;
    let b = app.get("/api/v1/me", Some(&admin.token)).await;
    let (id_a, id_b) = (
        a.header("x-request-id").unwrap(),
        b.header("x-request-id").unwrap(),
    );
    assert_ne!(id_a, id_b);
    assert!(uuid::Uuid::parse_str(id_a).is_ok());
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    let problem = app.get("/api/v1/users/nope", Some(&admin.token)).await;
    problem.expect(404);
    assert_eq!(problem.header("cache-control"), Some("no-store"));
}

async fn over_long_targets_are_414_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let before = app.count("audit_log");
    for (path, token) in [
        (format!("/api/v1/incidents/{}", "a".repeat(65_000)), None),
        (
            format!("/api/v1/incidents/{}", "a".repeat(65_000)),
            Some(admin.token.as_str()),
        ),
        (
            format!("/api/v1/audit?action={}", "x".repeat(9_000)),
            Some(admin.token.as_str()),
        ),
        (format!("/{}", "%41".repeat(3_000)), None),
    ] {
        let problem = app.get(&path, token).await.expect(414);
        assert_eq!(problem["title"], "URI Too Long");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("limit is 8192 bytes"),
            "{problem}"
        );
    }
    // A POST is refused before its body is read.
    let long = format!("/api/v1/incidents?{}", "b".repeat(10_000));
    app.post(&long, None, &json!({})).await.expect(414);
    // Nothing of it reached the audit log.
    assert_eq!(app.count("audit_log"), before);
    assert_eq!(app.count("audit_refusal_tally"), 0);
    // Just under the limit is served as usual.
    let fits = format!("/api/v1/audit?action={}", "x".repeat(8_000));
    let page = app.get(&fits, Some(&admin.token)).await.expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
}

async fn over_large_headers_are_431_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let bearer = format!("Bearer {}", admin.token);
    let big = "v".repeat(20_000);
    let medium = "w".repeat(4_000);
    let cases: [Vec<(&str, &str)>; 3] = [
        vec![("x-padding", big.as_str())],
        vec![
            ("authorization", bearer.as_str()),
            ("x-padding", big.as_str()),
        ],
        vec![
            ("x-a", medium.as_str()),
            ("x-b", medium.as_str()),
            ("x-c", medium.as_str()),
            ("x-d", medium.as_str()),
            ("x-e", medium.as_str()),
        ],
    ];
    for headers in &cases {
        let res = app
            .raw(Method::GET, "/api/v1/me", headers, Vec::new())
            .await;
        let problem = res.expect(431);
        assert_eq!(problem["title"], "Request Header Fields Too Large");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("limit is 16384 bytes"),
            "{problem}"
        );
    }
    assert_eq!(app.count("audit_refusal_tally"), 0);
    // A usual request with a few kilobytes of headers is served.
    let res = app
        .raw(
            Method::GET,
            "/api/v1/me",
            &[("authorization", bearer.as_str()), ("x-a", medium.as_str())],
            Vec::new(),
        )
        .await;
    assert_eq!(res.expect(200)["id"], admin.id.as_str());
}

/// Values a client may choose freely in a query string: a 400 problem that names
/// the parameter, never a 500, on the routes whose queries go through `http::Query`.
async fn hostile_query_values_are_400_naming_the_parameter(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let analyst = app.seed_user(Role::Analyst);
    for (user, query, name) in [
        (&analyst, "incidents?limit=0", "limit"),
        (&analyst, "incidents?limit=201", "limit"),
        (&analyst, "incidents?limit=-1", "limit"),
        (&analyst, "incidents?limit=9223372036854775808", "limit"),
        (&analyst, "incidents?limit=1e308", "limit"),
        (&analyst, "incidents?limit=", "limit"),
        (&analyst, "incidents?limit=1&limit=2", "limit"),
        (&analyst, "incidents?cursor=", "cursor"),
        (&analyst, "incidents?status=", "status"),
        (&analyst, "incidents?reported_by_me=yes", "reported_by_me"),
        (&analyst, "incidents?occurred_from=", "occurred_from"),
        (&analyst, "incidents?occurred_from=1e308", "occurred_from"),
        (&analyst, "incidents?mission_id=%ED%A0%80", "mission_id"),
        (&analyst, "incidents?bbox=1e308,0,0,0", "bbox"),
        (&analyst, "exports/incidents?format=", "format"),
        (&admin, "audit?from=yesterday", "from"),
        (&admin, "audit?to=-5000-01-01T00:00:00Z", "to"),
        (&admin, "audit?actor_id=x", "actor_id"),
        (&admin, "audit?limit=0", "limit"),
        (&admin, "audit?cursor=", "cursor"),
    ] {
        let problem = app
            .get(&format!("/api/v1/{query}"), Some(&user.token))
            .await
            .expect(400);
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "{query}: {problem}"
        );
    }
    // Long and odd free-text filters are filters like any other: nothing matches.
    for query in [
        format!("action={}", "x".repeat(4000)),
        "action=%E2%80%AE%F0%9F%92%A9".to_owned(),
        "entity_id=%27%20OR%201%3D1%20--".to_owned(),
        "action=".to_owned(),
    ] {
        let page = app
            .get(&format!("/api/v1/audit?{query}"), Some(&admin.token))
            .await
            .expect(200);
        assert_eq!(page["items"], json!([]), "{query}");
    }
}

/// serde fills a struct from an array of its fields in order; no body of the
/// API is an array of fields, so `[null, null]` must not pass for "change nothing"
/// (it did, a 200, on PATCH /organisations/{id}).
async fn an_array_never_fills_an_object_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let org = app.org_id.clone();
    let before = app.count("audit_log");
    for (method, path) in [
        (Method::PATCH, format!("/api/v1/organisations/{org}")),
        (Method::PATCH, format!("/api/v1/users/{}", admin.id)),
        (Method::POST, "/api/v1/organisations".to_owned()),
        (Method::POST, "/api/v1/missions".to_owned()),
    ] {
        for body in [json!([null, null]), json!(["Renamed", "ngo"]), json!([])] {
            let res = app
                .request(method.clone(), &path, Some(&admin.token), Some(&body))
                .await;
            let problem = res.expect(422);
            assert_eq!(
                problem["errors"][0],
                json!({"field": "body", "message": "must be a JSON object"}),
                "{method} {path} {body}"
            );
        }
    }
    assert_eq!(app.count("audit_log"), before, "nothing was changed");
}
