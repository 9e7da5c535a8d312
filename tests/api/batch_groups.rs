//! Bulk intake stores each group of a batch in bulk (`src/incidents/bulk.rs`)
//! and streams the answers group by group: ids twice in one group, re-sends
//! mixed with new reports, the audit chain and the change feed after batches
//! sent at once with single reports, and answers that begin before the body ends.

use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::batch::{check_shape, item, send_array, statuses, stored};
use crate::helpers::{Backend, TestApp, TestUser, join_all, url_string};
use crate::incidents::{create, world};

crate::scenarios![
    a_group_holding_an_id_twice_stores_it_once,
    a_resend_mixed_with_new_reports_stores_only_the_new,
    batches_and_single_reports_at_once_keep_the_chain_and_the_feed,
    answers_begin_before_the_body_ends,
];

fn reported(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("incidents"),
        app.count("incident_events"),
        app.count("audit_log WHERE action = 'incident.created'"),
        app.count("changes"),
    )
}

fn other_content(it: &Value) -> Value {
    let mut other = it.clone();
    other["victims"]["count"] = json!(5);
    other["victims"]["sexes"] = json!({"female": 5});
    other
}

async fn a_group_holding_an_id_twice_stores_it_once(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let (a, b, c) = (item(&w.mission), item(&w.mission), item(&w.mission));
    let items = vec![
        a.clone(),
        a.clone(),
        b.clone(),
        other_content(&a),
        c.clone(),
        b.clone(),
    ];
    let results = send_array(&w.app, &monitor, &items).await;
    assert_eq!(statuses(&results), [201, 200, 201, 409, 201, 200]);
    check_shape(&results, &items);
    assert_eq!(results[1]["incident"], results[0]["incident"]);
    for it in [&a, &b, &c] {
        assert_eq!(stored(&w.app, it["id"].as_str().unwrap()), (1, 1, 1));
    }
    assert_eq!(reported(&w.app), (3, 3, 3, 3));
}

async fn a_resend_mixed_with_new_reports_stores_only_the_new(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let first: Vec<Value> = (0..3).map(|_| item(&w.mission)).collect();
    let answered = send_array(&w.app, &monitor, &first).await;
    assert_eq!(statuses(&answered), [201, 201, 201]);

    // The same reports again, among new ones, one of them changed, and one
    // re-sent by someone else (a conflict: it is not theirs).
    let fresh: Vec<Value> = (0..3).map(|_| item(&w.mission)).collect();
    let items = vec![
        fresh[0].clone(),
        first[0].clone(),
        fresh[1].clone(),
        other_content(&first[1]),
        first[2].clone(),
        fresh[2].clone(),
    ];
    let results = send_array(&w.app, &monitor, &items).await;
    assert_eq!(statuses(&results), [201, 200, 201, 409, 200, 201]);
    check_shape(&results, &items);
    assert_eq!(results[1]["incident"], answered[0]["incident"]);
    assert_eq!(results[4]["incident"], answered[2]["incident"]);
    for it in first.iter().chain(&fresh) {
        assert_eq!(stored(&w.app, it["id"].as_str().unwrap()), (1, 1, 1));
    }
    assert_eq!(reported(&w.app), (6, 6, 6, 6));

    let other = w.app.seed_user(Role::Monitor);
    let results = send_array(&w.app, &other, &[first[0].clone(), item(&w.mission)]).await;
    assert_eq!(statuses(&results), [409, 201]);
    assert_eq!(reported(&w.app), (7, 7, 7, 7));
}

/// Every change in the feed, oldest first, as `user` sees it.
async fn whole_feed(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/changes?limit=100&cursor={c}"),
            None => "/api/v1/changes?limit=100".to_owned(),
        };
        let page = app.get(&path, Some(&user.token)).await.expect(200);
        let got = page["items"].as_array().unwrap().clone();
        if got.is_empty() {
            return items;
        }
        items.extend(got);
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }
}

async fn batches_and_single_reports_at_once_keep_the_chain_and_the_feed(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let batches: Vec<Vec<Value>> = (0..2)
        .map(|_| (0..250).map(|_| item(&w.mission)).collect())
        .collect();
    let singles: Vec<Value> = (0..8).map(|_| item(&w.mission)).collect();
    let sending = join_all(
        batches
            .iter()
            .map(|b| send_array(&w.app, &monitor, b))
            .collect(),
    );
    let posting = join_all(
        singles
            .iter()
            .map(|s| create(&w.app, &monitor, s))
            .collect(),
    );
    let (answers, posted) = crate::helpers::join_pair(sending, posting).await;
    for (results, sent) in answers.iter().zip(&batches) {
        assert_eq!(results.len(), 250);
        assert!(results.iter().all(|r| r["status"] == 201));
        check_shape(results, sent);
    }
    for p in &posted {
        p.expect(201);
    }
    let total = 2 * 250 + 8;
    assert_eq!(reported(&w.app), (total, total, total, total));

    // The chain links every row, those written a group at a time included.
    let verified = crate::audit::verify_url(&url_string(&w.app.database_url), &[]);
    assert!(verified.status.success(), "{}", verified.stderr);

    // Positions run from 1 without a gap, each incident once.
    let feed = whole_feed(&w.app, &monitor).await;
    let positions: Vec<i64> = feed
        .iter()
        .map(|c| c["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (1..=total).collect::<Vec<_>>());
    let place: std::collections::HashMap<String, i64> = feed
        .iter()
        .map(|c| {
            (
                c["incident"]["id"].as_str().unwrap().to_owned(),
                c["position"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(place.len() as i64, total);
    // A group of a batch commits at once: its reports hold consecutive
    // positions, in the order sent.
    for sent in &batches {
        let at: Vec<i64> = sent
            .iter()
            .map(|it| place[it["id"].as_str().unwrap()])
            .collect();
        for group in at.chunks(100) {
            assert_eq!(
                group.to_vec(),
                (group[0]..group[0] + group.len() as i64).collect::<Vec<_>>()
            );
        }
    }
}

/// The answers of the first group arrive while the rest of the body has not
/// been sent, and the whole answer, chunk by chunk, is one JSON array.
async fn answers_begin_before_the_body_ends(backend: Backend) {
    use std::io::{Read, Write};
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let items: Vec<Value> = (0..250).map(|_| item(&w.mission)).collect();
    let body = serde_json::to_vec(&items).unwrap();
    // The first 150 items (a whole group and part of the next), then the rest.
    let cut = serde_json::to_vec(&items[..150]).unwrap().len() - 1;
    let head = format!(
        "POST /api/v1/incidents/batch HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        monitor.token,
        body.len()
    );
    let address = w.app.address.trim_start_matches("http://").to_owned();
    let (early, rest) = actix_web::rt::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..cut]).unwrap();
        let mut early = Vec::new();
        let mut chunk = [0u8; 65536];
        // Until the first group's 100 answers have come.
        while String::from_utf8_lossy(&early)
            .matches("\"status\":201")
            .count()
            < 100
        {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => early.extend_from_slice(&chunk[..n]),
            }
        }
        stream.write_all(&body[cut..]).unwrap();
        let mut rest = Vec::new();
        while !String::from_utf8_lossy(&rest).ends_with("\r\n0\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
        (
            String::from_utf8_lossy(&early).into_owned(),
            String::from_utf8_lossy(&rest).into_owned(),
        )
    })
    .await
    .unwrap();
    assert!(early.starts_with("HTTP/1.1 200 OK"), "{early:.300}");
    assert!(
        early
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{early:.300}"
    );
    let answer = dechunk(&format!("{early}{rest}"));
    let results: Vec<Value> = serde_json::from_str(&answer).unwrap();
    assert_eq!(results.len(), 250);
    assert!(results.iter().all(|r| r["status"] == 201));
    check_shape(&results, &items);
    assert_eq!(w.app.count("incidents"), 250);
}

/// The body of a chunked HTTP/1.1 answer.
fn dechunk(answer: &str) -> String {
    let (_, mut rest) = answer.split_once("\r\n\r\n").expect("a head");
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}
