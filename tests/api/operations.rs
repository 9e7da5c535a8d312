//! Health, readiness, the OpenAPI document, Swagger UI, migrations, demo data, the command line.

use std::io::Write;
use std::process::{Command, Stdio};

use basewatch::db::migrations;
use basewatch::demo;
use basewatch::domain::Role;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDatabase, basewatch, spawn_app};
use crate::{Check, helpers};

crate::scenarios![
    health_and_readiness,
    the_served_document_is_the_committed_one,
    swagger_ui_works_offline,
    migrations_run_down_and_up_again,
    demo_data_is_seeded_once_and_its_accounts_sign_in,
    the_cli_creates_users_with_a_password_from_stdin,
    serve_demo_starts_and_stops_gracefully_on_sigterm,
    seed_synthetic_bulk_loads_whole_incidents,
    the_migrate_command_applies_every_migration_once,
];

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "api::operations::committed_openapi_matches_the_code",
            run: committed_openapi_matches_the_code,
        },
        Check {
            name: "api::operations::migration_folders_match_across_backends",
            run: migration_folders_match_across_backends,
        },
        Check {
            name: "api::operations::production_refuses_a_weak_jwt_secret",
            run: production_refuses_a_weak_jwt_secret,
        },
        Check {
            name: "api::operations::every_operation_is_fully_documented",
            run: every_operation_is_fully_documented,
        },
        Check {
            name: "api::operations::the_openapi_command_prints_the_committed_document",
            run: the_openapi_command_prints_the_committed_document,
        },
    ]
}

const OPENAPI_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

fn committed_openapi() -> Value {
    let text = std::fs::read_to_string(OPENAPI_FILE).expect("openapi/openapi.json is committed");
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/health", None).await.expect(200)["status"], "ok");
    let ready = app.get("/ready", None).await.expect(200);
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], backend.name());

    // With a migration reverted, the service is alive but not ready.
    app.db(|conn| {
        migrations::revert_all(conn).unwrap();
        Ok(())
    });
    app.get("/health", None).await.expect(200);
    let problem = app.get("/ready", None).await.expect(503);
    assert!(problem["detail"].as_str().unwrap().contains("migrations"));
}

async fn the_served_document_is_the_committed_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.expect(200), committed_openapi());
    assert_eq!(res.header("content-type"), Some("application/json"));
}

async fn swagger_ui_works_offline(backend: Backend) {
    let app = spawn_app(backend).await;
    let redirect = app.get("/docs", None).await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/docs/"));
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("swagger-ui-bundle.js"));
    assert!(
        !html.contains("https://"),
        "the page loads nothing from outside"
    );
    // The scripts are served by Basewatch itself, and point at our document.
    let bundle = app.get("/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(bundle.status, 200);
    assert!(bundle.body.len() > 100_000);
    let init = app.get("/docs/swagger-initializer.js", None).await;
    assert!(String::from_utf8_lossy(&init.body).contains("/api/v1/openapi.json"));
}

fn table_names(conn: &mut basewatch::db::DbConnection) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    use diesel::RunQueryDsl;
    let sql = match conn {
        basewatch::db::DbConnection::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        basewatch::db::DbConnection::Postgres(_) => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    diesel::sql_query(sql)
        .load::<Name>(conn)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

async fn migrations_run_down_and_up_again(backend: Backend) {
    let db = TestDatabase::create(backend);
    let mut conn = db.url.connect().unwrap();
    let applied = migrations::run_pending(&mut conn).unwrap();
    assert!(!applied.is_empty());
    assert!(!migrations::has_pending(&mut conn).unwrap());
    let tables = table_names(&mut conn);
    for table in ["organisations", "users", "refresh_tokens"] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }

    let reverted = migrations::revert_all(&mut conn).unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert_eq!(table_names(&mut conn), ["__diesel_schema_migrations"]);
    assert!(migrations::has_pending(&mut conn).unwrap());

    assert_eq!(migrations::run_pending(&mut conn).unwrap(), applied);
    assert_eq!(table_names(&mut conn), tables);
}

async fn demo_data_is_seeded_once_and_its_accounts_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (orgs, users) = (app.count("organisations"), app.count("users"));
    let first = app.db(|conn| Ok(demo::seed(conn, &app.data_keys).unwrap()));
    assert_eq!(
        first,
        demo::Seeded {
            accounts: 7,
            incidents: demo::incidents::SYNTHETIC_INCIDENTS
        }
    );
    assert_eq!(
        app.db(|conn| Ok(demo::seed(conn, &app.data_keys).unwrap())),
        demo::Seeded::default(),
        "a second run adds nothing"
    );
    assert_eq!(app.count("organisations"), orgs + 2);
    assert_eq!(app.count("users"), users + 7);
    assert_eq!(app.count("missions"), 4);
    assert_eq!(app.count("bases"), 5);
    assert_eq!(app.count("deployments"), 13);
    assert_eq!(app.count("incidents"), 2000);
    // Their narratives are sealed like any other.
    assert_eq!(
        app.count(&format!(
            "incidents WHERE synthetic AND narrative_key_id = '{}'",
            app.data_keys.current_id()
        )),
        2000
    );
    assert_eq!(app.count("incidents WHERE narrative LIKE '%SYNTHETIC%'"), 0);
    for status in crate::review::STATES {
        assert!(
            app.count(&format!("incidents WHERE status = '{status}'")) > 20,
            "{status}"
        );
    }
    // Denser where troops were: Kosovo, the largest deployment, has the most; Nepal, none, the fewest.
    let per_mission = |name: &str| {
        app.count(&format!(
            "incidents i JOIN missions m ON m.id = i.mission_id WHERE m.name = '{name}'"
        ))
    };
    assert!(per_mission("KFOR (Kosovo)") > per_mission("MINUSTAH (Haiti)"));
    assert!(
        per_mission("Nepal (comparison, no deployment)") < per_mission("UNAMSIL (Sierra Leone)")
    );
    assert_eq!(
        app.count("deployments d JOIN bases b ON b.id = d.base_id WHERE b.name = 'Kathmandu'"),
        0
    );

    let expected = [
        ("admin", "admin", demo::OVERSIGHT_OFFICE),
        ("reviewer", "reviewer", demo::OVERSIGHT_OFFICE),
        ("reviewer2", "reviewer", demo::OVERSIGHT_OFFICE),
        ("analyst", "analyst", demo::OVERSIGHT_OFFICE),
        ("monitor", "monitor", demo::OVERSIGHT_OFFICE),
        ("monitor2", "monitor", demo::OVERSIGHT_OFFICE),
        ("partner", "partner", demo::NGO),
    ];
    for (login, role, org) in expected {
        let email = format!("{login}@demo.basewatch.org");
        let tokens = app
            .login(&email, &format!("demo-password-{role}"))
            .await
            .expect(200);
        let me = app
            .get("/api/v1/me", tokens["access_token"].as_str())
            .await
            .expect(200);
        assert_eq!(me["role"], role);
        assert_eq!(me["organisation"]["name"], org);
        let listed = app
            .get("/api/v1/incidents?limit=5", tokens["access_token"].as_str())
            .await
            .expect(200);
        assert_eq!(
            listed["items"].as_array().unwrap().len(),
            5,
            "{login} sees demo incidents"
        );
        assert!(
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["synthetic"] == true)
        );
    }
}

async fn seed_synthetic_bulk_loads_whole_incidents(backend: Backend) {
    let app = spawn_app(backend).await;
    let data_dir = std::env::temp_dir().join(format!("bw-seed-{}", uuid::Uuid::new_v4()));
    // Three transactions of 100, 100 and 50: batches end cleanly.
    let out = basewatch(&helpers::url_string(&app.database_url))
        .args(["seed-synthetic", "--incidents", "250", "--batch", "100"])
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("BASEWATCH_DATA_KEY", &app.data_key_hex)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("stored 250 synthetic incidents"),
        "{stdout}"
    );
    assert_eq!(app.count("incidents WHERE synthetic"), 250);
    assert!(app.count("missions") > 0 && app.count("bases") > 0);

    // Whole and consistent, although PostgreSQL's per-row foreign-key triggers are
    // skipped for the load: every reference resolves, every incident has its history
    // entry and its exploitation types.
    for orphans in [
        "incidents i WHERE NOT EXISTS (SELECT 1 FROM missions m WHERE m.id = i.mission_id)",
        "incidents i WHERE i.base_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM bases b WHERE b.id = i.base_id)",
        "incidents i WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = i.reporter_id)",
        "incidents i WHERE NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = i.organisation_id)",
        "incidents i WHERE NOT EXISTS (SELECT 1 FROM incident_events e WHERE e.incident_id = i.id)",
        "incidents i WHERE NOT EXISTS (SELECT 1 FROM incident_exploitation_types t WHERE t.incident_id = i.id)",
        "incident_exploitation_types t WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = t.incident_id)",
        "incident_perpetrator_affiliations p WHERE NOT EXISTS (SELECT 1 FROM incidents i WHERE i.id = p.incident_id)",
    ] {
        assert_eq!(app.count(orphans), 0, "{orphans}");
    }
    // The foreign keys are still enforced for everyone else afterwards.
    let mut pooled = app.pool.get().unwrap();
    let conn: &mut basewatch::db::DbConnection = &mut pooled;
    let broken = diesel::sql_query(
        "INSERT INTO incident_exploitation_types (incident_id, exploitation_type) \
         VALUES ('no-such-incident', 'forced_labour')",
    )
    .execute(conn);
    drop(pooled);
    let error = broken.expect_err("the foreign key refuses").to_string();
    assert!(
        error.contains("FOREIGN KEY constraint failed")
            || error.contains("violates foreign key constraint"),
        "{error}"
    );

    // Served like any other incident, narratives opened with the server's key.
    let analyst = app.seed_user(Role::Analyst);
    let exported = app
        .get(
            "/api/v1/exports/incidents?format=ndjson",
            Some(&analyst.token),
        )
        .await;
    assert_eq!(exported.status, 200);
    let rows: Vec<Value> = String::from_utf8(exported.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        rows.len() as i64,
        app.count("incidents WHERE synthetic AND status <> 'draft'")
    );
    assert!(
        rows.iter()
            .all(|r| r["synthetic"] == true
                && r["narrative"].as_str().is_some_and(|n| !n.is_empty()))
    );
}

async fn the_cli_creates_users_with_a_password_from_stdin(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = helpers::url_string(&app.database_url);
    let create = |email: &str, password: &str| {
        let mut child = basewatch(&url)
            .args([
                "user",
                "create",
                "--email",
                email,
                "--name",
                "Cli Admin",
                "--role",
                "admin",
            ])
            .args([
                "--org",
                "Command Line Office",
                "--org-kind",
                "oversight_office",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = create("cli@example.org", "a passphrase from stdin\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created admin cli@example.org"));
    let tokens = app
        .login("cli@example.org", "a passphrase from stdin")
        .await
        .expect(200);
    let me = app
        .get("/api/v1/me", tokens["access_token"].as_str())
        .await
        .expect(200);
    assert_eq!(me["organisation"]["name"], "Command Line Office");

    // The same organisation is reused; a duplicate email and a short password fail clearly.
    let out = create("cli2@example.org", "another long passphrase\n");
    assert!(out.status.success());
    assert_eq!(
        app.count("organisations WHERE name = 'Command Line Office'"),
        1
    );
    let out = create("CLI@example.org", "yet another passphrase\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = create("cli3@example.org", "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    assert_eq!(app.count("users WHERE email LIKE 'cli%'"), 2);
}

fn committed_openapi_matches_the_code() {
    let generated: Value = serde_json::from_str(&basewatch::startup::openapi_json()).unwrap();
    assert!(
        generated == committed_openapi(),
        "openapi/openapi.json is out of date: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

fn migration_folders_match_across_backends() {
    let list = |backend: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.path().is_dir())
            .map(|e| {
                for file in ["up.sql", "down.sql"] {
                    assert!(
                        e.path().join(file).is_file(),
                        "{} lacks {file}",
                        e.path().display()
                    );
                }
                e.file_name().to_string_lossy().into_owned()
            })
            .collect();
        names.sort();
        names
    };
    let (sqlite, postgres) = (list("sqlite"), list("postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}

fn production_refuses_a_weak_jwt_secret() {
    for secret in [None, Some("too-short-secret")] {
        let mut cmd = basewatch("sqlite:///nonexistent/never-created.db");
        cmd.arg("serve")
            .env("BASEWATCH_ENV", "production")
            .env_remove("BASEWATCH_JWT_SECRET");
        if let Some(secret) = secret {
            cmd.env("BASEWATCH_JWT_SECRET", secret);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("BASEWATCH_JWT_SECRET"), "{stderr}");
    }
}

/// The document tells the truth: ids, tags, security and error answers on every operation.
fn every_operation_is_fully_documented() {
    let doc = committed_openapi();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id} has no tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{id} lacks 500");
            let secured = op.get("security").is_some();
            assert_eq!(
                secured,
                responses.contains_key("401") && !path.contains("/auth/"),
                "{id}: security vs 401"
            );
            // The token endpoint's 400 and 401 are RFC 6749 §5.2 errors, not
            // problems, and a body that is no form is one of them (400).
            let oauth = id == "issue_client_token";
            if op.get("requestBody").is_some() {
                // A batch answers an invalid item with 422 inside its 200, never whole;
                // the token endpoint's errors are RFC 6749's, not problems.
                let statuses: &[&str] = if id == "create_incidents_batch" {
                    &["413", "415"]
                } else {
                    &["413", "415", "422"]
                };
                for status in statuses {
                    assert!(
                        responses.contains_key(*status) || (oauth && *status != "413"),
                        "{id} lacks {status}"
                    );
                }
            }
            for (status, response) in responses {
                if oauth && ["400", "401"].contains(&status.as_str()) {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/OAuthError",
                        "{id} {status}"
                    );
                    continue;
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let reference = response["$ref"].as_str().unwrap_or_default();
                    assert!(
                        reference.starts_with("#/components/responses/"),
                        "{id} {status} is not a problem"
                    );
                }
            }
        }
    }
    assert!(ids.len() >= 12);

    // Every reference resolves (a generated client fails on one that does not).
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // A schema extended with allOf must stay open, or every extended value breaks it.
    fn all_ofs<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(parts)) = map.get("allOf") {
                    out.extend(parts);
                }
                map.values().for_each(|v| all_ofs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| all_ofs(v, out)),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    all_ofs(&doc, &mut parts);
    assert!(!parts.is_empty());
    for part in parts {
        let schema = match part["$ref"].as_str() {
            Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
            None => part,
        };
        assert_ne!(
            schema["additionalProperties"],
            json!(false),
            "an allOf part is closed: {part}"
        );
    }
    // Enumerations are documented with their wire values.
    assert_eq!(
        doc["components"]["schemas"]["Status"]["enum"][2],
        "in_review"
    );
}

async fn serve_demo_starts_and_stops_gracefully_on_sigterm(backend: Backend) {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};

    let db = TestDatabase::create(backend);
    let url = helpers::url_string(&db.url);
    let data_dir = std::env::temp_dir().join(format!("basewatch-serve-{}", uuid::Uuid::new_v4()));
    let mut child = basewatch(&url)
        .args(["serve", "--demo"])
        .env("BASEWATCH_BIND", "127.0.0.1:0")
        .env("BASEWATCH_DATA_DIR", &data_dir)
        .env("BASEWATCH_WORKERS", "1")
        .env_remove("BASEWATCH_JWT_SECRET")
        .env_remove("BASEWATCH_ENV")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    while !banner.contains("Try:") {
        assert!(
            stdout.read_line(&mut banner).unwrap() > 0,
            "serve exited early: {banner}"
        );
    }
    let address = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap()
        .to_owned();
    assert!(banner.contains("admin@demo.basewatch.org") && banner.contains("demo-password-admin"));
    assert!(banner.contains("/docs/"));

    let client = awc::Client::default();
    let ready = client.get(format!("{address}/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let login = client
        .post(format!("{address}/api/v1/auth/login"))
        .send_json(&serde_json::json!({"email": "partner@demo.basewatch.org", "password": "demo-password-partner"}))
        .await
        .unwrap();
    assert_eq!(login.status(), 200);

    // Development generated a JWT secret only its owner can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let _ = std::fs::remove_dir_all(data_dir);
}

/// `basewatch openapi` prints the committed file, byte for byte.
fn the_openapi_command_prints_the_committed_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_basewatch"))
        .arg("openapi")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read(OPENAPI_FILE).unwrap();
    assert!(
        out.stdout == committed,
        "`basewatch openapi` differs from openapi/openapi.json"
    );
}

/// The version of every migration folder of `backend`, in order.
fn migration_versions(backend: Backend) -> Vec<String> {
    let dir = format!(
        "{}/migrations/{}",
        env!("CARGO_MANIFEST_DIR"),
        backend.name()
    );
    let mut versions: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.split('_').next().unwrap().replace('-', "")
        })
        .collect();
    versions.sort();
    versions
}

fn applied_versions(conn: &mut basewatch::db::DbConnection) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    diesel::sql_query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
        .load::<Version>(conn)
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect()
}

async fn the_migrate_command_applies_every_migration_once(backend: Backend) {
    let db = TestDatabase::create(backend);
    let url = helpers::url_string(&db.url);
    let expected = migration_versions(backend);
    assert!(expected.len() >= 8, "{expected:?}");

    let out = basewatch(&url).arg("migrate").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.ends_with(&format!(": applied {}\n", expected.join(", "))),
        "{stdout}"
    );
    let mut conn = db.url.connect().unwrap();
    assert_eq!(applied_versions(&mut conn), expected);
    assert!(!migrations::has_pending(&mut conn).unwrap());
    let tables = table_names(&mut conn);
    for table in [
        "users",
        "incidents",
        "incident_events",
        "audit_log",
        "login_failures",
    ] {
        assert!(tables.iter().any(|t| t == table), "{table} in {tables:?}");
    }

    // A second run changes nothing.
    let out = basewatch(&url).arg("migrate").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.ends_with(": up to date\n"), "{stdout}");
    assert_eq!(applied_versions(&mut conn), expected);
    assert_eq!(table_names(&mut conn), tables);

    // A database it cannot reach: exit 1, and why, on stderr.
    let plain_file = std::env::temp_dir().join(format!("bw-not-a-folder-{}", uuid::Uuid::new_v4()));
    std::fs::write(&plain_file, b"").unwrap();
    let unreachable = match backend {
        Backend::Postgres => "postgres://postgres@127.0.0.1:1/basewatch".to_owned(),
        Backend::Sqlite => format!("sqlite://{}/basewatch.db", plain_file.display()),
    };
    let out = basewatch(&unreachable).arg("migrate").output().unwrap();
    let _ = std::fs::remove_file(&plain_file);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with(&format!("error: cannot connect to {unreachable}: ")),
        "{stderr}"
    );
}
