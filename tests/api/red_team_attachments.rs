//! Red-team findings on attachments (issue 13): a removed attachment's id
//! reused for another file, file names that hide or reorder what they show,
//! query strings that are not UTF-8, and PDF annotations that name their author.

use basewatch::domain::Role;

use crate::attachments::{attachment_path, contains, download, draft, png, put, remove};
use crate::helpers::{Backend, TestApp, TestUser};
use crate::incidents::world;

crate::scenarios![
    a_removed_id_never_names_another_file,
    file_names_that_hide_or_reorder_text_are_refused,
    query_strings_must_be_utf8,
    pdf_annotations_lose_their_author_and_dates,
];

/// Every byte percent-encoded, as a client sends a name in a query string.
fn encoded(name: &str) -> String {
    name.bytes().map(|b| format!("%{b:02X}")).collect()
}

async fn named_upload(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    query: &str,
) -> crate::helpers::Response {
    let id = uuid::Uuid::new_v4().to_string();
    let path = format!("{}?filename={query}", attachment_path(incident, &id));
    put(app, user, &path, Some("image/png"), png(16, 16, 9)).await
}

async fn a_removed_id_never_names_another_file(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let other = draft(app, &monitor, &w.mission).await;
    let id = uuid::Uuid::new_v4().to_string();
    let path = attachment_path(&incident, &id);
    let file = png(32, 32, 5);
    put(app, &monitor, &path, Some("image/png"), file.clone())
        .await
        .expect(201);
    remove(app, &monitor, &incident, &id, None)
        .await
        .expect(204);

    // The same file again, another file, the same id on another incident.
    for (on, file) in [
        (&incident, file.clone()),
        (&incident, png(32, 32, 6)),
        (&other, file.clone()),
    ] {
        let res = put(
            app,
            &monitor,
            &attachment_path(on, &id),
            Some("image/png"),
            file,
        )
        .await;
        let problem = res.expect(409);
        assert_eq!(
            problem["detail"],
            "this id belonged to an attachment that was removed; send a new id"
        );
    }
    assert_eq!(app.count("attachments"), 0);
    assert_eq!(app.count("attachment_chunks"), 0);
    assert_eq!(
        app.count(&format!(
            "removed_attachments WHERE id = '{id}' AND incident_id = '{incident}'"
        )),
        1
    );
    assert_eq!(
        app.count(&format!(
            "audit_log WHERE action = 'incident.attachment_added' AND entity_id = '{incident}'"
        )),
        1,
        "nothing refused is recorded"
    );
    app.get(&path, Some(&monitor.token)).await.expect(404);
    download(app, &monitor, &incident, &id).await.expect(404);
    remove(app, &monitor, &incident, &id, None)
        .await
        .expect(404);

    // A new id is stored as ever, and its removal leaves a tombstone of its own.
    let fresh = uuid::Uuid::new_v4().to_string();
    put(
        app,
        &monitor,
        &attachment_path(&incident, &fresh),
        Some("image/png"),
        file,
    )
    .await
    .expect(201);
    remove(app, &monitor, &incident, &fresh, None)
        .await
        .expect(204);
    assert_eq!(app.count("removed_attachments"), 2);
}

async fn file_names_that_hide_or_reorder_text_are_refused(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;

    let hidden = [
        ('\u{202A}', "left-to-right embedding"),
        ('\u{202E}', "right-to-left override"),
        ('\u{2066}', "left-to-right isolate"),
        ('\u{2069}', "pop directional isolate"),
        ('\u{200E}', "left-to-right mark"),
        ('\u{200F}', "right-to-left mark"),
        ('\u{061C}', "Arabic letter mark"),
        ('\u{200B}', "zero width space"),
        ('\u{200C}', "zero width non-joiner"),
        ('\u{200D}', "zero width joiner"),
        ('\u{2060}', "word joiner"),
        ('\u{FEFF}', "byte order mark"),
        ('\u{2028}', "line separator"),
        ('\u{2029}', "paragraph separator"),
        ('\u{00AD}', "soft hyphen"),
        ('\u{0085}', "next line"),
        ('\u{001B}', "escape"),
    ];
    for (c, what) in hidden {
        for name in [
            format!("invoice{c}gnp.png"),
            // trimmed away at the end of the name, or in a folder dropped
            format!("invoice.png{c}"),
            format!("a{c}/invoice.png"),
        ] {
            let res = named_upload(app, &monitor, &incident, &encoded(&name)).await;
            let problem = res.expect(422);
            assert_eq!(
                problem["errors"][0]["field"], "filename",
                "{what}: {problem}"
            );
        }
    }

    // Names in any script, with spaces and punctuation, are kept as sent.
    for name in ["تقرير الحادث.png", "Ámra – photo (2).png", "李.png"] {
        let stored = named_upload(app, &monitor, &incident, &encoded(name))
            .await
            .expect(201);
        assert_eq!(stored["file_name"], name);
    }
    assert_eq!(app.count("attachments"), 3, "nothing refused is stored");
}

/// Percent-encoded bytes that are not UTF-8 are refused, never read as U+FFFD.
async fn query_strings_must_be_utf8(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;

    for query in ["%FF.png", "photo%C3.png", "%ED%A0%80.png", "a+%FE"] {
        let res = named_upload(app, &monitor, &incident, query).await;
        let problem = res.expect(400);
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("query parameter `filename`") && detail.contains("UTF-8"),
            "{query}: {detail}"
        );
    }
    assert_eq!(app.count("attachments"), 0);

    // Every query string, on every route: a name or a value.
    for query in ["bbox=%FF", "%FF=1"] {
        let res = app
            .get(&format!("/api/v1/incidents?{query}"), Some(&monitor.token))
            .await;
        let detail = res.expect(400)["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains("UTF-8"), "{query}: {detail}");
    }
}

async fn pdf_annotations_lose_their_author_and_dates(backend: Backend) {
    use crate::media;
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let file = media::pdf_with_annotations();
    let needles = [
        ("author", media::ANNOTATION_AUTHOR),
        ("modification date", media::ANNOTATION_MODIFIED),
        ("creation date", media::ANNOTATION_CREATED),
        ("annotation name", "a81f-note-1"),
    ];
    for (what, needle) in needles {
        assert!(
            contains(&file, needle.as_bytes()),
            "the fixture holds the {what}"
        );
    }

    let id = uuid::Uuid::new_v4().to_string();
    let res = put(
        app,
        &monitor,
        &attachment_path(&incident, &id),
        Some("application/pdf"),
        file,
    )
    .await;
    let stored = res.expect(201);
    assert!(
        stored["removed"]
            .as_array()
            .unwrap()
            .contains(&"PDF annotation authors, dates and names (T, M, CreationDate, NM)".into()),
        "{stored}"
    );
    let clean = download(app, &monitor, &incident, &id).await;
    assert_eq!(clean.status, 200);
    for (what, needle) in needles {
        assert!(
            !contains(&clean.body, needle.as_bytes()),
            "the {what} came back"
        );
    }
    let doc = lopdf::Document::load_mem(&clean.body).expect("a valid PDF");
    assert!(
        doc.extract_text(&[1])
            .expect("text")
            .contains(media::PDF_TEXT)
    );
    assert!(
        contains(&clean.body, media::ANNOTATION_TEXT.as_bytes()),
        "the note's content is kept"
    );
    let page = doc.get_pages()[&1];
    let annots = doc
        .get_dictionary(page)
        .and_then(|p| p.get(b"Annots"))
        .and_then(lopdf::Object::as_array)
        .expect("the page keeps its notes");
    assert_eq!(annots.len(), 2);
}
