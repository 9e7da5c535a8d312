//! Issue 10, the attacker with a stolen copy of the database (and its
//! backups) but not the server's environment: what the copy holds after edits
//! and a key rotation, and whether a rewritten audit log can pass
//! `audit verify --anchor`.

use basewatch::audit::chain::{self, ChainRow};
use basewatch::crypto::DataKeys;
use basewatch::db::schema::{audit_log, incidents};
use basewatch::domain::Role;
use diesel::prelude::*;
use serde_json::json;

use crate::audit::{assert_names, tampered_copy, verify_url};
use crate::helpers::{self, Backend, TestApp, url_string};
use crate::incidents::{create, report, world};
use crate::sealing::raw_database_text;

crate::scenarios![
    edits_and_a_rotation_leave_no_old_sealed_text_in_the_copy,
    an_anchor_is_not_satisfied_by_a_decoy_beside_a_rewritten_chain,
    an_account_made_from_the_shell_is_audited,
    audit_verify_creates_no_database,
];

/// The sealed narratives as stored: (incident id, ciphertext, key id).
fn sealed_narratives(app: &TestApp) -> Vec<(String, String, String)> {
    app.db(|conn| {
        incidents::table
            .filter(incidents::narrative.is_not_null())
            .select((
                incidents::id,
                incidents::narrative.assume_not_null(),
                incidents::narrative_key_id.assume_not_null(),
            ))
            .order(incidents::id.asc())
            .load(conn)
    })
}

async fn edits_and_a_rotation_leave_no_old_sealed_text_in_the_copy(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    // Long narratives spill onto overflow pages and split pages, where an
    // update leaves the old bytes in free space unless they are overwritten.
    let words = "Three women held in a bar near the base; passports taken by the owner. ";
    let mut ids = Vec::new();
    for i in 0..30 {
        let mut body = report(&w.mission);
        body["narrative"] = json!(format!("Report {i}: {}", words.repeat(40)));
        let created = create(&w.app, &monitor, &body).await.expect(201);
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let before_edit = sealed_narratives(&w.app);
    assert_eq!(before_edit.len(), 30);
    for id in &ids {
        w.app
            .raw(
                awc::http::Method::PATCH,
                &format!("/api/v1/incidents/{id}"),
                &[
                    ("content-type", "application/merge-patch+json"),
                    ("authorization", &format!("Bearer {}", monitor.token)),
                    ("if-match", "\"1\""),
                ],
                json!({"narrative": format!("Edited: {}", words.repeat(30))})
                    .to_string()
                    .into_bytes(),
            )
            .await
            .expect(200);
    }
    let before_rotation = sealed_narratives(&w.app);
    assert_eq!(before_rotation.len(), 30);
    let old_key = DataKeys::parse(&w.app.data_key_hex, &[]).unwrap();
    assert!(
        before_rotation
            .iter()
            .all(|(_, _, key)| key == old_key.current_id())
    );

    let new_key_hex = DataKeys::generate_hex();
    let new_key = DataKeys::parse(&new_key_hex, &[]).unwrap();
    let data_dir = std::env::temp_dir().join(format!("bw-r3-rotate-{}", uuid::Uuid::new_v4()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"))
        .arg("rotate-data-key")
        .env("DATABASE_URL", url_string(&w.app.database_url))
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("BASEWATCH_DATA_KEY", &new_key_hex)
        .env("BASEWATCH_RETIRED_DATA_KEYS", &w.app.data_key_hex)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = sealed_narratives(&w.app);
    assert_eq!(after.len(), 30);
    assert!(after.iter().all(|(_, _, key)| key == new_key.current_id()));

    // Neither the first narratives nor those the rotation replaced are left
    // anywhere in the copy: the raw SQLite file and its WAL, or every table.
    let raw = raw_database_text(&w.app);
    assert!(
        raw.contains(&after[0].1[..40]),
        "the reading sees live rows"
    );
    for (id, sealed, _) in before_edit.iter().chain(&before_rotation) {
        assert!(
            !raw.contains(&sealed[..40]),
            "an old sealed narrative of {id} is still in the copy"
        );
    }
    assert!(!raw.contains("Three women held"));
}

async fn an_anchor_is_not_satisfied_by_a_decoy_beside_a_rewritten_chain(backend: Backend) {
    let app = helpers::spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    for name in ["One", "Two", "Three", "Four", "Five", "Six"] {
        app.post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": format!("{name} NGO"), "kind": "ngo"}),
        )
        .await
        .expect(201);
    }
    let rows: Vec<ChainRow> = app.db(|conn| {
        audit_log::table
            .order(audit_log::seq.asc())
            .select(ChainRow::as_select())
            .load(conn)
    });
    assert_eq!(rows.len(), 6);
    let anchor = format!("6:{}", rows[5].hash.as_deref().unwrap());
    let intact = verify_url(&url_string(&app.database_url), &["--anchor", &anchor]);
    assert!(intact.status.success(), "{}", intact.stderr);

    // Whoever holds the copy rewrites row 3 and every hash after it (the
    // algorithm is published), so the chain alone verifies ...
    let mut forged = rows.clone();
    forged[2].details = r#"{"name":"Nobody"}"#.to_owned();
    forged[5].id = uuid::Uuid::now_v7().to_string();
    for i in 2..6 {
        let prev = forged[i - 1].hash.clone().unwrap();
        forged[i].hash = Some(chain::hash(&prev, &forged[i].content()));
        forged[i].prev_hash = Some(prev);
    }
    let mut rewrite = Vec::new();
    for i in 2..6 {
        rewrite.push(format!(
            "UPDATE audit_log SET id = '{}', details = '{}', prev_hash = '{}', hash = '{}' WHERE id = '{}'",
            forged[i].id,
            forged[i].details,
            forged[i].prev_hash.as_deref().unwrap(),
            forged[i].hash.as_deref().unwrap(),
            rows[i].id,
        ));
    }
    let (copy, chain_alone) = tampered_copy(&app, backend, &rewrite);
    assert!(chain_alone.status.success(), "{}", chain_alone.stderr);
    // ... but not against the anchor kept elsewhere,
    assert_names(
        &verify_url(&url_string(&copy.url), &["--anchor", &anchor]),
        "row seq 6 hashes to",
    );
    drop(copy);

    // ... nor with the original anchored row put back beside it as a decoy,
    // sharing its place (the unique index is gone from the copy).
    let o = &rows[5];
    let mut with_decoy = rewrite.clone();
    with_decoy.push(format!(
        "INSERT INTO audit_log (id, at, actor_id, action, entity_type, entity_id, details, request_id, seq, prev_hash, hash) \
         VALUES ('{}', '{}', {}, '{}', {}, {}, '{}', {}, 6, '{}', '{}')",
        o.id,
        o.at.format("%Y-%m-%d %H:%M:%S%.6f"),
        sql_text(&o.actor_id),
        o.action,
        sql_text(&o.entity_type),
        sql_text(&o.entity_id),
        o.details,
        sql_text(&o.request_id),
        o.prev_hash.as_deref().unwrap(),
        o.hash.as_deref().unwrap(),
    ));
    let (copy, decoyed) = tampered_copy(&app, backend, &with_decoy);
    assert!(!decoyed.status.success(), "{}", decoyed.stdout);
    let anchored = verify_url(&url_string(&copy.url), &["--anchor", &anchor]);
    assert!(!anchored.status.success(), "{}", anchored.stdout);
    assert!(
        anchored.stderr.contains("tampered with"),
        "{}",
        anchored.stderr
    );
}

fn sql_text(value: &Option<String>) -> String {
    match value {
        Some(v) => format!("'{v}'"),
        None => "NULL".to_owned(),
    }
}

async fn an_account_made_from_the_shell_is_audited(backend: Backend) {
    let app = helpers::spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let out = crate::users::create_with_cli(
        &app,
        &[
            "--email",
            "shell-admin@example.org",
            "--role",
            "admin",
            "--org",
            "Shell Oversight",
        ],
        "violet tractor juggles nine quiet lanterns",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = app
        .get("/api/v1/audit?action=user.created", Some(&admin.token))
        .await
        .expect(200);
    let rows = log["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{log}");
    assert_eq!(rows[0]["actor_id"], serde_json::Value::Null);
    assert_eq!(rows[0]["entity_type"], "user");
    assert_eq!(rows[0]["details"]["email"], "shell-admin@example.org");
    assert_eq!(rows[0]["details"]["role"], "admin");
    assert_eq!(rows[0]["details"]["via"], "basewatch user create");
    let verified = verify_url(&url_string(&app.database_url), &[]);
    assert!(verified.status.success(), "{}", verified.stderr);
}

async fn audit_verify_creates_no_database(backend: Backend) {
    let app = helpers::spawn_app(backend).await;
    let (url, path) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("bw-r3-none-{}", uuid::Uuid::new_v4()));
            let path = dir.join("basewatch.db");
            (format!("sqlite://{}", path.display()), Some(dir))
        }
        Backend::Postgres => {
            let url = url_string(&app.database_url);
            let base = url.rsplit_once('/').unwrap().0.to_owned();
            (format!("{base}/bw_r3_no_such_database"), None)
        }
    };
    let out = verify_url(&url, &[]);
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    if let Some(dir) = path {
        assert!(
            out.stderr.contains("no SQLite database at"),
            "{}",
            out.stderr
        );
        assert!(!dir.exists(), "audit verify created {}", dir.display());
    }
    // The app's own database verifies.
    let ok = verify_url(&url_string(&app.database_url), &[]);
    assert!(ok.status.success(), "{}", ok.stderr);
}
