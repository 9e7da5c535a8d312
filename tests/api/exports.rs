//! /api/v1/exports/incidents: each format parsed back, HXL and HTCDS names,
//! partners' scope, roles, audit.

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestUser};
use crate::incidents::{World, create, report};
use crate::stats::fixture;

crate::scenarios![
    csv_parses_back_with_and_without_the_hxl_row,
    ndjson_and_geojson_parse_back,
    htcds_column_names,
    partners_export_only_their_organisation_without_narratives,
    exports_are_refused_to_other_roles_and_bad_parameters,
    every_filter_is_checked_before_the_response_starts,
];

async fn export(w: &World, user: &TestUser, query: &str) -> Response {
    let res = w
        .app
        .get(
            &format!("/api/v1/exports/incidents?{query}"),
            Some(&user.token),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert!(
        res.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"basewatch-incidents-")
    );
    res
}

fn csv_rows(res: &Response) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(res.body.as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn ndjson(res: &Response) -> Vec<Value> {
    String::from_utf8(res.body.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn csv_parses_back_with_and_without_the_hxl_row(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let res = export(&w, &analyst, "format=csv").await;
    assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
    let rows = csv_rows(&res);
    let header = &rows[0];
    assert_eq!(header.len(), 45);
    assert_eq!(&header[..3], ["id", "mission_id", "mission_name"]);
    assert_eq!(header.last().unwrap(), "narrative");
    assert_eq!(
        rows.len(),
        1 + 5,
        "five submitted incidents, the draft left out"
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    // Newest first: the first data row is February 20th's.
    assert_eq!(rows[1][col("occurred_at")], "2024-02-20T10:00:00Z");
    let first = rows
        .iter()
        .find(|r| r[col("occurred_at")] == "2024-01-10T10:00:00Z")
        .unwrap();
    assert_eq!(first[col("base_name")], "Camp Bondsteel");
    assert_eq!(first[col("base_distance_km")], "1.383");
    assert_eq!(first[col("victims")], "3");
    assert_eq!(first[col("exploitation_types")], "sexual_exploitation");
    assert_eq!(first[col("means_of_control")], "debt_bondage");
    assert_eq!(first[col("perpetrator_contingent_countries")], "US");
    assert_eq!(
        first[col("consent_indicators")],
        "means_of_control:debt_bondage"
    );
    assert_eq!(first[col("status")], "in_review");
    assert_eq!(first[col("country")], "XK");
    let two_types = rows
        .iter()
        .find(|r| r[col("occurred_at")] == "2024-02-05T10:00:00Z")
        .unwrap();
    assert_eq!(
        two_types[col("exploitation_types")],
        "sexual_exploitation;forced_labour"
    );

    let with_hxl = csv_rows(&export(&w, &analyst, "format=csv&hxl=true").await);
    assert_eq!(with_hxl[0], *header);
    assert_eq!(
        &with_hxl[1][..3],
        [
            "#event+id",
            "#activity+mission+id",
            "#activity+mission+name"
        ]
    );
    assert!(
        with_hxl[1].contains(&"#geo+lat".to_owned())
            && with_hxl[1].contains(&"#affected+victims".to_owned())
    );
    assert!(with_hxl[1].iter().all(|t| t.starts_with('#')));
    assert_eq!(with_hxl.len(), 2 + 5);
    // Filters are the incident list's.
    let filtered =
        csv_rows(&export(&w, &analyst, &format!("format=csv&base_id={}", w.pristina)).await);
    assert_eq!(filtered.len(), 1 + 2);
}

async fn ndjson_and_geojson_parse_back(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let res = export(&w, &analyst, "format=ndjson").await;
    assert_eq!(res.header("content-type"), Some("application/x-ndjson"));
    let lines = ndjson(&res);
    assert_eq!(lines.len(), 5);
    let first = lines
        .iter()
        .find(|l| l["occurred_at"] == "2024-01-10T10:00:00Z")
        .unwrap();
    assert_eq!(first["victims"], 3);
    assert_eq!(first["exploitation_types"], json!(["sexual_exploitation"]));
    assert_eq!(first["base_distance_km"], 1.383);
    assert!(first["narrative"].is_null());

    let res = export(&w, &analyst, "format=geojson").await;
    assert_eq!(res.header("content-type"), Some("application/geo+json"));
    let doc = res.json();
    assert_eq!(doc["type"], "FeatureCollection");
    let features = doc["features"].as_array().unwrap();
    assert_eq!(features.len(), 5);
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        assert!(
            c[0].as_f64().unwrap() > 21.0 && c[1].as_f64().unwrap() > 42.0,
            "[lon, lat]"
        );
        assert!(f["properties"].get("latitude").is_none() && f["properties"]["id"].is_string());
    }
    // No match: still a valid, empty collection.
    let empty = export(
        &w,
        &analyst,
        &format!("format=geojson&mission_id={}", uuid::Uuid::new_v4()),
    )
    .await
    .json();
    assert_eq!(empty, json!({"type": "FeatureCollection", "features": []}));
    assert!(
        export(&w, &analyst, "format=ndjson&status=closed")
            .await
            .body
            .is_empty()
    );
}

async fn htcds_column_names(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let rows = csv_rows(&export(&w, &analyst, "format=csv&schema=htcds").await);
    let header = &rows[0];
    for name in [
        "caseId",
        "vic_TypeOfExploit",
        "vic_MethodsOfControl",
        "vic_MethodOfRecruitment",
        "vic_AgeBroad_9--17",
        "vic_AgeBroad_48+",
        "vic_Gender_Female",
        "vic_Citizenship",
        "countryOfExploitation",
        "caseNarrative",
    ] {
        assert!(header.contains(&name.to_owned()), "{name} in {header:?}");
    }
    assert!(!header.contains(&"means_of_control".to_owned()));
    let lines = ndjson(&export(&w, &analyst, "format=ndjson&schema=htcds").await);
    let first = lines
        .iter()
        .find(|l| l["dateOfIncident"] == "2024-01-10T10:00:00Z")
        .unwrap();
    assert_eq!(first["vic_MethodsOfControl"], json!(["debt_bondage"]));
    assert_eq!(first["vic_Count"], 3);
}

async fn partners_export_only_their_organisation_without_narratives(backend: Backend) {
    let (w, _) = fixture(backend).await;
    let ngo = w
        .app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Export NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let outsider = w.app.seed_user_in(Role::Partner, &ngo);
    let colleague = w.app.seed_user_in(Role::Partner, &ngo);
    let mut own = report(&w.mission);
    own["submit"] = json!(true);
    let own_id = create(&w.app, &outsider, &own).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for user in [&outsider, &colleague] {
        let rows = csv_rows(&export(&w, user, "format=csv&hxl=true").await);
        assert!(
            !rows[0].contains(&"narrative".to_owned())
                && !rows[1].contains(&"#description".to_owned())
        );
        assert_eq!(rows.len(), 2 + 1, "only the organisation's incident");
        assert_eq!(rows[2][0], own_id);
        let lines = ndjson(&export(&w, user, "format=ndjson").await);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].get("narrative").is_none());
        let geo = export(&w, user, "format=geojson&schema=htcds").await.json();
        assert_eq!(geo["features"].as_array().unwrap().len(), 1);
        assert!(
            geo["features"][0]["properties"]
                .get("caseNarrative")
                .is_none()
        );
        assert!(
            !String::from_utf8_lossy(&export(&w, user, "format=ndjson").await.body)
                .contains("passports")
        );
    }
    // The oversight office's partner sees the oversight office's five, no narratives.
    let insider = w.app.seed_user(Role::Partner);
    let lines = ndjson(&export(&w, &insider, "format=ndjson").await);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.get("narrative").is_none()));
}

async fn exports_are_refused_to_other_roles_and_bad_parameters(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    for role in [Role::Monitor, Role::Reviewer] {
        let user = w.app.seed_user(role);
        w.app
            .get("/api/v1/exports/incidents?format=csv", Some(&user.token))
            .await
            .expect(403);
    }
    w.app
        .get("/api/v1/exports/incidents?format=csv", None)
        .await
        .expect(401);
    for bad in [
        "",
        "format=xml",
        "format=ndjson&hxl=true",
        "format=csv&status=draft",
        "format=csv&schema=odk",
        "format=csv&limit=5",
        "format=csv&bbox=1,2",
    ] {
        w.app
            .get(
                &format!("/api/v1/exports/incidents?{bad}"),
                Some(&analyst.token),
            )
            .await
            .expect(400);
    }
    export(&w, &analyst, "format=csv&schema=htcds").await;
    export(&w, &w.admin, "format=geojson").await;
    // Audited once the stream ends, with filters and the row count.
    let mut log = Value::Null;
    for _ in 0..50 {
        log = w
            .app
            .get(
                "/api/v1/audit?action=incidents.exported",
                Some(&w.admin.token),
            )
            .await
            .expect(200);
        if log["items"].as_array().unwrap().len() == 2 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["actor_id"], analyst.id.as_str());
    assert_eq!(items[1]["details"]["rows"], 5);
    assert_eq!(items[1]["details"]["completed"], true);
    assert_eq!(items[1]["details"]["filters"]["schema"], "htcds");
    assert_eq!(items[0]["details"]["filters"]["format"], "geojson");
}

/// A bad filter is a 400 problem before anything streams: never 200 headers and
/// then an aborted body. Nothing ran, so nothing was audited as exported.
async fn every_filter_is_checked_before_the_response_starts(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let long = "x".repeat(2000);
    let cases = [
        (
            "format=csv&occurred_from=-5000-01-01T00:00:00Z",
            "occurred_from",
        ),
        (
            "format=ndjson&occurred_to=%2B10000-01-01T00:00:00Z",
            "occurred_to",
        ),
        (
            "format=geojson&occurred_from=1900-01-01T00:00:00Z",
            "occurred_from",
        ),
        ("format=csv&occurred_to=yesterday", "occurred_to"),
        ("format=csv&mission_id=not-a-uuid", "mission_id"),
        (&*format!("format=csv&base_id={long}"), "base_id"),
        ("format=csv&base_id=%00", "base_id"),
        ("format=csv&status=draft", "draft"),
        ("format=csv&status=archived", "status"),
        ("format=csv&exploitation_type=%3D1%2B1", "exploitation_type"),
        ("format=csv&bbox=21.0,42.3,21.4", "bbox"),
        ("format=csv&bbox=21.0,42.8,21.4,42.3", "bbox"),
        ("format=csv&hxl=maybe", "hxl"),
        ("format=ndjson&hxl=true", "hxl"),
        ("format=csv&schema=odk", "schema"),
        ("format=csv&format=ndjson", "format"),
        ("format=xlsx", "format"),
        ("format=csv&cursor=abc", "cursor"),
    ];
    for (query, name) in cases {
        let res = w
            .app
            .get(
                &format!("/api/v1/exports/incidents?{query}"),
                Some(&analyst.token),
            )
            .await;
        let problem = res.expect(400);
        assert!(
            problem["detail"].as_str().unwrap().contains(name),
            "{query}: {problem}"
        );
        assert!(res.header("content-disposition").is_none(), "{query}");
    }
    // The same export with good filters runs, and is the only one audited.
    export(
        &w,
        &analyst,
        "format=csv&occurred_from=2024-01-01T00:00:00Z",
    )
    .await;
    let mut audited = 0;
    for _ in 0..50 {
        audited = w.app.count("audit_log WHERE action = 'incidents.exported'");
        if audited > 0 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        (
            audited,
            w.app.count("audit_log WHERE action = 'incidents.exported'")
        ),
        (1, 1)
    );
}
