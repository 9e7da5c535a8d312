//! Evidence attachments through the HTTP API: upload, re-send and conflict,
//! list, download, removal with history and audit, rights per role, limits,
//! refused types, sealing at rest, tampering, key rotation, feed and export.

use awc::http::Method;
use basewatch::crypto::DataKeys;
use basewatch::db::DatabaseUrl;
use basewatch::db::schema::{attachment_chunks, attachments};
use basewatch::domain::Role;
use diesel::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, Response, TestApp, TestUser, spawn_app_with};
use crate::incidents::{create, report, world};
use crate::reference::seed_mission;
use crate::review::transition;

crate::scenarios![
    upload_list_download_resend_and_remove,
    rights_follow_who_reads_the_narrative,
    limits_and_refused_types,
    sealed_at_rest_rotated_and_tamper_evident,
    exports_and_the_feed_carry_metadata_only,
    metadata_is_removed_and_disguised_files_refused,
];

/// A distinctive run of bytes, searched for in the raw database.
const MARKER: &[u8] = b"WITNESS-FACE-7f3a9c-PIXELS";

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A valid 8-bit greyscale PNG, `width` x `height`, its pixels stored
/// uncompressed (so `MARKER`, written into the pixels, is in the file as it is).
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.push(
                (x as u8)
                    .wrapping_mul(31)
                    .wrapping_add(y as u8)
                    .wrapping_add(seed),
            );
        }
    }
    let at = raw.len() / 2 + 1;
    raw[at..at + MARKER.len()].copy_from_slice(MARKER);
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend(*block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", b"");
    out
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn attachment_path(incident: &str, attachment: &str) -> String {
    format!("/api/v1/incidents/{incident}/attachments/{attachment}")
}

pub async fn put(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(t) = content_type {
        headers.push(("content-type", t));
    }
    app.raw(Method::PUT, path, &headers, body).await
}

async fn upload(app: &TestApp, user: &TestUser, incident: &str, file: &[u8]) -> (String, Response) {
    let id = uuid::Uuid::new_v4().to_string();
    let res = put(
        app,
        user,
        &attachment_path(incident, &id),
        Some("image/png"),
        file.to_vec(),
    )
    .await;
    (id, res)
}

pub async fn download(app: &TestApp, user: &TestUser, incident: &str, id: &str) -> Response {
    app.get(
        &format!("{}/content", attachment_path(incident, id)),
        Some(&user.token),
    )
    .await
}

pub async fn remove(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    id: &str,
    body: Option<Value>,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let body = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
    app.raw(
        Method::DELETE,
        &attachment_path(incident, id),
        &headers,
        body,
    )
    .await
}

pub async fn draft(app: &TestApp, reporter: &TestUser, mission: &str) -> String {
    create(app, reporter, &report(mission)).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn submitted(app: &TestApp, reporter: &TestUser, mission: &str) -> String {
    let mut body = report(mission);
    body["submit"] = json!(true);
    create(app, reporter, &body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn audit_count(app: &TestApp, action: &str, incident: &str) -> i64 {
    app.count(&format!(
        "audit_log WHERE action = '{action}' AND entity_id = '{incident}'"
    ))
}

async fn upload_list_download_resend_and_remove(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let file = png(64, 48, 1);
    let id = uuid::Uuid::new_v4().to_string();
    let path = attachment_path(&incident, &id);
    let named = format!("{path}?filename=..%2F..%2FWitness%20%C3%81mra");

    let res = put(app, &monitor, &named, Some("image/png"), file.clone()).await;
    let stored = res.expect(201);
    assert_eq!(res.header("location"), Some(path.as_str()));
    assert_eq!(stored["id"], id.as_str());
    assert_eq!(stored["incident_id"], incident.as_str());
    assert_eq!(stored["media_type"], "image/png");
    assert_eq!(stored["file_name"], "Witness Ámra");
    assert_eq!(stored["uploaded_by"], monitor.id.as_str());
    assert!(stored["removed"].is_array());
    let size = stored["size"].as_i64().unwrap();
    let sha = stored["sha256"].as_str().unwrap().to_owned();

    // A re-send after a lost answer stores nothing; other bytes under the id are a conflict.
    let again = put(app, &monitor, &named, Some("image/png"), file.clone()).await;
    assert_eq!(again.expect(200)["sha256"], sha.as_str());
    put(app, &monitor, &path, Some("image/png"), png(64, 48, 2))
        .await
        .expect(409);
    assert_eq!(app.count("attachments"), 1);

    let list = app
        .get(
            &format!("/api/v1/incidents/{incident}/attachments"),
            Some(&monitor.token),
        )
        .await
        .expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["sha256"], sha.as_str());
    app.get(&path, Some(&monitor.token)).await.expect(200);

    let got = download(app, &monitor, &incident, &id).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        got.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"Witness _mra.png\"; filename*=UTF-8''Witness%20%C3%81mra.png")
    );
    assert_eq!(got.body.len() as i64, size);
    assert_eq!(sha256_hex(&got.body), sha);
    assert_eq!(
        got.body, file,
        "a PNG without metadata comes back as it was"
    );
    assert_eq!(audit_count(app, "incident.attachment_added", &incident), 1);
    assert_eq!(
        audit_count(app, "incident.attachment_downloaded", &incident),
        1
    );

    // The reporter removes from a draft without a reason.
    remove(app, &monitor, &incident, &id, None)
        .await
        .expect(204);
    assert_eq!(app.count("attachments"), 0);
    assert_eq!(app.count("attachment_chunks"), 0);
    download(app, &monitor, &incident, &id).await.expect(404);
    assert_eq!(
        audit_count(app, "incident.attachment_removed", &incident),
        1
    );
    let history = app
        .get(
            &format!("/api/v1/incidents/{incident}/history"),
            Some(&monitor.token),
        )
        .await
        .expect(200);
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["created", "attachment_added", "attachment_removed"],
        "{history}"
    );
    assert_eq!(
        history["items"][1]["changed_fields"],
        json!([format!("attachments/{id}")])
    );
}

async fn rights_follow_who_reads_the_narrative(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let other_monitor = app.seed_user(Role::Monitor);
    let reviewer = app.seed_user(Role::Reviewer);
    let analyst = app.seed_user(Role::Analyst);
    let admin = app.seed_user(Role::Admin);
    let ngo = crate::helpers::create_ngo(app, &w.admin).await;
    let partner = app.seed_user_in(Role::Partner, &ngo);
    let colleague = app.seed_user_in(Role::Partner, &ngo);
    let stranger = app.seed_user_in(Role::Partner, &app.org_id.clone());
    let file = png(32, 32, 3);

    // A submitted report: its reporter may no longer add; reviewers and admins may.
    let incident = submitted(app, &monitor, &w.mission).await;
    upload(app, &monitor, &incident, &file).await.1.expect(403);
    upload(app, &other_monitor, &incident, &file)
        .await
        .1
        .expect(404);
    upload(app, &analyst, &incident, &file).await.1.expect(403);
    upload(app, &partner, &incident, &file).await.1.expect(404);
    upload(app, &stranger, &incident, &file).await.1.expect(403);
    assert_eq!(app.count("attachments"), 0);
    let (id, res) = upload(app, &reviewer, &incident, &file).await;
    assert_eq!(res.expect(201)["uploaded_by"], reviewer.id.as_str());
    upload(app, &admin, &incident, &file).await.1.expect(201);

    // Whoever reads the narrative downloads; another organisation's partner sees nothing.
    for user in [&monitor, &reviewer, &analyst, &admin] {
        download(app, user, &incident, &id).await.expect_bytes(200);
    }
    download(app, &other_monitor, &incident, &id)
        .await
        .expect(404);
    download(app, &partner, &incident, &id).await.expect(404);
    app.get(
        &format!("/api/v1/incidents/{incident}/attachments"),
        Some(&partner.token),
    )
    .await
    .expect(404);
    // A partner of the reporter's organisation sees the incident but reads no narrative of it.
    download(app, &stranger, &incident, &id).await.expect(403);

    // A partner's own report: they upload and download; a colleague lists but may not download.
    let theirs = draft(app, &partner, &w.mission).await;
    let (pid, res) = upload(app, &partner, &theirs, &file).await;
    res.expect(201);
    download(app, &partner, &theirs, &pid)
        .await
        .expect_bytes(200);
    transition(app, &partner, &theirs, Some(1), json!({"to": "submitted"}))
        .await
        .expect(200);
    let listed = app
        .get(
            &format!("/api/v1/incidents/{theirs}/attachments"),
            Some(&colleague.token),
        )
        .await
        .expect(200);
    assert!(listed["items"][0].get("file_name").is_none());
    assert!(
        listed["items"][0].get("uploaded_by").is_none(),
        "partners see no people"
    );
    download(app, &colleague, &theirs, &pid).await.expect(403);
    download(app, &stranger, &theirs, &pid).await.expect(404);

    // Removal: not the reporter once submitted; a reviewer only with a reason.
    remove(app, &monitor, &incident, &id, None)
        .await
        .expect(403);
    remove(app, &reviewer, &incident, &id, None)
        .await
        .expect(422);
    remove(
        app,
        &reviewer,
        &incident,
        &id,
        Some(json!({"reason": "  "})),
    )
    .await
    .expect(422);
    remove(app, &reviewer, &incident, &id, Some(json!({"reason": 7})))
        .await
        .expect(422);
    assert_eq!(app.count(&format!("attachments WHERE id = '{id}'")), 1);
    let reason = "Duplicate of the photo taken by Sgt. Ilir Berisha";
    remove(
        app,
        &reviewer,
        &incident,
        &id,
        Some(json!({"reason": reason})),
    )
    .await
    .expect(204);
    assert_eq!(app.count(&format!("attachments WHERE id = '{id}'")), 0);
    let history = app
        .get(
            &format!("/api/v1/incidents/{incident}/history"),
            Some(&admin.token),
        )
        .await
        .expect(200);
    let last = history["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "attachment_removed");
    assert_eq!(last["comment"], reason);
    assert_eq!(last["actor_id"], reviewer.id.as_str());
    let audit = app
        .get(
            "/api/v1/audit?action=incident.attachment_removed",
            Some(&admin.token),
        )
        .await;
    let audit = audit.expect(200);
    let entry = &audit["items"][0];
    assert_eq!(entry["details"]["attachment_id"], id.as_str());
    assert_eq!(entry["details"]["reasoned"], true);
    assert!(
        !audit.to_string().contains("Berisha"),
        "the reason stays out of the audit log"
    );
}

async fn limits_and_refused_types(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.attachments.max_bytes = 64 * 1024;
        s.attachments.per_incident = 2;
    })
    .await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(&app, &monitor, &mission).await;
    let id = uuid::Uuid::new_v4().to_string();
    let path = attachment_path(&incident, &id);

    let big = png(300, 300, 4);
    assert!(big.len() > 64 * 1024);
    let res = put(&app, &monitor, &path, Some("image/png"), big).await;
    assert!(
        res.expect(413)["detail"]
            .as_str()
            .unwrap()
            .contains("65536")
    );
    // Declared type and content disagree, or the content is of no allowed type.
    put(&app, &monitor, &path, Some("image/jpeg"), png(8, 8, 0))
        .await
        .expect(422);
    put(&app, &monitor, &path, Some("text/html"), png(8, 8, 0))
        .await
        .expect(422);
    let res = put(
        &app,
        &monitor,
        &path,
        Some("text/plain"),
        b"just some text".to_vec(),
    )
    .await;
    res.expect(415);
    put(&app, &monitor, &path, None, png(8, 8, 0))
        .await
        .expect(415);
    // A name with a line break, a NUL, an unknown parameter, an id that is no UUID.
    let unnamed = attachment_path(&incident, "not-a-uuid");
    for (target, status) in [
        (format!("{path}?filename=a%0Ab"), 422),
        (format!("{path}?filename=a%00b"), 400),
        (format!("{path}?name=x"), 400),
        (unnamed, 422),
    ] {
        let res = put(&app, &monitor, &target, Some("image/png"), png(8, 8, 0)).await;
        res.expect(status);
    }
    assert_eq!(app.count("attachments"), 0);

    // At most two per incident.
    for seed in 0..2 {
        upload(&app, &monitor, &incident, &png(8, 8, seed))
            .await
            .1
            .expect(201);
    }
    let res = upload(&app, &monitor, &incident, &png(8, 8, 9)).await.1;
    assert!(
        res.expect(409)["detail"]
            .as_str()
            .unwrap()
            .contains("remove one")
    );
    assert_eq!(app.count("attachments"), 2);
}

/// The raw database holds neither the file nor its name; a rotation re-seals
/// it; a chunk swapped or cut off never opens.
async fn sealed_at_rest_rotated_and_tamper_evident(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let file = png(400, 500, 5); // about 200 KiB: four chunks
    let id = uuid::Uuid::new_v4().to_string();
    let path = format!(
        "{}?filename=Amra-Kelmendi-at-the-bar.png",
        attachment_path(&incident, &id)
    );
    put(app, &monitor, &path, Some("image/png"), file.clone())
        .await
        .expect(201);
    let chunks = app.count(&format!("attachment_chunks WHERE attachment_id = '{id}'"));
    assert_eq!(chunks, 4);

    let raw = raw_database(app);
    let marker_hex: String = MARKER.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        !contains(&raw, MARKER),
        "the file is in the database in plaintext"
    );
    assert!(
        !contains(&raw, marker_hex.as_bytes()),
        "the file is in the database in hex"
    );
    assert!(
        !contains(&raw, b"Kelmendi"),
        "the file name is in plaintext"
    );

    // Rotation: every chunk and the name re-sealed under the new key.
    let before: Vec<Vec<u8>> = stored_chunks(app, &id);
    let new_hex = DataKeys::generate_hex();
    let out = crate::sealing::rotate(app, &new_hex, &app.data_key_hex);
    assert!(out.contains("and re-sealed 1 attachments"), "{out}");
    let after = stored_chunks(app, &id);
    assert_eq!(after.len(), before.len());
    assert!(before.iter().zip(&after).all(|(a, b)| a != b));
    let keys = DataKeys::parse(&new_hex, &[&app.data_key_hex]).unwrap();
    let key_id: String = app.db(|c| {
        attachments::table
            .find(&id)
            .select(attachments::key_id)
            .first(c)
    });
    assert_eq!(key_id, keys.current_id());
    let rotated = app.spawn_sibling(basewatch::config::Settings {
        data_keys: DataKeys::parse(&new_hex, &[]).unwrap(),
        ..app.settings.clone()
    });
    let got = raw_get(app, &rotated, &monitor, &incident, &id).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, file, "the new key alone opens it");
    assert!(out.contains("re-sealed 0 narratives") || out.contains("narratives"));
    assert!(
        crate::sealing::rotate(app, &new_hex, "").contains("and re-sealed 0 attachments"),
        "nothing is left under the old key"
    );

    // Two chunks swapped: the download fails, with no plaintext.
    set_chunk(app, &id, 1, &after[2]);
    set_chunk(app, &id, 2, &after[1]);
    let res = raw_get(app, &rotated, &monitor, &incident, &id).await;
    res.expect(500);
    assert!(!contains(&res.body, MARKER));
    set_chunk(app, &id, 1, &after[1]);
    set_chunk(app, &id, 2, &after[2]);
    assert_eq!(
        raw_get(app, &rotated, &monitor, &incident, &id).await.body,
        file
    );

    // The last chunk cut off, with the count to match: the new last chunk was
    // not sealed as the last, so it does not open.
    app.db(|c| {
        diesel::delete(
            attachment_chunks::table
                .filter(attachment_chunks::attachment_id.eq(&id))
                .filter(attachment_chunks::seq.eq(3)),
        )
        .execute(c)
    });
    raw_get(app, &rotated, &monitor, &incident, &id)
        .await
        .expect(500);
    app.db(|c| {
        diesel::update(attachments::table.find(&id))
            .set(attachments::chunks.eq(3))
            .execute(c)
    });
    let res = raw_get(app, &rotated, &monitor, &incident, &id).await;
    assert_ne!(
        res.status, 200,
        "a truncated stream never passes as the file"
    );
    // Chunks moved onto another attachment do not open either.
}

async fn exports_and_the_feed_carry_metadata_only(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let analyst = app.seed_user(Role::Analyst);
    let incident = draft(app, &monitor, &w.mission).await;
    let file = png(40, 40, 6);
    let (id, res) = upload(app, &monitor, &incident, &file).await;
    let stored = res.expect(201);
    transition(
        app,
        &monitor,
        &incident,
        Some(1),
        json!({"to": "submitted"}),
    )
    .await
    .expect(200);

    let feed = app
        .get("/api/v1/changes", Some(&monitor.token))
        .await
        .expect(200);
    let added: Vec<&Value> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "attachment_added")
        .collect();
    assert_eq!(added.len(), 1, "{feed}");
    let summary = &added[0]["attachments"][0];
    assert_eq!(summary["id"], id.as_str());
    assert_eq!(summary["media_type"], "image/png");
    assert_eq!(summary["size"], stored["size"]);
    assert_eq!(summary["sha256"], stored["sha256"]);
    assert!(!contains(feed.to_string().as_bytes(), MARKER));

    let export = app
        .get(
            "/api/v1/exports/incidents?format=ndjson",
            Some(&analyst.token),
        )
        .await;
    assert_eq!(export.status, 200);
    let row: Value =
        serde_json::from_slice(export.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(row["attachment_count"], 1, "{row}");
    assert_eq!(row["attachment_ids"], json!([id]));
    assert_eq!(row["attachment_types"], json!(["image/png"]));
    assert_eq!(row["attachment_sha256"], json!([stored["sha256"]]));
    assert_eq!(row["attachment_sizes"], json!([stored["size"].to_string()]));
    assert!(!contains(&export.body, MARKER));
}

/// Through the API: what betrays whoever made a file is gone from what comes
/// back, the pixels are the same; files in disguise are refused and not stored.
async fn metadata_is_removed_and_disguised_files_refused(backend: Backend) {
    use crate::media;
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let send = |file: Vec<u8>, declared: &'static str| {
        let id = uuid::Uuid::new_v4().to_string();
        let path = attachment_path(&incident, &id);
        let monitor = &monitor;
        async move {
            let res = put(app, monitor, &path, Some(declared), file).await;
            (id, res)
        }
    };

    let photo = media::jpeg_with_metadata();
    let (id, res) = send(photo.clone(), "image/jpeg").await;
    let stored = res.expect(201);
    assert!(
        !stored["removed"].as_array().unwrap().is_empty(),
        "{stored}"
    );
    let clean = download(app, &monitor, &incident, &id).await;
    assert_eq!(clean.status, 200);
    assert_eq!(sha256_hex(&clean.body), stored["sha256"].as_str().unwrap());
    for (what, needle) in [
        ("GPS latitude", &media::GPS_LATITUDE[..]),
        ("GPS longitude", &media::GPS_LONGITUDE[..]),
        ("camera serial", media::CAMERA_SERIAL.as_bytes()),
        ("camera model", media::CAMERA_MODEL.as_bytes()),
        ("author", media::AUTHOR.as_bytes()),
    ] {
        assert!(contains(&photo, needle), "the fixture holds the {what}");
        assert!(!contains(&clean.body, needle), "the {what} came back");
    }
    assert_eq!(
        media::jpeg_decode(&clean.body),
        media::jpeg_decode(&photo),
        "the same pixels"
    );

    for (file, declared) in [
        (media::mp3_with_tags(), "audio/mpeg"),
        (media::pdf_with_metadata(), "application/pdf"),
    ] {
        let (id, res) = send(file.clone(), declared).await;
        res.expect(201);
        let clean = download(app, &monitor, &incident, &id).await;
        assert_eq!(clean.status, 200);
        assert!(contains(&file, media::AUTHOR.as_bytes()));
        assert!(
            !contains(&clean.body, media::AUTHOR.as_bytes()),
            "{declared}"
        );
    }
    let stored = app.count("attachments");

    // A PNG carrying a script, declared as HTML; an image with an archive behind it.
    let scripted = media::png_with_text(&[("Comment", media::SCRIPT)]);
    let status = send(scripted, "text/html").await.1.status;
    assert!([415, 422].contains(&status), "{status}");
    let mut polyglot = media::jpeg_plain();
    polyglot.extend_from_slice(media::ZIP_HEAD);
    let res = send(polyglot, "image/jpeg").await.1;
    assert!([415, 422].contains(&res.status), "{}", res.status);
    res.expect(res.status);
    assert_eq!(
        app.count("attachments"),
        stored,
        "nothing refused is stored"
    );
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The raw SQLite file and its WAL; on PostgreSQL every table as text (bytea as hex).
fn raw_database(app: &TestApp) -> Vec<u8> {
    match &app.database_url {
        DatabaseUrl::Sqlite(_) => {
            app.db(|conn| {
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").execute(conn)?;
                Ok(())
            });
            let DatabaseUrl::Sqlite(path) = &app.database_url else {
                unreachable!()
            };
            let mut bytes = std::fs::read(path).expect("the SQLite file");
            if let Ok(more) = std::fs::read(format!("{}-wal", path.display())) {
                bytes.extend(more);
            }
            bytes
        }
        DatabaseUrl::Postgres(_) => crate::sealing::raw_database_text(app).into_bytes(),
    }
}

fn stored_chunks(app: &TestApp, id: &str) -> Vec<Vec<u8>> {
    app.db(|c| {
        attachment_chunks::table
            .filter(attachment_chunks::attachment_id.eq(id))
            .order(attachment_chunks::seq)
            .select(attachment_chunks::data)
            .load(c)
    })
}

fn set_chunk(app: &TestApp, id: &str, seq: i32, data: &[u8]) {
    app.db(|c| {
        diesel::update(
            attachment_chunks::table
                .filter(attachment_chunks::attachment_id.eq(id))
                .filter(attachment_chunks::seq.eq(seq)),
        )
        .set(attachment_chunks::data.eq(data))
        .execute(c)
    });
}

/// A download from the server at `address`, read as far as it goes (a body
/// that breaks off is returned as far as it came, with status 0).
async fn raw_get(
    app: &TestApp,
    address: &str,
    user: &TestUser,
    incident: &str,
    id: &str,
) -> Response {
    let url = format!("{address}{}/content", attachment_path(incident, id));
    let mut res = app
        .client
        .get(url)
        .bearer_auth(&user.token)
        .send()
        .await
        .expect("the request reaches the server");
    let headers = res.headers().clone();
    let status = res.status().as_u16();
    match res.body().limit(64 << 20).await {
        Ok(body) => Response {
            status,
            headers,
            body: body.to_vec(),
        },
        Err(_) => Response {
            status: 0,
            headers,
            body: Vec::new(),
        },
    }
}

trait ExpectBytes {
    fn expect_bytes(&self, status: u16);
}

impl ExpectBytes for Response {
    #[track_caller]
    fn expect_bytes(&self, status: u16) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
    }
}
