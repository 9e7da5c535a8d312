//! SIGTERM on the real binary: requests in flight finish, new connections are refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use basewatch::crypto::DataKeys;
use basewatch::db::schema::{bases, incidents, missions};
use basewatch::db::{self, migrations};
use basewatch::demo;
use basewatch::domain::Role;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{self, Backend, TestDatabase, basewatch};

crate::scenarios![requests_in_flight_finish_after_sigterm];

/// One HTTP/1.1 response read to the end of the connection: status and body
/// (de-chunked; a chunked body must end with its last, empty chunk).
fn response(raw: &[u8]) -> (u16, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole response head");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    let mut rest = &raw[end + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (status, rest.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let line = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line: the body was cut off");
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16).unwrap();
        rest = &rest[line + 2..];
        if size == 0 {
            return (status, body);
        }
        assert!(rest.len() >= size + 2, "a chunk was cut off");
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Sends a whole request (`Connection: close`) and reads the response.
fn exchange(address: &str, request: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    response(&raw)
}

fn login(address: &str, role: Role) -> String {
    let (email, ..) = demo::ACCOUNTS.iter().find(|a| a.2 == role).unwrap();
    let body = json!({"email": email, "password": demo::password_for(role)}).to_string();
    let (status, body) = exchange(
        address,
        &format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `basewatch serve` on the database; returns the process, its standard output
/// (kept open: the server must not meet a closed pipe) and its host:port.
fn serve(
    url: &str,
    data_key: &str,
    data_dir: &std::path::Path,
) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = basewatch(url)
        .arg("serve")
        .env("BASEWATCH_BIND", "127.0.0.1:0")
        .env("BASEWATCH_DATA_DIR", data_dir)
        .env("BASEWATCH_DATA_KEY", data_key)
        .env("BASEWATCH_WORKERS", "1")
        .env_remove("BASEWATCH_JWT_SECRET")
        .env_remove("BASEWATCH_ENV")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("listening on") {
        assert!(
            stdout.read_line(&mut banner).unwrap() > 0,
            "serve exited early: {banner}"
        );
    }
    let address = banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://127.0.0.1:"))
        .map(|port| format!("127.0.0.1:{port}"))
        .unwrap();
    (child, stdout, address)
}

/// With an export streaming and a report half sent, SIGTERM closes the listener
/// at once, yet both requests finish: the export whole, the report stored.
async fn requests_in_flight_finish_after_sigterm(backend: Backend) {
    let db = TestDatabase::create(backend);
    let url = helpers::url_string(&db.url);
    let data_key = DataKeys::generate_hex();
    let pool = db::connect_pool(&db.url, 2).unwrap();
    let (exported, mission, (latitude, longitude)) = {
        let mut pooled = pool.get().unwrap();
        let conn: &mut db::DbConnection = &mut pooled;
        migrations::run_pending(conn).unwrap();
        let keys = DataKeys::parse(&data_key, &[]).unwrap();
        demo::seed_synthetic(conn, &db.url, &keys, 2500, 500, 5).unwrap();
        let exported = incidents::table
            .filter(incidents::status.ne("draft"))
            .count()
            .get_result::<i64>(conn)
            .unwrap();
        let (mission, position) = bases::table
            .inner_join(missions::table)
            .filter(missions::mandate_end.is_null())
            .select((missions::id, (bases::latitude, bases::longitude)))
            .first::<(String, (f64, f64))>(conn)
            .unwrap();
        (exported, mission, position)
    };
    let data_dir = std::env::temp_dir().join(format!("basewatch-drain-{}", uuid::Uuid::new_v4()));
    let (mut child, _stdout, address) = serve(&url, &data_key, &data_dir);
    let (analyst, monitor) = (
        login(&address, Role::Analyst),
        login(&address, Role::Monitor),
    );

    // A report whose body is half sent...
    let report = json!({
        "mission_id": mission, "occurred_at": "2024-06-01T10:00:00Z",
        "latitude": latitude, "longitude": longitude,
        "victims": {"count": 2}, "submit": true,
    })
    .to_string();
    let (first_half, second_half) = report.split_at(report.len() / 2);
    let mut write = TcpStream::connect(&address).unwrap();
    write!(
        write,
        "POST /api/v1/incidents HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {monitor}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first_half}",
        report.len()
    )
    .unwrap();
    // ...and an export of which the client has read the first few kilobytes (of
    // the newest page: the report, newer than every row, is not in the later ones).
    let mut export = TcpStream::connect(&address).unwrap();
    write!(
        export,
        "GET /api/v1/exports/incidents?format=geojson HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {analyst}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut received = vec![0; 4096];
    export.read_exact(&mut received).unwrap();
    assert!(received.starts_with(b"HTTP/1.1 200 OK"));

    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    // New connections are refused while the two requests are still open.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect(&address) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("{e}"),
            Ok(_) => assert!(Instant::now() < deadline, "still accepting after SIGTERM"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited with requests open"
    );

    // A slow client: the rest of the report comes 2 s later, past actix's first
    // drain check (after 1 s), so a server that did not wait would have gone.
    std::thread::sleep(Duration::from_secs(2));
    write.write_all(second_half.as_bytes()).unwrap();
    let mut raw = Vec::new();
    write.read_to_end(&mut raw).unwrap();
    let (status, body) = response(&raw);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    export.read_to_end(&mut received).unwrap();
    let (status, body) = response(&received);
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&body).expect("the GeoJSON is whole");
    assert_eq!(
        doc["features"].as_array().unwrap().len() as i64,
        exported,
        "every row"
    );

    // Drained, it exits at once (not after the 10 s shutdown timeout), cleanly.
    let drained = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            drained.elapsed() < Duration::from_secs(5),
            "still running 5 s after its last request ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let mut pooled = pool.get().unwrap();
    let conn: &mut db::DbConnection = &mut pooled;
    let stored = incidents::table
        .find(&id)
        .count()
        .get_result::<i64>(conn)
        .unwrap();
    drop(pooled);
    assert_eq!(stored, 1);
    drop(pool);
    let _ = std::fs::remove_dir_all(data_dir);
}
