//! For the integrator: the index a new user lands on, a document fit for client
//! generators, Swagger UI kept to itself, and the files a new user reads first.

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::Check;
use crate::helpers::{Backend, spawn_app};
use crate::incidents::{report, world};

crate::scenarios![
    the_index_answers_at_the_root_and_the_api_base,
    swagger_ui_never_calls_the_online_validator,
    the_served_document_is_fit_for_generators,
    the_patch_schema_says_what_the_server_does_with_null,
];

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            name: "api::integrator::the_license_file_matches_cargo_toml",
            run: the_license_file_matches_cargo_toml,
        },
        Check {
            name: "api::integrator::the_postgres_commands_pass_the_data_key",
            run: the_postgres_commands_pass_the_data_key,
        },
    ]
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

async fn the_index_answers_at_the_root_and_the_api_base(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/", "/api/v1"] {
        let res = app.get(path, None).await;
        let index = res.expect(200);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(index["name"], "Basewatch API", "{path}");
        assert_eq!(index["version"], env!("CARGO_PKG_VERSION"), "{path}");
        let links = index["links"].as_object().unwrap();
        for name in ["api", "docs", "openapi", "health", "ready"] {
            let link = links[name].as_str().unwrap();
            let followed = app.get(link, None).await;
            assert_eq!(followed.status, 200, "{path}: link {name} = {link}");
        }
    }
    // Every other unknown address is still a problem document, and the index
    // takes only GET.
    app.get("/api/v1/", None).await.expect(404);
    app.get("/api/v2", None).await.expect(404);
    let post = app
        .request(Method::POST, "/api/v1", None, Some(&json!({})))
        .await;
    post.expect(405);
    assert_eq!(post.header("allow"), Some("GET"));
}

async fn swagger_ui_never_calls_the_online_validator(backend: Backend) {
    let app = spawn_app(backend).await;
    let init = app.get("/docs/swagger-initializer.js", None).await;
    assert_eq!(init.status, 200);
    let script = String::from_utf8_lossy(&init.body);
    assert!(
        script.contains(r#""validatorUrl": "none""#),
        "the served Swagger UI config must turn the validator off: {script}"
    );
}

/// The document as the server serves it: what a generator reads.
async fn the_served_document_is_fit_for_generators(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    let schemas = doc["components"]["schemas"].as_object().unwrap();

    // A page's items are a reference to the item schema, never a copy of it.
    let pages: Vec<_> = schemas.keys().filter(|k| k.starts_with("Page_")).collect();
    assert!(pages.len() >= 9, "{pages:?}");
    for page in pages {
        let item = page.trim_start_matches("Page_");
        assert_eq!(
            schemas[page]["properties"]["items"],
            json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}}),
            "{page}"
        );
        assert!(schemas.contains_key(item), "{page}: no schema {item}");
    }
    let incidents = &doc["paths"]["/api/v1/incidents"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        incidents["$ref"], "#/components/schemas/Page_Incident",
        "{incidents}"
    );

    // The merge patch has a named schema: every content field, none required.
    let patch = &doc["paths"]["/api/v1/incidents/{id}"]["patch"]["requestBody"]["content"];
    assert_eq!(
        patch["application/merge-patch+json"]["schema"],
        json!({"$ref": "#/components/schemas/IncidentPatch"})
    );
    let patch_schema = &schemas["IncidentPatch"];
    assert!(patch_schema.get("required").is_none(), "{patch_schema}");
    let content = schemas["IncidentContent"]["properties"]
        .as_object()
        .unwrap();
    let fields = patch_schema["properties"].as_object().unwrap();
    assert_eq!(
        fields.keys().collect::<Vec<_>>(),
        content.keys().collect::<Vec<_>>()
    );

    // One operation, two representations, both documented, and the parameter
    // that picks one.
    let stats = &doc["paths"]["/api/v1/stats/incidents"]["get"];
    let answers = stats["responses"]["200"]["content"].as_object().unwrap();
    assert_eq!(
        answers["application/json"]["schema"]["$ref"],
        "#/components/schemas/Aggregate"
    );
    assert!(answers.contains_key("text/csv"), "{answers:?}");
    let format = stats["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "format")
        .expect("stats take ?format=");
    assert_eq!(format["schema"]["enum"], json!(["json", "csv"]));

    // Descriptions speak of the API, not of the Rust behind it.
    let mut leaks = Vec::new();
    texts(&doc, "", &mut leaks);
    assert!(leaks.is_empty(), "descriptions leak internals: {leaks:#?}");
}

/// Every description, summary and title that names Rust internals.
fn texts(value: &Value, at: &str, leaks: &mut Vec<String>) {
    const INTERNALS: [&str; 12] = [
        "Rust",
        "struct",
        "Option<",
        "Vec<",
        "crate::",
        "fn ",
        "serde",
        "diesel",
        "utoipa",
        "deny_unknown_fields",
        "from_object",
        "_PATTERN",
    ];
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                let here = format!("{at}/{key}");
                if let ("description" | "summary" | "title", Value::String(text)) =
                    (key.as_str(), value)
                    && let Some(word) = INTERNALS.iter().find(|w| text.contains(*w))
                {
                    leaks.push(format!("{here}: {word:?} in {text:?}"));
                }
                texts(value, &here, leaks);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                texts(item, &format!("{at}[{i}]"), leaks);
            }
        }
        _ => {}
    }
}

/// The fields the patch schema makes nullable are the ones the server clears
/// on `null`; the others it refuses.
async fn the_patch_schema_says_what_the_server_does_with_null(backend: Backend) {
    let w = world(backend).await;
    let monitor = w.app.seed_user(Role::Monitor);
    let incident = w
        .app
        .post(
            "/api/v1/incidents",
            Some(&monitor.token),
            &report(&w.mission),
        )
        .await
        .expect(201);
    let path = format!("/api/v1/incidents/{}", incident["id"].as_str().unwrap());
    let doc = w.app.get("/api/v1/openapi.json", None).await.expect(200);
    let fields = doc["components"]["schemas"]["IncidentPatch"]["properties"]
        .as_object()
        .unwrap()
        .clone();
    let mut version = incident["version"].as_i64().unwrap();
    let (mut cleared, mut refused) = (0, 0);
    for (name, schema) in &fields {
        let res = send_patch(&w.app, &path, &monitor.token, version, name).await;
        if nullable(schema) {
            let edited = res.expect(200);
            assert!(
                edited
                    .get(name)
                    .is_none_or(|v| v.is_null() || v.as_array().is_some_and(|a| a.is_empty())),
                "{name}: {edited}"
            );
            version = edited["version"].as_i64().unwrap();
            cleared += 1;
        } else {
            let problem = res.expect(422);
            assert_eq!(problem["errors"][0]["field"], name.as_str(), "{problem}");
            refused += 1;
        }
    }
    assert!(
        cleared >= 8 && refused >= 5,
        "{cleared} cleared, {refused} refused"
    );
}

async fn send_patch(
    app: &crate::helpers::TestApp,
    path: &str,
    token: &str,
    version: i64,
    field: &str,
) -> crate::helpers::Response {
    let auth = format!("Bearer {token}");
    let if_match = format!("\"{version}\"");
    app.raw(
        Method::PATCH,
        path,
        &[
            ("authorization", auth.as_str()),
            ("if-match", if_match.as_str()),
            ("content-type", "application/merge-patch+json"),
        ],
        json!({ field: null }).to_string().into_bytes(),
    )
    .await
}

fn nullable(schema: &Value) -> bool {
    schema["type"] == "null"
        || schema["type"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("null")))
        || schema["oneOf"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["type"] == "null"))
}

fn read(file: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn the_license_file_matches_cargo_toml() {
    let manifest = read("Cargo.toml");
    assert!(
        manifest.contains("\nlicense = \"AGPL-3.0-only\"\n"),
        "Cargo.toml's license changed: update LICENSE and this check"
    );
    let license = read("LICENSE");
    assert!(license.starts_with("GNU AFFERO GENERAL PUBLIC LICENSE\nVersion 3, 19 November 2007"));
    for part in [
        "TERMS AND CONDITIONS",
        "13. Remote Network Interaction; Use with the GNU General Public License.",
        "17. Interpretation of Sections 15 and 16.",
        "END OF TERMS AND CONDITIONS",
        "How to Apply These Terms to Your New Programs",
    ] {
        assert!(license.contains(part), "LICENSE lacks {part:?}");
    }
    assert!(license.len() > 30_000, "LICENSE is not the full text");
}

/// The README's PostgreSQL and docker-compose commands, run as written, have
/// every variable production needs, and the compose file passes them through.
fn the_postgres_commands_pass_the_data_key() {
    let readme = read("README.md");
    let section = readme
        .split("## Running on PostgreSQL")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a PostgreSQL section");
    let blocks: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "{section}");
    for (block, run) in [
        (blocks[0], "basewatch serve"),
        (blocks[1], "docker-compose up -d"),
    ] {
        let before = block.split(run).next().unwrap();
        for var in [
            "BASEWATCH_JWT_SECRET=",
            "BASEWATCH_DATA_KEY=",
            if run.starts_with("docker") {
                "POSTGRES_PASSWORD="
            } else {
                "DATABASE_URL="
            },
        ] {
            assert!(
                before.contains(var),
                "{var} is not set before `{run}`:\n{block}"
            );
        }
    }
    let compose = read("docker-compose.yml");
    for var in [
        "BASEWATCH_JWT_SECRET",
        "BASEWATCH_DATA_KEY",
        "POSTGRES_PASSWORD",
    ] {
        assert!(
            compose.contains(&format!("${{{var}:?")),
            "docker-compose.yml must require {var}"
        );
    }
}
