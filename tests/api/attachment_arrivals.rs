//! Attachments in motion: an upload arrives whole (into a sealed spool file)
//! before it waits for one of the few cleaning turns, so slow clients hold
//! their own account's upload places, never the turns every upload needs; a
//! download that a key rotation overlaps completes with the same bytes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use basewatch::crypto::DataKeys;
use basewatch::domain::Role;
use sha2::{Digest, Sha256};

use crate::attachments::{attachment_path, draft, png, put};
use crate::helpers::{
    Backend, Response, TestApp, TestUser, join_all, spawn_app, spawn_app_with, url_string,
};
use crate::reference::seed_mission;

crate::scenarios![
    slow_uploads_hold_no_cleaning_turn,
    uploads_at_once_never_pass_the_limit_per_incident,
    a_download_overlapping_a_key_rotation_completes,
];

/// An upload that must be answered within 20 s (a stalled one is cut at 60 s).
async fn upload_in_time(app: &TestApp, user: &TestUser, incident: &str, file: &[u8]) -> Response {
    let path = attachment_path(incident, &uuid::Uuid::new_v4().to_string());
    let sent = put(app, user, &path, Some("image/png"), file.to_vec());
    actix_web::rt::time::timeout(Duration::from_secs(20), sent)
        .await
        .expect("the upload waited behind slow uploads for 20 s")
}

async fn slow_uploads_hold_no_cleaning_turn(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.attachments.cleaning_at_once = 1;
        s.attachments.receiving_per_account = 2;
    })
    .await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    let slow = app.seed_user(Role::Monitor);
    let other = app.seed_user(Role::Monitor);
    let slow_incident = draft(&app, &slow, &mission).await;
    let other_incident = draft(&app, &other, &mission).await;
    let file = png(64, 64, 1);

    // Two uploads send their head and 16 bytes of the file, then nothing more.
    let address = app.address.trim_start_matches("http://").to_owned();
    let stall = || {
        let path = attachment_path(&slow_incident, &uuid::Uuid::new_v4().to_string());
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
             Content-Type: image/png\r\nContent-Length: {}\r\n\r\n",
            slow.token,
            file.len()
        );
        let mut stream = TcpStream::connect(&address).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&file[..16]).unwrap();
        stream.set_nonblocking(true).unwrap();
        stream
    };
    let mut stalled = vec![stall(), stall()];

    // The slow account has its two uploads arriving: a third is refused, with
    // when to try again. Until both have started arriving the probe (not an
    // image) is received, cleaned and refused (415); a stalled upload the
    // probe beat to a place was answered 429, and is sent again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        for stream in &mut stalled {
            if stream.read(&mut [0u8; 1]).is_ok() {
                *stream = stall();
            }
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        let res = upload_in_time(&app, &slow, &slow_incident, b"not an image").await;
        if res.status == 429 {
            break res;
        }
        res.expect(415);
        assert!(Instant::now() < deadline, "no upload was refused in 15 s");
    };
    assert_eq!(refused.header("retry-after"), Some("5"));
    let detail = refused.expect(429)["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("2 uploads arriving"), "{detail}");

    // Another account's upload is cleaned and stored at once while those two
    // arrive, though the server cleans one file at a time.
    let stored = upload_in_time(&app, &other, &other_incident, &file).await;
    assert_eq!(stored.expect(201)["media_type"], "image/png");

    // Their connections gone, the account's places are given back.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = upload_in_time(&app, &slow, &slow_incident, &file).await;
        if res.status == 201 {
            break;
        }
        res.expect(429);
        assert!(Instant::now() < deadline, "places not given back in 10 s");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }

    // Stored: what was answered 201, whole; nothing of the stalled uploads.
    assert_eq!(
        app.count(&format!(
            "attachments WHERE incident_id = '{slow_incident}'"
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "attachments WHERE incident_id = '{other_incident}'"
        )),
        1
    );
    assert_eq!(
        app.count("attachment_chunks c JOIN attachments a ON a.id = c.attachment_id"),
        app.count("attachments")
    );
}

async fn a_download_overlapping_a_key_rotation_completes(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(&app, &monitor, &mission).await;
    // 16 MiB: more than the socket buffers and the pages read ahead hold.
    let res = upload_in_time(&app, &monitor, &incident, &png(4096, 4096, 2)).await;
    let stored = res.expect(201);
    let (id, size) = (
        stored["id"].as_str().unwrap().to_owned(),
        stored["size"].as_u64().unwrap() as usize,
    );
    let sha256 = stored["sha256"].as_str().unwrap().to_owned();

    // A server that already has the new key as current and the old one retired
    // (the first step of a rotation), serving a download...
    let new_hex = DataKeys::generate_hex();
    let new_key_id = DataKeys::parse(&new_hex, &[])
        .unwrap()
        .current_id()
        .to_owned();
    let server = app.spawn_sibling(basewatch::config::Settings {
        data_keys: DataKeys::parse(&new_hex, &[&app.data_key_hex]).unwrap(),
        ..app.settings.clone()
    });
    app.client
        .get(format!("{server}/health"))
        .send()
        .await
        .expect("the second server answers");
    let address = server.trim_start_matches("http://").to_owned();
    let path = format!("{}/content", attachment_path(&incident, &id));
    let token = monitor.token.clone();
    let (url, old_hex) = (url_string(&app.database_url), app.data_key_hex.clone());
    let rotate = move || crate::sealing::rotate_url(&url, &new_hex, &old_hex);
    let (rotated, received) = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while received.len() < 256 * 1024 {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the download ended early");
            received.extend_from_slice(&buf[..n]);
        }
        // ...while `rotate-data-key` re-seals the attachment under the new key.
        let rotated = rotate();
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) => panic!("the download broke off: {e}"),
            }
        }
        (rotated, received)
    })
    .await
    .unwrap();
    assert!(rotated.contains("re-sealed 1 attachment"), "{rotated}");
    let split = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head")
        + 4;
    let head = String::from_utf8_lossy(&received[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = &received[split..];
    assert_eq!(
        body.len(),
        size,
        "the download broke off after {} bytes",
        body.len()
    );
    let digest: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, sha256);
    // Re-sealed indeed: the key the chunks are under is the new one.
    assert_eq!(
        app.count(&format!(
            "attachments WHERE id = '{id}' AND key_id = '{new_key_id}'"
        )),
        1
    );
}

async fn uploads_at_once_never_pass_the_limit_per_incident(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.attachments.per_incident = 3;
        s.attachments.receiving_per_account = 8;
    })
    .await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(&app, &monitor, &mission).await;
    upload_in_time(&app, &monitor, &incident, &png(16, 16, 0))
        .await
        .expect(201);
    // Two places left, six uploads at once: two stored, four refused.
    let files: Vec<Vec<u8>> = (1..=6).map(|seed| png(16, 16, seed)).collect();
    let answers = join_all(
        files
            .iter()
            .map(|file| upload_in_time(&app, &monitor, &incident, file))
            .collect(),
    )
    .await;
    let mut statuses: Vec<u16> = answers.iter().map(|res| res.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 409, 409, 409, 409]);
    assert_eq!(
        app.count(&format!("attachments WHERE incident_id = '{incident}'")),
        3
    );
}
