use super::media::*;
use super::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn assert_free_of(bytes: &[u8], needles: &[&[u8]]) {
    for needle in needles {
        assert!(
            !contains(bytes, needle),
            "{:?} is still in the cleaned file",
            String::from_utf8_lossy(needle)
        );
    }
}

fn unsafe_reason(result: Result<Cleaned, CleanError>) -> String {
    match result {
        Err(CleanError::Unsafe(reason)) => reason,
        other => panic!("expected Unsafe, got {other:?}"),
    }
}

const IDENTITY: &[&[u8]] = &[
    &GPS_LATITUDE,
    &GPS_LONGITUDE,
    CAMERA_MAKE.as_bytes(),
    CAMERA_SERIAL.as_bytes(),
    TAKEN_AT.as_bytes(),
    AUTHOR.as_bytes(),
    b"Exif",
    b"xpacket",
];

#[test]
fn jpeg_loses_exif_xmp_iptc_and_comment_but_keeps_scan_and_colour() {
    let original = jpeg_with_metadata();
    assert!(contains(&original, &GPS_LATITUDE) && contains(&original, CAMERA_SERIAL.as_bytes()));
    let cleaned = clean("image/jpeg", original.clone()).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Jpeg);
    assert_free_of(&cleaned.bytes, IDENTITY);
    assert_eq!(
        jpeg_scan(&cleaned.bytes),
        jpeg_scan(&original),
        "scan data changed"
    );
    assert_eq!(
        jpeg_decode(&cleaned.bytes),
        jpeg_decode(&original),
        "pixels changed"
    );
    assert_eq!(jpeg_decode(&cleaned.bytes).0, WIDTH);
    assert!(contains(&cleaned.bytes, b"JFIF\0") && contains(&cleaned.bytes, &icc_segment()));
    assert_eq!(
        cleaned.removed,
        [
            "EXIF (camera make and model, date and time, serial number, GPS position)",
            "XMP",
            "IPTC and Photoshop data (APP13)",
            "JPEG comment",
        ]
    );
    // the cleaned file is clean: a second pass removes nothing
    let again = clean("image/jpeg", cleaned.bytes.clone()).expect("cleaned again");
    assert_eq!(
        (again.bytes, again.removed),
        (cleaned.bytes, Vec::<String>::new())
    );
}

#[test]
fn jpeg_segment_between_scans_is_removed_too() {
    // an APP1 after the first scan is where a parser that stops at SOS misses it
    let mut original = jpeg_plain();
    let eoi = original.len() - 2;
    let mut exif = vec![0xFF, 0xE1];
    exif.extend_from_slice(&(exif_block().len() as u16 + 2).to_be_bytes());
    exif.extend(exif_block());
    original.splice(eoi..eoi, exif);
    let cleaned = clean("image/jpeg", original).expect("cleaned");
    assert_free_of(&cleaned.bytes, IDENTITY);
    assert_eq!(cleaned.bytes, jpeg_plain());
}

#[test]
fn jpeg_with_anything_after_its_end_is_refused() {
    for tail in [ZIP_HEAD, SCRIPT.as_bytes(), b"%PDF-1.7\n", b"\x01"] {
        let mut polyglot = jpeg_with_metadata();
        polyglot.extend_from_slice(tail);
        let reason = unsafe_reason(clean("image/jpeg", polyglot));
        assert!(
            reason.contains("after the end") || reason.contains("markup"),
            "{reason}"
        );
    }
    // zero padding after EOI, as some cameras write, is not content
    let mut padded = jpeg_plain();
    padded.extend([0u8; 16]);
    assert_eq!(
        clean("image/jpeg", padded).expect("cleaned").bytes,
        jpeg_plain()
    );
}

#[test]
fn truncated_or_malformed_jpeg_is_refused() {
    let whole = jpeg_plain();
    for cut in [3, 10, whole.len() / 2, whole.len() - 1] {
        let reason = unsafe_reason(clean("image/jpeg", whole[..cut].to_vec()));
        assert!(reason.contains("damaged"), "{cut}: {reason}");
    }
    // a segment length running past the end of the file
    let mut overlong = jpeg_plain();
    overlong[4..6].copy_from_slice(&u16::MAX.to_be_bytes());
    unsafe_reason(clean("image/jpeg", overlong));
}

#[test]
fn png_loses_text_time_and_exif_but_keeps_pixels() {
    let original = png_with_metadata();
    let cleaned = clean("image/png", original.clone()).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Png);
    assert_free_of(&cleaned.bytes, IDENTITY);
    assert_free_of(
        &cleaned.bytes,
        &[b"tEXt", b"tIME", b"eXIf", b"near the north gate"],
    );
    assert_eq!(png_decode(&cleaned.bytes), png_decode(&original));
    assert_eq!(
        cleaned.removed,
        [
            "modification time (tIME)",
            "EXIF (camera make and model, date and time, serial number, GPS position)",
            "text (Author, Comment)",
        ]
    );
}

#[test]
fn png_with_html_payload_is_refused() {
    for payload in [SCRIPT, "<html><body>hi</body></html>", "<!DOCTYPE html>"] {
        let polyglot = png_with_text(&[("Comment", payload)]);
        let reason = unsafe_reason(clean("image/png", polyglot.clone()));
        assert!(reason.contains("markup"), "{reason}");
        // declared as a page, it is a mismatch before anything else
        assert!(matches!(
            clean("text/html", polyglot),
            Err(CleanError::Mismatch {
                detected: "image/png",
                ..
            })
        ));
    }
}

#[test]
fn png_with_content_after_iend_is_refused() {
    for tail in [ZIP_HEAD, b"\0".as_slice()] {
        let mut polyglot = png_with_metadata();
        polyglot.extend_from_slice(tail);
        assert!(unsafe_reason(clean("image/png", polyglot)).contains("after its end"));
    }
}

#[test]
fn png_with_unknown_critical_chunk_is_refused() {
    let mut png = png_with_metadata();
    // rename the first IDAT: a critical chunk no decoder knows
    let at = png.windows(4).position(|w| w == b"IDAT").expect("IDAT");
    png[at..at + 4].copy_from_slice(b"IDAX");
    assert!(unsafe_reason(clean("image/png", png)).contains("critical chunk"));
}

#[test]
fn declared_type_must_match_content() {
    let jpeg = jpeg_plain();
    for declared in [
        "image/jpeg",
        "image/jpg",
        "IMAGE/JPEG; charset=binary",
        UNKNOWN_TYPE,
    ] {
        assert!(clean(declared, jpeg.clone()).is_ok(), "{declared}");
    }
    for declared in [
        "image/png",
        "text/html",
        "",
        "image/jpeg2",
        "application/pdf",
    ] {
        let err = clean(declared, jpeg.clone()).expect_err(declared);
        assert_eq!(
            err,
            CleanError::Mismatch {
                declared: declared.into(),
                detected: "image/jpeg"
            }
        );
        assert!(err.to_string().contains("image/jpeg"));
    }
}

#[test]
fn other_kinds_are_unsupported() {
    let gif = b"GIF89a\x01\0\x01\0\0\0\0;".to_vec();
    assert_eq!(
        clean("image/gif", gif),
        Err(CleanError::Unsupported {
            detected: Some("image/gif".into())
        })
    );
    for unknown in [Vec::new(), b"hello".to_vec(), vec![0; 4096]] {
        let err = clean("image/jpeg", unknown).expect_err("unknown");
        assert_eq!(err, CleanError::Unsupported { detected: None });
        assert!(err.to_string().contains("could not be recognised"));
    }
    assert_eq!(
        clean("image/png", SCRIPT.as_bytes().to_vec()),
        Err(CleanError::Unsupported {
            detected: Some("text/html".into())
        })
    );
    let zip = [ZIP_HEAD, &[0; 32]].concat();
    assert!(matches!(
        clean(UNKNOWN_TYPE, zip),
        Err(CleanError::Unsupported { detected: Some(_) })
    ));
}

#[test]
fn markup_is_found_only_as_a_tag() {
    assert_eq!(find_markup(b"xx<SCRIPT>"), Some(&b"<script"[..]));
    assert_eq!(find_markup(b"<html lang=en>"), Some(&b"<html"[..]));
    assert_eq!(
        find_markup(b"JavaScript:alert(1)"),
        Some(&b"javascript:"[..])
    );
    assert_eq!(find_markup(b"<scripted <htmlx <html"), None);
}
