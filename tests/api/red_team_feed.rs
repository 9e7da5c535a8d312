//! Red-team tests of bulk intake and the change feed.

use basewatch::domain::Role;

use crate::helpers::{Backend, spawn_app_with};

crate::scenarios![a_batch_body_that_never_ends_is_cut_at_the_request_timeout];

/// A client that opens a batch and then drips nothing more (the body never
/// ends) gets its answer once `request_timeout` has passed: the item being
/// read is answered 408, and nothing is stored.
async fn a_batch_body_that_never_ends_is_cut_at_the_request_timeout(backend: Backend) {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_millis(500);
    let app = spawn_app_with(backend, |s| s.request_timeout = timeout).await;
    let monitor = app.seed_user(Role::Monitor);
    let address = app.address.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST /api/v1/incidents/batch HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n[{{\"id\":",
        monitor.token
    );
    // Blocking reads, off this thread (which runs the server's tasks too).
    let (answer, waited) = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let started = std::time::Instant::now();
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&answer).ends_with(']') {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK"),
        "no answer after {waited:?}: {answer:?}"
    );
    let body = answer.split_once("\r\n\r\n").expect("a whole answer").1;
    let results: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(results.as_array().unwrap().len(), 1, "{results}");
    assert_eq!(results[0]["status"], 408, "{results}");
    assert!(waited < std::time::Duration::from_secs(3), "{waited:?}");
    assert_eq!(app.count("incidents"), 0);
}
