//! /api/v1/exports/incidents: each format parsed back, HXL and HTCDS names,
//! partners' scope, roles, audit.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Duration;

use basewatch::db::schema::incidents as incidents_table;
use basewatch::demo;
use basewatch::domain::Role;
use chrono::{NaiveDateTime, SecondsFormat};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, TestUser};
use crate::incidents::{World, create, report, world};
use crate::stats::fixture;

crate::scenarios![
    csv_parses_back_with_and_without_the_hxl_row,
    ndjson_and_geojson_parse_back,
    htcds_column_names,
    partners_export_only_their_organisation_without_narratives,
    exports_are_refused_to_other_roles_and_bad_parameters,
    every_filter_is_checked_before_the_response_starts,
    thousands_of_rows_page_through_without_a_row_lost_or_repeated,
    drafts_are_never_exported_not_even_the_exporters_own,
    an_abandoned_export_is_audited_as_aborted,
    htcds_victim_columns_carry_the_reported_breakdown,
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

/// The HXL row under the header, exactly: every hashtag and attribute from the
/// HXL 1.1 dictionary for what it means there; "" where the dictionary has no
/// word for the column. A change of the table in src/exports/columns.rs shows here.
const HXL_ROW: [&str; 50] = [
    "#event+code",
    "#activity+code",
    "#activity+name",
    "#country+code",
    "#loc+code",
    "#loc+name",
    "",
    "#status",
    "#date+occurred",
    "#geo+lat",
    "#geo+lon",
    "",
    "#loc+type",
    "#event+type",
    "",
    "",
    "",
    "#affected",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
    "#affected+f",
    "#affected+m",
    "#affected+i",
    "",
    "#country+code+origin",
    "#group+type",
    "",
    "#group+num",
    "#meta+source",
    "",
    "",
    "",
    "",
    "#indicator+code",
    "",
    "#date+reported",
    "",
    "",
    "",
    "",
    "",
    "#description",
];

async fn csv_parses_back_with_and_without_the_hxl_row(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let res = export(&w, &analyst, "format=csv").await;
    assert_eq!(res.header("content-type"), Some("text/csv; charset=utf-8"));
    let rows = csv_rows(&res);
    let header = &rows[0];
    assert_eq!(header.len(), 50, "45 columns and 5 of attachment metadata");
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
        header
            .iter()
            .zip(&with_hxl[1])
            .map(|(name, tag)| (name.as_str(), tag.as_str()))
            .collect::<Vec<_>>(),
        header
            .iter()
            .map(String::as_str)
            .zip(HXL_ROW)
            .collect::<Vec<_>>(),
        "the HXL row, column by column (scripts/validate-exports.sh checks it with libhxl)"
    );
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

/// Loads `n` synthetic incidents (about one in twenty a draft) straight into the database.
fn seed_synthetic(app: &TestApp, n: usize) {
    let mut conn = app.pool.get().unwrap();
    demo::seed_synthetic(&mut conn, &app.database_url, &app.data_keys, n, 500, 14).unwrap();
}

/// Every stored incident but drafts, newest first (the export's order).
fn stored_non_drafts(app: &TestApp) -> Vec<(String, NaiveDateTime)> {
    app.db(|conn| {
        incidents_table::table
            .filter(incidents_table::status.ne("draft"))
            .order((
                incidents_table::occurred_at.desc(),
                incidents_table::id.desc(),
            ))
            .select((incidents_table::id, incidents_table::occurred_at))
            .load(conn)
    })
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The ids the incident list shows `user`, paged through `limit=200` at a time.
async fn listed(app: &TestApp, user: &TestUser, filter: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(
                &format!("/api/v1/incidents?limit=200{filter}{cursor}"),
                Some(&user.token),
            )
            .await
            .expect(200);
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

/// The ids of an export, in the order served, from each format parsed back whole.
async fn exported_ids(w: &World, user: &TestUser, format: &str, filter: &str) -> Vec<String> {
    let res = export(w, user, &format!("format={format}{filter}")).await;
    match format {
        "csv" => {
            let rows = csv_rows(&res);
            assert_eq!(rows[0][0], "id");
            rows[1..].iter().map(|r| r[0].clone()).collect()
        }
        "ndjson" => ndjson(&res)
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect(),
        _ => res.json()["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["properties"]["id"].as_str().unwrap().to_owned())
            .collect(),
    }
}

/// The same ids in the same order; otherwise which went missing or came twice.
#[track_caller]
fn same_rows(got: &[String], want: &[String], what: &str) {
    if got == want {
        return;
    }
    let wanted: HashSet<&String> = want.iter().collect();
    let distinct: HashSet<&String> = got.iter().collect();
    let missing = wanted.difference(&distinct).count();
    let extra = got.iter().filter(|id| !wanted.contains(id)).count();
    let first_difference = got.iter().zip(want).position(|(g, w)| g != w);
    panic!(
        "{what}: {} rows for {} expected, {missing} missing, {} repeated, {extra} unexpected; first difference at row {first_difference:?}",
        got.len(),
        want.len(),
        got.len() - distinct.len(),
    );
}

/// Exports are read 1,000 rows per query with an (occurred_at, id) keyset. A few
/// thousand rows, two of them at one instant on either side of the first page
/// boundary, come out in every format exactly as the paged incident list shows
/// them; so do exports of exactly 999, 1,000 and 1,001 rows.
async fn thousands_of_rows_page_through_without_a_row_lost_or_repeated(backend: Backend) {
    let w = world(backend).await;
    let analyst = w.app.seed_user(Role::Analyst);
    let monitor = w.app.seed_user(Role::Monitor);
    seed_synthetic(&w.app, 2500);
    let synthetic = stored_non_drafts(&w.app);

    // Synthetic times are whole minutes: 30 s after the 1,000th row and before
    // the 999th, two reports at one instant become rows 1,000 and 1,001, the
    // first page's last row and the second page's first.
    assert!(synthetic[998].1 > synthetic[999].1, "a gap after row 999");
    let twin_time = synthetic[999].1 + chrono::Duration::seconds(30);
    let mut twins = HashSet::new();
    for _ in 0..2 {
        let mut body = report(&w.mission);
        body["occurred_at"] = json!(rfc3339(twin_time));
        body["submit"] = json!(true);
        let id = create(&w.app, &monitor, &body).await.expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        twins.insert(id);
    }

    // Stored newest first (the database's own order), listed page by page, exported.
    let stored = stored_non_drafts(&w.app);
    let all: Vec<String> = stored.iter().map(|r| r.0.clone()).collect();
    assert!(all.len() > 2000, "three pages");
    assert_eq!(
        all[999..1001].iter().cloned().collect::<HashSet<_>>(),
        twins
    );
    for format in ["csv", "ndjson", "geojson"] {
        let exported = exported_ids(&w, &analyst, format, "").await;
        same_rows(&exported, &all, format);
    }
    same_rows(&listed(&w.app, &analyst, "").await, &all, "the list");

    // The oldest 999, 1,000 and 1,001 rows (occurred_to is exclusive).
    for n in [999, 1000, 1001] {
        let first_out = &stored[stored.len() - n - 1];
        assert!(
            first_out.1 > stored[stored.len() - n].1,
            "a gap before the last {n}"
        );
        let filter = format!("&occurred_to={}", rfc3339(first_out.1));
        let exported = exported_ids(&w, &analyst, "csv", &filter).await;
        same_rows(&exported, &all[all.len() - n..], &format!("the last {n}"));
    }
}

/// Drafts stay out of every export, the exporter's own included, although the
/// incident list shows each of these exporters their own draft.
async fn drafts_are_never_exported_not_even_the_exporters_own(backend: Backend) {
    let (w, _) = fixture(backend).await;
    // An analyst who reported a draft as a monitor before being promoted, an
    // admin, and a partner of the organisation whose monitor left a draft too.
    let promoted = w.app.seed_user(Role::Monitor);
    let partner = w.app.seed_user(Role::Partner);
    for user in [&promoted, &w.admin, &partner] {
        let draft = create(&w.app, user, &report(&w.mission)).await.expect(201);
        assert_eq!(draft["status"], "draft");
    }
    let promotion = w
        .app
        .patch(
            &format!("/api/v1/users/{}", promoted.id),
            Some(&w.admin.token),
            &json!({"role": "analyst"}),
        )
        .await
        .expect(200);
    assert_eq!(promotion["role"], "analyst");
    let drafts: HashSet<String> = w
        .app
        .db(|conn| {
            incidents_table::table
                .filter(incidents_table::status.eq("draft"))
                .select(incidents_table::id)
                .load::<String>(conn)
        })
        .into_iter()
        .collect();
    assert_eq!(drafts.len(), 4);

    for user in [&promoted, &w.admin, &partner] {
        let seen = listed(&w.app, user, "").await;
        let expected: Vec<String> = seen
            .iter()
            .filter(|id| !drafts.contains(*id))
            .cloned()
            .collect();
        assert_eq!(
            seen.len(),
            expected.len() + 1,
            "the list shows the own draft"
        );
        assert_eq!(expected.len(), 5);
        for format in ["csv", "ndjson", "geojson"] {
            assert_eq!(
                exported_ids(&w, user, format, "").await,
                expected,
                "{format}"
            );
        }
        let refused = w
            .app
            .get(
                "/api/v1/exports/incidents?format=ndjson&status=draft",
                Some(&user.token),
            )
            .await
            .expect(400);
        assert!(refused["detail"].as_str().unwrap().contains("draft"));
    }
}

/// The audit rows of exports, newest first, once there are `n` of them.
async fn audited_exports(w: &World, n: usize) -> Vec<Value> {
    for _ in 0..250 {
        let log = w
            .app
            .get(
                "/api/v1/audit?action=incidents.exported",
                Some(&w.admin.token),
            )
            .await
            .expect(200);
        let items = log["items"].as_array().unwrap();
        assert!(items.len() <= n, "{log}");
        if items.len() == n {
            return items.clone();
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} exports were not audited within 5 s");
}

/// A finished export is audited `completed` with its exact row count; one the
/// client walks away from is `aborted`, with the rows handed over until then.
async fn an_abandoned_export_is_audited_as_aborted(backend: Backend) {
    let w = world(backend).await;
    let analyst = w.app.seed_user(Role::Analyst);
    seed_synthetic(&w.app, 1500);
    let total = stored_non_drafts(&w.app).len();

    assert_eq!(
        ndjson(&export(&w, &analyst, "format=ndjson").await).len(),
        total
    );
    let done = &audited_exports(&w, 1).await[0]["details"];
    assert_eq!(
        (&done["outcome"], &done["completed"], &done["rows"]),
        (&json!("completed"), &json!(true), &json!(total))
    );

    // A client that reads the status line, then hangs up.
    let host = w.app.address.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/exports/incidents?format=csv HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\r\n",
        analyst.token
    )
    .unwrap();
    // The status line only: the rest, left unread, makes the close a reset.
    let mut status = [0; 15];
    stream.read_exact(&mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 200 OK");
    drop(stream);

    let aborted = &audited_exports(&w, 2).await[0]["details"];
    assert_eq!(aborted["filters"]["format"], "csv");
    assert_eq!(aborted["outcome"], "aborted", "{aborted}");
    assert_eq!(aborted["completed"], false);
    let rows = aborted["rows"].as_u64().unwrap();
    assert!(rows < total as u64, "{rows} of {total}");
}

/// A victim breakdown by age band, sex and nationality fills the HTCDS columns
/// (and Basewatch's own) cell by cell, in CSV, NDJSON and GeoJSON.
async fn htcds_victim_columns_carry_the_reported_breakdown(backend: Backend) {
    let w = world(backend).await;
    let analyst = w.app.seed_user(Role::Analyst);
    let monitor = w.app.seed_user(Role::Monitor);
    let mut body = report(&w.mission);
    body["submit"] = json!(true);
    body["victims"] = json!({
        "count": 13,
        "age_bands": {"0-8": 1, "9-17": 2, "18-20": 3, "21-23": 1, "24-26": 1, "27-29": 1,
                      "30-38": 1, "39-47": 1, "48+": 1, "unknown": 1},
        "sexes": {"female": 7, "male": 3, "other": 2, "unknown": 1},
        "nationalities": ["MD", "UA", "RS"],
    });
    create(&w.app, &monitor, &body).await.expect(201);
    let expected = [
        ("victims", "vic_Count", 13),
        ("victims_age_0_8", "vic_AgeBroad_0--8", 1),
        ("victims_age_9_17", "vic_AgeBroad_9--17", 2),
        ("victims_age_18_20", "vic_AgeBroad_18--20", 3),
        ("victims_age_21_23", "vic_AgeBroad_21--23", 1),
        ("victims_age_24_26", "vic_AgeBroad_24--26", 1),
        ("victims_age_27_29", "vic_AgeBroad_27--29", 1),
        ("victims_age_30_38", "vic_AgeBroad_30--38", 1),
        ("victims_age_39_47", "vic_AgeBroad_39--47", 1),
        ("victims_age_48_plus", "vic_AgeBroad_48+", 1),
        ("victims_age_unknown", "vic_AgeBroad_Unknown", 1),
        ("victims_female", "vic_Gender_Female", 7),
        ("victims_male", "vic_Gender_Male", 3),
        ("victims_sex_other", "vic_Gender_Other", 2),
        ("victims_sex_unknown", "vic_Gender_Unknown", 1),
    ];
    for (schema, htcds) in [("basewatch", false), ("htcds", true)] {
        let name = |(basewatch, htcds_name, _): &(&'static str, &'static str, i32)| {
            if htcds { *htcds_name } else { *basewatch }
        };
        let nationalities = if htcds {
            "vic_Citizenship"
        } else {
            "victims_nationalities"
        };

        let rows = csv_rows(&export(&w, &analyst, &format!("format=csv&schema={schema}")).await);
        assert_eq!(rows.len(), 2);
        let cell = |column: &str| {
            let at = rows[0].iter().position(|h| h == column).unwrap();
            rows[1][at].clone()
        };
        for column in &expected {
            assert_eq!(
                cell(name(column)),
                column.2.to_string(),
                "{schema} csv {}",
                name(column)
            );
        }
        assert_eq!(cell(nationalities), "MD;RS;UA", "stored sorted");

        let line =
            &ndjson(&export(&w, &analyst, &format!("format=ndjson&schema={schema}")).await)[0];
        let feature = &export(&w, &analyst, &format!("format=geojson&schema={schema}"))
            .await
            .json()["features"][0]["properties"];
        for object in [line, feature] {
            for column in &expected {
                assert_eq!(
                    object[name(column)],
                    column.2,
                    "{schema} json {}",
                    name(column)
                );
            }
            assert_eq!(object[nationalities], json!(["MD", "RS", "UA"]));
        }
    }
}
