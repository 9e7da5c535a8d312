//! `POST /api/v1/incidents/{id}/attachments` as `multipart/form-data`: the
//! same upload as the raw PUT (cleaned, sealed, re-sends stored once), and
//! every malformed form refused with the database left as it was.

use awc::http::Method;
use basewatch::domain::Role;
use sha2::{Digest, Sha256};

use crate::attachments::{draft, png};
use crate::helpers::{Backend, Response, TestApp, TestUser, spawn_app_with};
use crate::reference::seed_mission;

crate::scenarios![forms_upload_like_put_and_malformed_forms_are_refused];

const BOUNDARY: &str = "basewatch-test-boundary-7c1d";

/// A malformed form: what it is, its Content-Type and body, the status, the field named.
type Case<'a> = (&'a str, String, Vec<u8>, u16, Option<&'a str>);

/// One part: its name, file name, Content-Type and bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

pub fn form_body(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content_type, bytes) in parts {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes(),
        );
        if let Some(f) = filename {
            body.extend(format!("; filename=\"{f}\"").bytes());
        }
        body.extend(b"\r\n");
        if let Some(t) = content_type {
            body.extend(format!("Content-Type: {t}\r\n").bytes());
        }
        body.extend(b"\r\n");
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

pub async fn post_form(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Response {
    let auth = format!("Bearer {}", user.token);
    app.raw(
        Method::POST,
        &format!("/api/v1/incidents/{incident}/attachments"),
        &[
            ("authorization", auth.as_str()),
            ("content-type", content_type),
        ],
        body,
    )
    .await
}

fn form_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

async fn forms_upload_like_put_and_malformed_forms_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.attachments.max_bytes = 64 * 1024).await;
    let admin = app.seed_user(Role::Admin);
    let (mission, _, _) = seed_mission(&app, &admin.token).await;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(&app, &monitor, &mission).await;
    let file = png(16, 16, 3);
    let id = uuid::Uuid::new_v4().to_string();

    // An id, then the file with its name and type.
    let body = form_body(&[
        ("id", None, None, id.as_bytes()),
        ("file", Some("venue photo.png"), Some("image/png"), &file),
    ]);
    let res = post_form(&app, &monitor, &incident, &form_type(), body.clone()).await;
    let created = res.expect(201);
    assert_eq!(created["id"], id.as_str());
    assert_eq!(created["media_type"], "image/png");
    assert_eq!(created["file_name"], "venue photo.png");
    assert_eq!(
        res.header("location"),
        Some(format!("/api/v1/incidents/{incident}/attachments/{id}").as_str())
    );
    let content = app
        .get(
            &format!("/api/v1/incidents/{incident}/attachments/{id}/content"),
            Some(&monitor.token),
        )
        .await;
    assert_eq!(content.status, 200);
    let digest: String = Sha256::digest(&content.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(created["sha256"], digest.as_str());
    assert!(
        content
            .header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );

    // A name that is not ASCII comes as RFC 8187 `filename*`, before `filename`.
    let mut named = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fallback.png\"; \
         filename*=UTF-8''%D8%B5%D9%88%D8%B1%D8%A9.png\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    named.extend(&file);
    named.extend(format!("\r\n--{BOUNDARY}--\r\n").bytes());
    let named = post_form(&app, &monitor, &incident, &form_type(), named).await;
    assert_eq!(
        named.expect(201)["file_name"],
        "\u{635}\u{648}\u{631}\u{629}.png"
    );
    let named_id = named.json()["id"].as_str().unwrap().to_owned();
    app.raw(
        Method::DELETE,
        &format!("/api/v1/incidents/{incident}/attachments/{named_id}"),
        &[("authorization", &format!("Bearer {}", monitor.token))],
        Vec::new(),
    )
    .await
    .expect(204);

    // The same form again: nothing new; another file under the id: 409.
    let again = post_form(&app, &monitor, &incident, &form_type(), body).await;
    assert_eq!(again.expect(200)["id"], id.as_str());
    let other = form_body(&[
        ("id", None, None, id.as_bytes()),
        ("file", None, Some("image/png"), &png(16, 16, 9)),
    ]);
    post_form(&app, &monitor, &incident, &form_type(), other)
        .await
        .expect(409);
    // Without an id the server makes one.
    let res = post_form(
        &app,
        &monitor,
        &incident,
        &form_type(),
        form_body(&[("file", None, Some("image/png"), &file)]),
    )
    .await;
    let made = res.expect(201)["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&made).is_ok());
    assert_ne!(made, id);
    // The id may also follow the file (generated clients send required parts first).
    let after = uuid::Uuid::new_v4().to_string();
    let res = post_form(
        &app,
        &monitor,
        &incident,
        &form_type(),
        form_body(&[
            ("file", None, Some("image/png"), &png(16, 16, 5)),
            ("id", None, None, after.as_bytes()),
        ]),
    )
    .await;
    assert_eq!(res.expect(201)["id"], after.as_str());
    let stored = app.count(&format!("attachments WHERE incident_id = '{incident}'"));
    assert_eq!(stored, 3);

    // Each malformed form: its status, the field named, and nothing stored.
    let big = png(300, 300, 4);
    let fresh = uuid::Uuid::new_v4().to_string();
    let cases: Vec<Case> = vec![
        (
            "no file part",
            form_type(),
            form_body(&[("id", None, None, fresh.as_bytes())]),
            422,
            Some("file"),
        ),
        (
            "an unknown part",
            form_type(),
            form_body(&[
                ("note", None, None, b"x"),
                ("file", None, Some("image/png"), &file),
            ]),
            422,
            Some("body"),
        ),
        (
            "two files",
            form_type(),
            form_body(&[
                ("file", None, Some("image/png"), &file),
                ("file", None, Some("image/png"), &file),
            ]),
            422,
            Some("file"),
        ),
        (
            "two id parts",
            form_type(),
            form_body(&[
                ("id", None, None, fresh.as_bytes()),
                ("file", None, Some("image/png"), &file),
                ("id", None, None, fresh.as_bytes()),
            ]),
            422,
            Some("id"),
        ),
        (
            "an id that is no UUID",
            form_type(),
            form_body(&[
                ("id", None, None, b"1 OR 1=1"),
                ("file", None, Some("image/png"), &file),
            ]),
            422,
            Some("id"),
        ),
        (
            "a file part without a type",
            form_type(),
            form_body(&[("file", None, None, &file)]),
            415,
            None,
        ),
        (
            "a declared type the content contradicts",
            form_type(),
            form_body(&[("file", None, Some("image/jpeg"), &file)]),
            422,
            Some("Content-Type"),
        ),
        (
            "HTML",
            form_type(),
            form_body(&[(
                "file",
                Some("x.html"),
                Some("text/html"),
                b"<script>alert(1)</script>",
            )]),
            415,
            None,
        ),
        (
            "a control character in a part's header",
            form_type(),
            form_body(&[("file", Some("a\u{1b}b.png"), Some("image/png"), &file)]),
            400,
            None,
        ),
        (
            "a file over the limit",
            form_type(),
            form_body(&[("file", None, Some("image/png"), &big)]),
            413,
            None,
        ),
        (
            "not a form",
            "application/json".into(),
            b"{}".to_vec(),
            415,
            None,
        ),
        (
            "multipart, not a form",
            format!("multipart/mixed; boundary={BOUNDARY}"),
            form_body(&[("file", None, Some("image/png"), &file)]),
            415,
            None,
        ),
        (
            "no boundary",
            "multipart/form-data".into(),
            form_body(&[("file", None, Some("image/png"), &file)]),
            400,
            None,
        ),
        (
            "a form cut off",
            form_type(),
            form_body(&[("file", None, Some("image/png"), &file)])[..200].to_vec(),
            400,
            None,
        ),
    ];
    for (what, content_type, body, status, field) in cases {
        let res = post_form(&app, &monitor, &incident, &content_type, body).await;
        assert_eq!(
            res.status,
            status,
            "{what}: {}",
            String::from_utf8_lossy(&res.body)
        );
        let problem = res.expect(status);
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{what}: {problem}");
        }
        assert_eq!(
            app.count(&format!("attachments WHERE incident_id = '{incident}'")),
            stored,
            "{what}: something was stored"
        );
    }

    // Who may: a partner does not add to a monitor's draft (the matrix walks every role).
    let partner = app.seed_user(Role::Partner);
    let res = post_form(
        &app,
        &partner,
        &incident,
        &form_type(),
        form_body(&[("file", None, Some("image/png"), &file)]),
    )
    .await;
    assert_eq!(res.status, 404);
    assert_eq!(
        app.count(&format!("attachments WHERE incident_id = '{incident}'")),
        stored
    );
}
