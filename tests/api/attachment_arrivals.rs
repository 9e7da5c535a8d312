//! An upload arrives whole (into a sealed spool file) before it waits for one
//! of the few cleaning turns: slow clients hold their own account's upload
//! places, never the turns every upload needs.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use basewatch::domain::Role;

use crate::attachments::{attachment_path, draft, png, put};
use crate::helpers::{Backend, Response, TestApp, TestUser, spawn_app_with};
use crate::reference::seed_mission;

crate::scenarios![slow_uploads_hold_no_cleaning_turn];

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
    let mut stalled = Vec::new();
    for _ in 0..2 {
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
        stalled.push(stream);
    }
    // The slow account has its two uploads arriving: a third is refused (once
    // both have started arriving), with when to try again. Until then the
    // probe, not an image, is received, cleaned and refused (415).
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let res = upload_in_time(&app, &slow, &slow_incident, b"not an image").await;
        if res.status == 429 {
            break res;
        }
        res.expect(415);
        assert!(Instant::now() < deadline, "no upload was refused in 15 s");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
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
