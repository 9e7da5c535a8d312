//! `spawn_app`: a real server on a free port, over a fresh database of its own.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use awc::http::Method;
use basewatch::auth::jwt::JwtKeys;
use basewatch::config::{Environment, LoginThrottle, MetricsAccess, Settings, WebhookSettings};
use basewatch::crypto::DataKeys;
use basewatch::db::{self, DatabaseUrl, DbConnection, Pool};
use basewatch::domain::{
    DisplayName, Email, OrganisationId, OrganisationKind, Password, Role, UserId,
};
use basewatch::startup::Application;
use basewatch::users::{self, NewUser};
use basewatch::{auth, organisations};
use diesel::Connection;
use serde_json::Value;

/// Sends a request and reads the whole response.
macro_rules! read {
    ($send:expr) => {{
        let mut res = $send.await.expect("the request reaches the server");
        let body = res
            .body()
            .limit(64 << 20)
            .await
            .expect("the body can be read");
        Response {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body: body.to_vec(),
        }
    }};
}

pub const PASSWORD: &str = "correct horse battery staple";
/// The one origin the test servers allow for CORS.
pub const CORS_ORIGIN: &str = "https://dashboard.example.org";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The server under test, its database and a client.
pub struct TestApp {
    pub address: String,
    pub client: awc::Client,
    pub pool: Pool,
    pub jwt_secret: Vec<u8>,
    pub data_keys: DataKeys,
    pub data_key_hex: String,
    /// What the server was started with, to start a sibling on the same database.
    pub settings: Settings,
    pub database_url: DatabaseUrl,
    /// The oversight office every seeded user belongs to, unless said otherwise.
    pub org_id: String,
    handle: ServerHandle,
    _db: TestDatabase,
}

/// A seeded account and a token for it.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// A response, read whole.
pub struct Response {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, and for errors that the body is a problem document
    /// carrying the request id of the `x-request-id` header.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        if status == 204 {
            assert!(self.body.is_empty());
            return Value::Null;
        }
        let body = self.json();
        if status >= 400 {
            assert_eq!(
                self.header("content-type"),
                Some("application/problem+json")
            );
            assert_eq!(body["status"], status);
            assert!(
                body["title"].is_string() && body["type"].is_string(),
                "{body}"
            );
            assert!(body["detail"].is_string(), "{body}");
            assert_eq!(
                body["request_id"].as_str(),
                self.header("x-request-id"),
                "{body}"
            );
        } else {
            assert!(self.header("x-request-id").is_some());
        }
        body
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// `spawn_app` with settings changed before the server starts (a short
/// request timeout, no CORS origins, a small throttle window...).
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDatabase::create(backend);
    let jwt_secret = format!("test-secret-{}", uuid::Uuid::new_v4()).into_bytes();
    let data_key_hex = DataKeys::generate_hex();
    let mut settings = Settings {
        environment: Environment::Development,
        database_url: db.url.clone(),
        bind: "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
        jwt_secret: jwt_secret.clone(),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(3600),
        pool_size: 4,
        body_limit: 1 << 20,
        workers: 1,
        data_keys: DataKeys::parse(&data_key_hex, &[]).unwrap(),
        login_throttle: LoginThrottle::default(),
        cors_origins: vec![CORS_ORIGIN.to_owned()],
        request_timeout: Duration::from_secs(30),
        trust_proxy: false,
        release_lag_days: 14,
        partner_epsilon: 1.0,
        // Tests build releases explicitly, at the moment they choose.
        release_builder: false,
        trusted_proxy_hops: 1,
        client_rate_limit: Default::default(),
        attachments: Default::default(),
        metrics: MetricsAccess::Open,
        // Receivers in the tests listen on 127.0.0.1 over http; the worker polls often.
        webhooks: WebhookSettings {
            allow_private: true,
            poll_interval: Duration::from_millis(50),
            ..WebhookSettings::default()
        },
    };
    configure(&mut settings);
    let data_keys = settings.data_keys.clone();
    let kept_settings = settings.clone();
    if std::env::var_os("TEST_LOG").is_some() {
        basewatch::telemetry::init(Environment::Development);
    }
    let pool = db::connect_pool(&db.url, settings.pool_size).expect("test database reachable");
    let org_id = {
        let mut conn = pool.get().unwrap();
        db::migrations::run_pending(&mut conn).expect("migrations apply");
        let name = DisplayName::parse("Test Oversight Office").unwrap();
        organisations::queries::insert(&mut conn, &name, OrganisationKind::OversightOffice)
            .unwrap()
            .id
    };
    let app = Application::build(settings, pool.clone()).expect("server builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.into_server();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    TestApp {
        address,
        client: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            // Below the server's 5 s keep-alive: a test that blocks its runtime (a
            // release build) would otherwise reuse a connection the server closed.
            .connector(awc::Connector::new().conn_keep_alive(Duration::from_secs(3)))
            .disable_redirects()
            .finish(),
        pool,
        jwt_secret,
        data_keys,
        data_key_hex,
        settings: kept_settings,
        database_url: db.url.clone(),
        org_id,
        handle,
        _db: db,
    }
}

/// One argon2 hash for every seeded account: hashing per user would dominate the suite.
fn test_password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| auth::password::hash(&Password::parse(PASSWORD.into()).unwrap()).unwrap())
}

impl TestApp {
    /// Starts another server on the same database with other settings (a
    /// second instance, as during a key rotation); returns its address.
    pub fn spawn_sibling(&self, settings: Settings) -> String {
        let app = Application::build(settings, self.pool.clone()).expect("server builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        actix_web::rt::spawn(app.into_server());
        address
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        match body {
            Some(body) => read!(req.send_json(body)),
            None => read!(req.send()),
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        read!(req.send_body(body))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    /// Runs a query against the app's database, for assertions on what was stored.
    pub fn db<T>(&self, f: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>) -> T {
        let mut conn = self.pool.get().unwrap();
        f(&mut conn).unwrap()
    }

    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.db(|conn| {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
                .get_result::<Count>(conn)
                .map(|c| c.n)
        })
    }

    /// Stores an account with the test password in the test organisation and mints its token.
    pub fn seed_user(&self, role: Role) -> TestUser {
        self.seed_user_in(role, &self.org_id.clone())
    }

    pub fn seed_user_in(&self, role: Role, org_id: &str) -> TestUser {
        let email = format!(
            "{role}-{}@example.org",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let user = NewUser {
            email: Email::parse(&email).unwrap(),
            name: DisplayName::parse(&format!("Test {role}")).unwrap(),
            role,
            organisation_id: OrganisationId::from_db(org_id.to_owned()),
            password: Password::parse(PASSWORD.into()).unwrap(),
        };
        let id = self.db(|conn| {
            Ok(users::queries::insert(conn, &user, test_password_hash()).expect("seed user"))
        });
        TestUser {
            token: self.token_for(&id),
            id: id.to_string(),
            email,
        }
    }

    /// An access token exactly as login would issue it: a new sign-in (a
    /// refresh token family, stored) at the user's current token generation.
    pub fn token_for(&self, id: &UserId) -> String {
        let generation = self.db(|conn| {
            use basewatch::db::schema::users;
            use diesel::prelude::*;
            users::table
                .find(id.as_str())
                .select(users::token_generation)
                .first::<i64>(conn)
        });
        let family = auth::refresh::new_family();
        self.db(|conn| auth::refresh::issue(conn, id, &family, self.settings.refresh_token_ttl));
        JwtKeys::new(&self.jwt_secret, self.settings.access_token_ttl)
            .issue(id.as_str(), &family, generation)
            .unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops accepting and closes the workers; the database is dropped after.
        drop(self.handle.stop(false));
    }
}

/// A database that exists for one test: a temporary SQLite file, or a fresh
/// PostgreSQL database created beside `TEST_DATABASE_URL` and dropped afterwards.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    cleanup: Option<(String, String)>,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("basewatch-test-{unique}"));
                std::fs::create_dir_all(&dir).unwrap();
                Self {
                    url: DatabaseUrl::Sqlite(dir.join("test.db")),
                    cleanup: None,
                    sqlite_dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin_url =
                    postgres_admin_url().expect("TEST_DATABASE_URL is set for PostgreSQL tests");
                let name = format!("basewatch_test_{unique}");
                let mut admin = diesel::PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("cannot reach TEST_DATABASE_URL: {e}"));
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!("CREATE DATABASE {name}")),
                    &mut admin,
                )
                .unwrap();
                Self {
                    url: DatabaseUrl::Postgres(with_database(&admin_url, &name)),
                    cleanup: Some((admin_url, name)),
                    sqlite_dir: None,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin_url, name)) = &self.cleanup
            && let Ok(mut admin) = diesel::PgConnection::establish(admin_url)
        {
            // FORCE closes the pool's connections that may still be open.
            let _ = diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                &mut admin,
            );
        }
    }
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The same server and credentials, another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{server}/{name}{query}")
}

/// The `basewatch` binary, pointed at a database.
pub fn basewatch(database_url: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_basewatch"));
    cmd.env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn");
    cmd
}

/// A database URL as the command line takes it.
pub fn url_string(url: &DatabaseUrl) -> String {
    match url {
        DatabaseUrl::Postgres(url) => url.clone(),
        DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
    }
}

/// Runs the futures concurrently on this thread; their outputs, in order.
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// Runs two futures concurrently on this thread (the test runtime is single-threaded).
pub async fn join_pair<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// A new NGO organisation (a unique name), created by an admin through the API; its id.
pub async fn create_ngo(app: &TestApp, admin: &TestUser) -> String {
    app.post(
        "/api/v1/organisations",
        Some(&admin.token),
        &serde_json::json!({"name": format!("NGO {}", uuid::Uuid::new_v4()), "kind": "ngo"}),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
