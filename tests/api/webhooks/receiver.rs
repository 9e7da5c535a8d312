//! A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that
//! records every request and answers as scripted (to fail on purpose).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }

    /// Checks the signature with the `standardwebhooks` crate (code nobody here wrote).
    pub fn verifies_with(&self, secret: &str) -> bool {
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &headers)
            .is_ok()
    }
}

/// An answer: status and optional `Retry-After`.
#[derive(Clone, Copy, Debug)]
pub struct Reply(pub u16, pub Option<&'static str>);

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    fallback: Option<Reply>,
}

pub struct Receiver {
    pub url: String,
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    handle: ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    let mut shared = shared.lock().unwrap();
    shared.received.push(Received {
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
        at: Instant::now(),
    });
    let fallback = shared.fallback.unwrap_or(Reply(200, None));
    let Reply(status, retry_after) = shared.script.pop_front().unwrap_or(fallback);
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if let Some(wait) = retry_after {
        res.insert_header(("retry-after", wait));
    }
    if (300..400).contains(&status) {
        res.insert_header(("location", format!("{}/redirected", req.path())));
    }
    res.body(format!("answer {status} {}", "x".repeat(600)))
}

impl Receiver {
    pub async fn start() -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            shared,
            handle,
        }
    }

    /// The next answers, in order; then `fallback` (200 unless set).
    pub fn script(&self, replies: &[Reply]) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    pub fn fallback(&self, reply: Reply) {
        self.shared.lock().unwrap().fallback = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// Waits until `n` requests have arrived (20 s at most), and returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "expected {n} webhook requests, got {}: {:?}",
                got.len(),
                got.iter().map(|r| r.json()).collect::<Vec<_>>()
            );
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Asserts that no more than `n` requests arrive within a while.
    pub async fn settles_at(&self, n: usize) -> Vec<Received> {
        actix_web::rt::time::sleep(Duration::from_millis(600)).await;
        let got = self.received();
        assert_eq!(
            got.len(),
            n,
            "{:?}",
            got.iter().map(|r| r.json()).collect::<Vec<_>>()
        );
        got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
