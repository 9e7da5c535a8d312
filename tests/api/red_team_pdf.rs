//! Red-team findings on the PDF cleaner (issue 13): a decompression bomb,
//! active content behind indirect references, and metadata that survived
//! (an information dictionary referenced from the catalog, XMP under another
//! key, a JPEG whose filter is a reference, an annotation known by its subtype).

use basewatch::domain::Role;

use crate::attachments::{attachment_path, contains, download, draft, put};
use crate::helpers::{Backend, TestApp, TestUser};
use crate::incidents::world;
use crate::media;
use crate::media::{raw_pdf, simple_pdf};

crate::scenarios![
    pdf_decompression_bomb_is_refused_and_not_stored,
    pdf_active_content_by_reference_is_refused,
    pdf_metadata_by_reference_is_removed,
];

async fn upload(
    app: &TestApp,
    user: &TestUser,
    incident: &str,
    file: Vec<u8>,
) -> (String, crate::helpers::Response) {
    let id = uuid::Uuid::new_v4().to_string();
    let res = put(
        app,
        user,
        &attachment_path(incident, &id),
        Some("application/pdf"),
        file,
    )
    .await;
    (id, res)
}

async fn pdf_decompression_bomb_is_refused_and_not_stored(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let (_, res) = upload(app, &monitor, &incident, media::pdf_bomb()).await;
    let body = res.expect(422);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("decompression bomb"),
        "{body}"
    );
    assert_eq!(app.count("attachments"), 0);
}

async fn pdf_active_content_by_reference_is_refused(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    for (catalog, object) in [
        ("/OpenAction << /S 4 0 R /F (calc.exe) >>", &b"/Launch"[..]),
        (
            "/OpenAction << /S 4 0 R /F (http://example.org/f) >>",
            b"/SubmitForm",
        ),
        (
            "/OpenAction << /S 4 0 R /F (x.pdf) /D [0 /Fit] >>",
            b"/GoToR",
        ),
        (
            "/OpenAction << /S /URI /URI (https://example.org/beacon) >>",
            b"null",
        ),
        (
            "/OpenAction << /S /URI /URI (JavaScript:app.alert(1)) >>",
            b"null",
        ),
    ] {
        let (_, res) = upload(app, &monitor, &incident, simple_pdf(catalog, "", &[object])).await;
        let body = res.expect(422);
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("could run or open"),
            "{catalog}: {body}"
        );
    }
    assert_eq!(app.count("attachments"), 0);
}

async fn pdf_metadata_by_reference_is_removed(backend: Backend) {
    let w = world(backend).await;
    let app = &w.app;
    let monitor = app.seed_user(Role::Monitor);
    let incident = draft(app, &monitor, &w.mission).await;
    let jpeg = media::jpeg_with_metadata();
    let mut image = format!(
        "<< /Type /XObject /Subtype /Image /Width 16 /Height 16 /ColorSpace /DeviceGray \
         /BitsPerComponent 8 /Filter [8 0 R] /Length {} >>\nstream\n",
        jpeg.len()
    )
    .into_bytes();
    image.extend_from_slice(&jpeg);
    image.extend_from_slice(b"\nendstream");
    let file = raw_pdf(
        &[
            b"<< /Type /Catalog /Pages 2 0 R /Foo 4 0 R /Meta 5 0 R /X 6 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] \
              /Resources << /XObject << /Im1 7 0 R >> >> >>",
            b"<< /Author (Amira Haddad) /Producer (X) >>",
            b"<< /Type /Metadata /Subtype /XML /Length 30 >>\nstream\n<dc:creator>Amira H</dc:creator>\nendstream",
            b"<< /Subtype /Text /Rect [0 0 10 10] /T (Amira Haddad) /Contents (see the bar) >>",
            &image,
            b"/DCTDecode",
        ],
        "/Info 4 0 R",
    );
    let gps = media::GPS_LATITUDE;
    assert!(contains(&file, b"Amira") && contains(&file, &gps));
    let (id, res) = upload(app, &monitor, &incident, file).await;
    let stored = res.expect(201);
    let removed = stored["removed"].as_array().unwrap();
    for what in ["XMP", "PDF document information (Author, Producer)"] {
        assert!(removed.contains(&what.into()), "{what}: {stored}");
    }
    let clean = download(app, &monitor, &incident, &id).await;
    assert_eq!(clean.status, 200);
    assert!(!contains(&clean.body, b"Amira"), "a name came back");
    assert!(
        !contains(&clean.body, &gps),
        "the picture's position came back"
    );
    assert!(
        contains(&clean.body, b"see the bar"),
        "the note's content is kept"
    );
    assert!(
        contains(&clean.body, media::jpeg_scan(&jpeg)),
        "the picture is kept"
    );
    assert_eq!(app.count("attachments"), 1);
}
