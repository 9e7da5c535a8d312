//! Issue 10, findings 1, 9 and 10: keyed content hashes, reviewers' comments and
//! override reasons sealed at rest and rotated, and what partners read of them.

use awc::http::Method;
use basewatch::crypto::DataKeys;
use basewatch::db::schema::{incident_events, incidents};
use basewatch::db::{DatabaseUrl, DbConnection};
use basewatch::domain::Role;
use basewatch::incidents::content::{IncidentContent, content_hash};
use diesel::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{self, Backend, Response, TestApp, TestUser};
use crate::incidents::{create, report, world};

crate::scenarios![
    a_database_copy_holds_no_comment_reason_or_confirmable_hash,
    re_sends_and_sealed_notes_survive_a_key_rotation,
    rows_from_before_sealing_are_handled_and_sealed_by_rotation,
    partners_read_no_people_and_no_review_notes,
    demo_data_is_keyed_and_sealed,
    rotation_never_overwrites_a_concurrent_edit,
];

const COMMENT: &str = "Spoke with Mrs Amra Kelmendi, the bar owner's cousin";
const REASON: &str = "Per Sgt. Dario Novak the women left freely";

/// Everything the database holds as text, as a client of the database sees it:
/// the raw SQLite file (and its WAL), or every PostgreSQL table as text.
pub(crate) fn raw_database_text(app: &TestApp) -> String {
    match &app.database_url {
        DatabaseUrl::Sqlite(path) => {
            app.db(|conn| {
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn)?;
                Ok(())
            });
            let mut bytes = std::fs::read(path).expect("the SQLite file");
            if let Ok(more) = std::fs::read(format!("{}-wal", path.display())) {
                bytes.extend(more);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        DatabaseUrl::Postgres(_) => app.db(|conn: &mut DbConnection| {
            #[derive(diesel::QueryableByName)]
            struct Text {
                #[diesel(sql_type = diesel::sql_types::Text)]
                s: String,
            }
            let tables: Vec<Text> = diesel::sql_query(
                "SELECT table_name::text AS s FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .load(conn)?;
            assert!(tables.iter().any(|t| t.s == "incident_events"));
            let mut all = String::new();
            for table in tables {
                let rows: Text = diesel::sql_query(format!(
                    "SELECT COALESCE(string_agg(t::text, ' '), '') AS s FROM {} t",
                    table.s
                ))
                .get_result(conn)?;
                all.push_str(&rows.s);
            }
            Ok(all)
        }),
    }
}

async fn send(
    app: &TestApp,
    address: &str,
    method: Method,
    path: &str,
    user: &TestUser,
    if_match: Option<i64>,
    body: Option<&Value>,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    let etag = if_match.map(|v| format!("\"{v}\""));
    let mut req = app
        .client
        .request(method, format!("{address}/api/v1{path}"))
        .insert_header(("authorization", auth.as_str()));
    if let Some(etag) = &etag {
        req = req.insert_header(("if-match", etag.as_str()));
    }
    let mut res = match body {
        Some(body) => req.send_json(body).await,
        None => req.send().await,
    }
    .expect("the request reaches the server");
    let bytes = res.body().limit(64 << 20).await.unwrap();
    Response {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        body: bytes.to_vec(),
    }
}

async fn move_to(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    version: i64,
    to: &str,
    comment: Option<&str>,
) -> Value {
    send(
        app,
        &app.address,
        Method::POST,
        &format!("/incidents/{id}/transitions"),
        user,
        Some(version),
        Some(&json!({"to": to, "comment": comment})),
    )
    .await
    .expect(200)
}

async fn override_assessment(app: &TestApp, user: &TestUser, id: &str, version: i64) -> Value {
    send(
        app,
        &app.address,
        Method::PUT,
        &format!("/incidents/{id}/assessment"),
        user,
        Some(version),
        Some(&json!({"assessment": "smuggling_indicated", "reason": REASON})),
    )
    .await
    .expect(200)
}

/// A submitted report with a client id, reviewed: in review, overridden with
/// `REASON`, sent back with `COMMENT`. Returns (body sent, id); version 4.
async fn reviewed(
    app: &TestApp,
    mission: &str,
    reporter: &TestUser,
    reviewer: &TestUser,
) -> (Value, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let mut body = report(mission);
    body["id"] = json!(id);
    body["submit"] = json!(true);
    create(app, reporter, &body).await.expect(201);
    move_to(app, reviewer, &id, 1, "in_review", None).await;
    override_assessment(app, reviewer, &id, 2).await;
    move_to(app, reviewer, &id, 3, "needs_info", Some(COMMENT)).await;
    (body, id)
}

/// The hash the code before this change stored: plain SHA-256 of the
/// canonical content, narrative included.
fn plain_sha256(body: &Value) -> String {
    let mut object = body.as_object().unwrap().clone();
    object.remove("id");
    object.remove("submit");
    let mut content = IncidentContent::from_object(object).unwrap();
    content.check(chrono::Utc::now()).unwrap();
    let json = serde_json::to_string(&content).unwrap();
    Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type HashRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// (content_hash, content_hash_key_id, narrative_key_id, override reason key id, override reason).
fn stored(app: &TestApp, id: &str) -> HashRow {
    let id = id.to_owned();
    app.db(move |conn| {
        incidents::table
            .filter(incidents::id.eq(id))
            .select((
                incidents::content_hash,
                incidents::content_hash_key_id,
                incidents::narrative_key_id,
                incidents::assessment_override_reason_key_id,
                incidents::assessment_override_reason,
            ))
            .first(conn)
    })
}

/// (comment, comment_key_id) of every history entry with a comment.
fn stored_comments(app: &TestApp) -> Vec<(String, Option<String>)> {
    app.db(|conn| {
        incident_events::table
            .filter(incident_events::comment.is_not_null())
            .order(incident_events::id)
            .select((
                incident_events::comment.assume_not_null(),
                incident_events::comment_key_id,
            ))
            .load(conn)
    })
}

async fn a_database_copy_holds_no_comment_reason_or_confirmable_hash(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let reviewer = w.app.seed_user(Role::Reviewer);
    let (body, id) = reviewed(&w.app, &w.mission, &monitor, &reviewer).await;

    // The owners still read everything.
    let read = w
        .app
        .get(&format!("/api/v1/incidents/{id}"), Some(&reviewer.token))
        .await
        .expect(200);
    assert_eq!(read["consent"]["override_reason"], REASON);
    let history = w
        .app
        .get(
            &format!("/api/v1/incidents/{id}/history"),
            Some(&monitor.token),
        )
        .await
        .expect(200);
    let comments: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["comment"].as_str())
        .collect();
    assert_eq!(comments.len(), 2, "{history}");
    assert!(comments[0].ends_with(&format!(": {REASON}")));
    assert_eq!(comments[1], COMMENT);

    let raw = raw_database_text(&w.app);
    assert!(raw.contains(&id), "the raw read sees the incident's row");
    for secret in ["Kelmendi", "Dario Novak", "passports taken by the owner"] {
        assert!(
            !raw.contains(secret),
            "{secret:?} is in the database in plaintext"
        );
    }

    // Every sealed value names the current key.
    let key = w.app.data_keys.current_id();
    let (hash, hash_key, narrative_key, reason_key, _) = stored(&w.app, &id);
    assert_eq!(hash_key.as_deref(), Some(key));
    assert_eq!(narrative_key.as_deref(), Some(key));
    assert_eq!(reason_key.as_deref(), Some(key));
    let sealed = stored_comments(&w.app);
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().all(|(_, k)| k.as_deref() == Some(key)));

    // Guessing the narrative right does not confirm it: the plain SHA-256 of
    // the canonical content matches no stored hash, and appears nowhere.
    let guess = plain_sha256(&body);
    assert_ne!(hash, guess);
    assert!(!raw.contains(&guess));
    let all_hashes: Vec<String> = w
        .app
        .db(|conn| incidents::table.select(incidents::content_hash).load(conn));
    assert!(!all_hashes.is_empty() && !all_hashes.contains(&guess));
    // Only the data key confirms it: the hash is the keyed one over the stored content.
    let content: String = w.app.db(|conn| {
        incidents::table
            .filter(incidents::id.eq(&id))
            .select(incidents::content)
            .first(conn)
    });
    let narrative = body["narrative"].as_str();
    assert_eq!(
        content_hash(&w.app.data_keys, &id, &content, narrative).hex,
        hash
    );
    let other_key = DataKeys::parse(&DataKeys::generate_hex(), &[]).unwrap();
    assert_ne!(content_hash(&other_key, &id, &content, narrative).hex, hash);

    // The audit log records that there was a comment and an override, never the text.
    let audit = w
        .app
        .get(
            &format!("/api/v1/audit?entity_id={id}"),
            Some(&w.admin.token),
        )
        .await
        .expect(200);
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{audit}");
    let transitions: Vec<&Value> = items
        .iter()
        .filter(|i| i["action"] == "incident.transitioned")
        .collect();
    assert_eq!(transitions.len(), 2);
    assert!(
        transitions
            .iter()
            .any(|t| t["details"]["commented"] == true)
    );
    assert!(
        transitions
            .iter()
            .all(|t| t["details"].get("comment").is_none())
    );
    let overridden: Vec<&Value> = items
        .iter()
        .filter(|i| i["action"] == "incident.assessment_overridden")
        .collect();
    assert_eq!(overridden.len(), 1);
    assert!(overridden[0]["details"].get("reason").is_none());
    assert_eq!(overridden[0]["details"]["to"], "smuggling_indicated");
}

/// Runs `basewatch rotate-data-key` against the app's database.
pub(crate) fn rotate(app: &TestApp, current: &str, retired: &str) -> String {
    rotate_url(&helpers::url_string(&app.database_url), current, retired)
}

/// Runs `basewatch rotate-data-key` against a database.
pub(crate) fn rotate_url(database_url: &str, current: &str, retired: &str) -> String {
    let data_dir = std::env::temp_dir().join(format!("bw-rotate-{}", uuid::Uuid::new_v4()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
        .arg("rotate-data-key")
        .env("DATABASE_URL", database_url)
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("BASEWATCH_DATA_KEY", current)
        .env("BASEWATCH_RETIRED_DATA_KEYS", retired)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A re-send of `body` to the server at `address`: its status.
async fn resend(app: &TestApp, address: &str, user: &TestUser, body: &Value) -> u16 {
    send(
        app,
        address,
        Method::POST,
        "/incidents",
        user,
        None,
        Some(body),
    )
    .await
    .status
}

/// The narrative, override reason and comments as a reviewer reads them from `address`.
async fn read_back(app: &TestApp, address: &str, reviewer: &TestUser, id: &str) {
    let incident = send(
        app,
        address,
        Method::GET,
        &format!("/incidents/{id}"),
        reviewer,
        None,
        None,
    )
    .await
    .expect(200);
    assert_eq!(incident["narrative"], report("")["narrative"]);
    assert_eq!(incident["consent"]["override_reason"], REASON);
    let history = send(
        app,
        address,
        Method::GET,
        &format!("/incidents/{id}/history"),
        reviewer,
        None,
        None,
    )
    .await
    .expect(200);
    let comments: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["comment"].as_str())
        .collect();
    assert_eq!(comments.len(), 2, "{history}");
    assert!(comments[0].ends_with(REASON));
    assert_eq!(comments[1], COMMENT);
}

async fn re_sends_and_sealed_notes_survive_a_key_rotation(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let (body, id) = reviewed(app, &w.mission, &monitor, &reviewer).await;
    let mut different = body.clone();
    different["narrative"] = json!("Another text altogether.");
    assert_eq!(resend(app, &app.address, &monitor, &body).await, 200);
    assert_eq!(resend(app, &app.address, &monitor, &different).await, 409);

    // Instances restart with a new key, the old one retired: re-sends still match.
    let new_hex = DataKeys::generate_hex();
    let mut settings = app.settings.clone();
    settings.data_keys = DataKeys::parse(&new_hex, &[&app.data_key_hex]).unwrap();
    let new_id = settings.data_keys.current_id().to_owned();
    let sibling = app.spawn_sibling(settings.clone());
    assert_eq!(resend(app, &sibling, &monitor, &body).await, 200);
    assert_eq!(resend(app, &sibling, &monitor, &different).await, 409);
    read_back(app, &sibling, &reviewer, &id).await;

    let before = stored(app, &id);
    let comments_before = stored_comments(app);
    let out = rotate(app, &new_hex, &app.data_key_hex);
    assert!(
        out.contains("re-sealed 1 narratives, 1 override reasons and 2 history comments, and keyed 1 content hashes"),
        "{out}"
    );
    let after = stored(app, &id);
    assert_ne!(after.0, before.0, "the hash changed with the key");
    assert_ne!(after.4, before.4, "the reason was re-sealed");
    assert_eq!(after.1.as_deref(), Some(new_id.as_str()));
    assert_eq!(after.2.as_deref(), Some(new_id.as_str()));
    assert_eq!(after.3.as_deref(), Some(new_id.as_str()));
    let comments_after = stored_comments(app);
    assert_eq!(comments_after.len(), 2);
    for (b, a) in comments_before.iter().zip(&comments_after) {
        assert_ne!(a.0, b.0);
        assert_eq!(a.1.as_deref(), Some(new_id.as_str()));
    }
    // Nothing left to do.
    assert!(rotate(app, &new_hex, "").contains("re-sealed 0 narratives, 0 override reasons and 0 history comments, and keyed 0 content hashes"));

    // The old key is gone: everything opens, and re-sends still match.
    settings.data_keys = DataKeys::parse(&new_hex, &[]).unwrap();
    let only_new = app.spawn_sibling(settings);
    read_back(app, &only_new, &reviewer, &id).await;
    assert_eq!(resend(app, &only_new, &monitor, &body).await, 200);
    assert_eq!(resend(app, &only_new, &monitor, &different).await, 409);
    assert_eq!(app.count("incidents"), 1);
}

/// Rows written before this change: plaintext comments and reasons, a plain
/// SHA-256 content hash, no key ids. The migration forgets the plain hash; the
/// service still reads them and recognises re-sends; rotation seals and keys them.
async fn rows_from_before_sealing_are_handled_and_sealed_by_rotation(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let (body, id) = reviewed(app, &w.mission, &monitor, &reviewer).await;
    let history = app
        .get(
            &format!("/api/v1/incidents/{id}/history"),
            Some(&reviewer.token),
        )
        .await
        .expect(200);
    let plain_comments: Vec<(String, String)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["comment"].is_string())
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["comment"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(plain_comments.len(), 2);

    // Turn the row back into what the code before this change wrote.
    let legacy_hash = plain_sha256(&body);
    let narrative = body["narrative"].as_str().unwrap().to_owned();
    let (row_id, hash) = (id.clone(), legacy_hash.clone());
    app.db(move |conn| {
        diesel::update(incidents::table.filter(incidents::id.eq(&row_id)))
            .set((
                incidents::narrative.eq(&narrative),
                incidents::narrative_key_id.eq(None::<String>),
                incidents::content_hash.eq(&hash),
                incidents::content_hash_key_id.eq(None::<String>),
                incidents::assessment_override_reason.eq(REASON),
                incidents::assessment_override_reason_key_id.eq(None::<String>),
            ))
            .execute(conn)?;
        for (event, comment) in &plain_comments {
            diesel::update(incident_events::table.filter(incident_events::id.eq(event)))
                .set((
                    incident_events::comment.eq(comment),
                    incident_events::comment_key_id.eq(None::<String>),
                ))
                .execute(conn)?;
        }
        Ok(())
    });
    assert!(raw_database_text(app).contains(&legacy_hash));
    // The migration's own statement forgets plain hashes.
    let up = include_str!("../../migrations/sqlite/2026-11-29-000002_sealed_review_text/up.sql");
    assert_eq!(
        up,
        include_str!("../../migrations/postgres/2026-11-29-000002_sealed_review_text/up.sql")
    );
    let forget = up
        .split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .find(|s| s.trim_start().starts_with("UPDATE"))
        .expect("the migration forgets plain hashes");
    app.db(|conn| diesel::sql_query(forget).execute(conn));
    assert_eq!(stored(app, &id).0, "");
    assert!(!raw_database_text(app).contains(&legacy_hash));

    // Served as before, and a re-send is compared with the content itself.
    read_back(app, &app.address, &reviewer, &id).await;
    let mut different = body.clone();
    different["victims"]["count"] = json!(9);
    assert_eq!(resend(app, &app.address, &monitor, &body).await, 200);
    assert_eq!(resend(app, &app.address, &monitor, &different).await, 409);
    let mut other_narrative = body.clone();
    other_narrative["narrative"] = json!("Not what was stored.");
    assert_eq!(
        resend(app, &app.address, &monitor, &other_narrative).await,
        409
    );

    // The rotation (with the same key) seals and keys everything from before.
    let out = rotate(app, &app.data_key_hex, "");
    assert!(
        out.contains("re-sealed 1 narratives, 1 override reasons and 2 history comments, and keyed 1 content hashes"),
        "{out}"
    );
    let key = app.data_keys.current_id();
    let (hash, hash_key, narrative_key, reason_key, _) = stored(app, &id);
    assert_eq!(
        (
            hash_key.as_deref(),
            narrative_key.as_deref(),
            reason_key.as_deref()
        ),
        (Some(key), Some(key), Some(key))
    );
    assert_ne!(hash, "");
    assert!(
        stored_comments(app)
            .iter()
            .all(|(_, k)| k.as_deref() == Some(key))
    );
    let raw = raw_database_text(app);
    for secret in ["Kelmendi", "Dario Novak", "passports taken by the owner"] {
        assert!(!raw.contains(secret), "{secret:?} is still in plaintext");
    }
    read_back(app, &app.address, &reviewer, &id).await;
    assert_eq!(resend(app, &app.address, &monitor, &body).await, 200);
    assert_eq!(resend(app, &app.address, &monitor, &different).await, 409);
}

async fn partners_read_no_people_and_no_review_notes(backend: Backend) {
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
    let partner = app.seed_user_in(Role::Partner, &ngo);
    let colleague = app.seed_user_in(Role::Partner, &ngo);
    let reviewer = app.seed_user(Role::Reviewer);
    let analyst = app.seed_user(Role::Analyst);

    // The partner reports; a reviewer overrides and sends it back with a comment;
    // the partner edits and resubmits.
    let (_, id) = reviewed(app, &w.mission, &partner, &reviewer).await;
    let edited = send(
        app,
        &app.address,
        Method::PATCH,
        &format!("/incidents/{id}"),
        &partner,
        Some(4),
        Some(&json!({"venue": "hotel"})),
    )
    .await
    .expect(200);
    let resubmitted = move_to(app, &partner, &id, 5, "submitted", None).await;
    let mut second = report(&w.mission);
    second["submit"] = json!(true);
    let created = create(app, &partner, &second).await.expect(201);
    for answer in [&edited, &resubmitted, &created] {
        assert!(answer.get("reporter_id").is_none(), "{answer}");
        assert!(
            answer["consent"].get("override_reason").is_none(),
            "{answer}"
        );
        assert_eq!(answer["reported_by_me"], true);
        assert!(
            answer["narrative"].is_string(),
            "a reporter reads their own narrative"
        );
    }
    assert_eq!(edited["consent"]["assessment"], "smuggling_indicated");

    let never = |text: &str, who: &str| {
        for secret in [COMMENT, REASON, reviewer.id.as_str(), partner.id.as_str()] {
            if secret == partner.id.as_str() && who == "partner" {
                continue;
            }
            assert!(!text.contains(secret), "{who} reads {secret:?} in {text}");
        }
    };
    for (viewer, who) in [(&partner, "partner"), (&colleague, "colleague")] {
        let mine = viewer.id == partner.id;
        let incident = app
            .get(&format!("/api/v1/incidents/{id}"), Some(&viewer.token))
            .await;
        never(&String::from_utf8_lossy(&incident.body), who);
        let incident = incident.expect(200);
        assert!(incident.get("reporter_id").is_none());
        assert!(incident["consent"].get("override_reason").is_none());
        assert_eq!(incident["consent"]["assessment"], "smuggling_indicated");
        assert_eq!(incident["reported_by_me"], mine);
        assert_eq!(incident["narrative"].is_string(), mine);

        let list = app.get("/api/v1/incidents", Some(&viewer.token)).await;
        never(&String::from_utf8_lossy(&list.body), who);
        let items = list.expect(200)["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        for item in &items {
            assert!(item.get("reporter_id").is_none());
            assert!(item["consent"].get("override_reason").is_none());
        }

        let history = app
            .get(
                &format!("/api/v1/incidents/{id}/history"),
                Some(&viewer.token),
            )
            .await;
        let text = String::from_utf8_lossy(&history.body);
        never(
            &text.replace(&format!("\"comment\":\"{COMMENT}\""), ""),
            who,
        );
        let entries = history.expect(200)["items"].as_array().unwrap().clone();
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "created",
                "transition",
                "assessment_overridden",
                "transition",
                "edited",
                "transition"
            ]
        );
        for (i, e) in entries.iter().enumerate() {
            // The request for more information is addressed to the reporter.
            if mine && i == 3 {
                assert_eq!(e["comment"], COMMENT, "{e}");
                continue;
            }
            assert!(e.get("comment").is_none(), "{e}");
            assert!(e["at"].is_string() && e["version"].is_i64(), "{e}");
        }
        // A partner reads the actor only of their own changes.
        let actors: Vec<&Value> = entries.iter().map(|e| &e["actor_id"]).collect();
        let me = json!(partner.id);
        let expected: Vec<&Value> = [&me, &Value::Null, &Value::Null, &Value::Null, &me, &me]
            .into_iter()
            .map(|v| if mine { v } else { &Value::Null })
            .collect();
        assert_eq!(actors, expected);
        assert_eq!(entries[3]["to_status"], "needs_info");

        for format in ["csv", "ndjson", "geojson"] {
            let export = app
                .get(
                    &format!("/api/v1/exports/incidents?format={format}"),
                    Some(&viewer.token),
                )
                .await;
            assert_eq!(export.status, 200);
            let text = String::from_utf8_lossy(&export.body).into_owned();
            assert!(text.contains(&id), "{format}: {text}");
            never(&text, who);
            for column in ["reporter", "override", "comment", "narrative"] {
                assert!(!text.contains(column), "{format} has a {column} column");
            }
        }
    }

    // The oversight office reads all of it.
    for viewer in [&reviewer, &analyst, &w.admin] {
        let incident = app
            .get(&format!("/api/v1/incidents/{id}"), Some(&viewer.token))
            .await
            .expect(200);
        assert_eq!(incident["reporter_id"], partner.id.as_str());
        assert_eq!(incident["reported_by_me"], false);
        assert_eq!(incident["consent"]["override_reason"], REASON);
        let history = app
            .get(
                &format!("/api/v1/incidents/{id}/history"),
                Some(&viewer.token),
            )
            .await
            .expect(200);
        let entries = history["items"].as_array().unwrap();
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[3]["comment"], COMMENT);
        assert_eq!(entries[3]["actor_id"], reviewer.id.as_str());
        assert_eq!(entries[0]["actor_id"], partner.id.as_str());
    }
}

async fn demo_data_is_keyed_and_sealed(backend: Backend) {
    let app = helpers::spawn_app(backend).await;
    let seeded = app.db(|conn| Ok(basewatch::demo::seed(conn, &app.data_keys).unwrap()));
    assert!(seeded.incidents > 0);
    let key = app.data_keys.current_id().to_owned();
    let n = seeded.incidents as i64;
    assert_eq!(
        app.count(&format!("incidents WHERE content_hash_key_id = '{key}'")),
        n
    );
    assert_eq!(
        app.count(&format!(
            "incident_events WHERE comment IS NOT NULL AND comment_key_id = '{key}'"
        )),
        n
    );
    assert_eq!(app.count("incident_events WHERE comment IS NOT NULL"), n);
    assert!(!raw_database_text(&app).contains("synthetic demo data"));
    // Each hash is the keyed one over what is stored.
    /// (id, content, content_hash, narrative, narrative_key_id)
    type Stored = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Stored> = app.db(|conn| {
        incidents::table
            .select((
                incidents::id,
                incidents::content,
                incidents::content_hash,
                incidents::narrative,
                incidents::narrative_key_id,
            ))
            .limit(50)
            .load(conn)
    });
    assert_eq!(rows.len(), 50);
    for (id, content, hash, narrative, key_id) in rows {
        let narrative = narrative.map(|t| app.data_keys.open(&id, key_id.as_deref(), &t).unwrap());
        assert_eq!(
            content_hash(&app.data_keys, &id, &content, narrative.as_deref()).hex,
            hash
        );
    }
}

/// The rows of the rotation's batch (50) that is now being written, in its
/// order, as far as committed rows show: narratives not yet under `key`, then
/// (once none is left) content hashes. Its first rows are likely written
/// already (and locked until the batch commits); the later ones not yet.
fn rotation_front(app: &TestApp, key: &str) -> Vec<String> {
    let key = key.to_owned();
    app.db(move |conn| {
        let front: Vec<String> = incidents::table
            .filter(incidents::narrative_key_id.ne(&key))
            .order(incidents::id)
            .select(incidents::id)
            .limit(50)
            .load(conn)?;
        if !front.is_empty() {
            return Ok(front);
        }
        incidents::table
            .filter(incidents::content_hash_key_id.ne(&key))
            .order(incidents::id)
            .select(incidents::id)
            .limit(50)
            .load(conn)
    })
}

/// `basewatch rotate-data-key --batch 50` over 150 incidents (three batches),
/// while reporters edit their narratives through a server on the new key, in a
/// loop until the command ends. On PostgreSQL edits land between a batch's read
/// and its writes, so compare-and-swaps are lost and retried; on SQLite each
/// batch holds the write lock from its read to its commit, so edits wait instead.
async fn rotation_never_overwrites_a_concurrent_edit(backend: Backend) {
    const ROWS: usize = 150;
    const EDITORS: usize = 8;
    let app = &helpers::spawn_app_with(backend, |s| s.pool_size = 12).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = crate::reference::seed_mission(app, &admin.token).await;
    let monitor = app.seed_user(Role::Monitor);
    let body = report(&mission);
    let mut ids = Vec::new();
    for _ in 0..ROWS / 10 {
        let created =
            helpers::join_all((0..10).map(|_| create(app, &monitor, &body)).collect()).await;
        ids.extend(
            created
                .iter()
                .map(|res| res.expect(201)["id"].as_str().unwrap().to_owned()),
        );
    }
    let old_key = app.data_keys.current_id().to_owned();
    assert_eq!(
        app.count(&format!("incidents WHERE narrative_key_id = '{old_key}'")),
        ROWS as i64
    );

    // Instances run on the new key, the old one retired; then the rotation starts.
    let new_hex = DataKeys::generate_hex();
    let mut settings = app.settings.clone();
    settings.data_keys = DataKeys::parse(&new_hex, &[&app.data_key_hex]).unwrap();
    let new_keys = settings.data_keys.clone();
    let new_key = new_keys.current_id().to_owned();
    let sibling = app.spawn_sibling(settings);
    let data_dir = std::env::temp_dir().join(format!("bw-rotate-{}", uuid::Uuid::new_v4()));
    let child = std::cell::RefCell::new(
        std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
            .args(["rotate-data-key", "--batch", "50"])
            .env("DATABASE_URL", helpers::url_string(&app.database_url))
            .env("BASEWATCH_DATA_DIR", &data_dir)
            .env("BASEWATCH_DATA_KEY", &new_hex)
            .env("BASEWATCH_RETIRED_DATA_KEYS", &app.data_key_hex)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let running = || child.borrow_mut().try_wait().unwrap().is_none();

    // Each editor owns every EDITORS-th incident and edits, of those, one the
    // rotation has read and is about to write: every edit must succeed (nothing
    // else changes their version).
    let editor = async |first: usize| {
        let mine: Vec<&String> = ids.iter().skip(first).step_by(EDITORS).collect();
        let mut last: Vec<(i64, Option<String>)> = vec![(1, None); mine.len()];
        let mut n = 0;
        loop {
            let ahead: Vec<usize> = rotation_front(app, &new_key)
                .iter()
                .skip(20)
                .filter_map(|id| mine.iter().position(|m| *m == id))
                .collect();
            let i = match ahead.len() {
                0 => n % mine.len(),
                k => ahead[n % k],
            };
            let text = format!("Edit {n} by editor {first} while the key rotates.");
            let res = send(
                app,
                &sibling,
                Method::PATCH,
                &format!("/incidents/{}", mine[i]),
                &monitor,
                Some(last[i].0),
                Some(&json!({"narrative": text})),
            )
            .await;
            let edited = res.expect(200);
            assert_eq!(edited["narrative"], text.as_str());
            last[i] = (last[i].0 + 1, Some(text));
            n += 1;
            if !running() {
                break;
            }
        }
        (mine, last, n)
    };
    let edits = helpers::join_all((0..EDITORS).map(editor).collect()).await;
    let out = child.into_inner().wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total: usize = edits.iter().map(|(_, _, n)| n).sum();

    // Every edit that got 200 is what the API returns now.
    for (mine, last, _) in &edits {
        for (id, (version, text)) in mine.iter().zip(last) {
            let read = send(
                app,
                &sibling,
                Method::GET,
                &format!("/incidents/{id}"),
                &monitor,
                None,
                None,
            )
            .await
            .expect(200);
            let expected = text
                .clone()
                .unwrap_or_else(|| report("")["narrative"].as_str().unwrap().to_owned());
            assert_eq!(read["narrative"], expected.as_str(), "{id}: {stdout}");
            assert_eq!(read["version"], *version);
        }
    }
    // Everything is under the new key, and each hash is the keyed one over what is stored.
    assert_eq!(
        app.count(&format!(
            "incidents WHERE narrative_key_id = '{new_key}' AND content_hash_key_id = '{new_key}'"
        )),
        ROWS as i64,
        "{stdout}"
    );
    /// (id, content, content_hash, narrative, narrative_key_id)
    type Stored = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Stored> = app.db(|conn| {
        incidents::table
            .select((
                incidents::id,
                incidents::content,
                incidents::content_hash,
                incidents::narrative,
                incidents::narrative_key_id,
            ))
            .load(conn)
    });
    for (id, content, hash, narrative, key_id) in rows {
        let narrative = narrative.map(|t| new_keys.open(&id, key_id.as_deref(), &t).unwrap());
        assert_eq!(
            content_hash(&new_keys, &id, &content, narrative.as_deref()).hex,
            hash,
            "{id}"
        );
    }
    let retried: usize = regex_lite::Regex::new(r"\((\d+) changed meanwhile and were re-read\)")
        .unwrap()
        .captures(&stdout)
        .unwrap_or_else(|| panic!("the command reports its retries: {stdout}"))[1]
        .parse()
        .unwrap();
    if backend == Backend::Postgres {
        assert!(
            retried > 0,
            "no compare-and-swap was lost ({total} edits): {stdout}"
        );
    }
    // Nothing is left for another run.
    assert!(rotate(app, &new_hex, "").contains(
        "re-sealed 0 narratives, 0 override reasons and 0 history comments, and keyed 0 content hashes"
    ));
}
