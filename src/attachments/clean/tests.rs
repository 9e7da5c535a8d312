use super::media::*;
use super::*;
use lofty::file::{AudioFile, TaggedFileExt};

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

/// Reads a recording with `lofty`, as a player would.
fn audio_read(bytes: &[u8]) -> lofty::file::TaggedFile {
    lofty::probe::Probe::new(std::io::Cursor::new(bytes))
        .guess_file_type()
        .expect("a recording")
        .read()
        .expect("lofty reads the cleaned recording")
}

fn unsafe_reason(result: Result<Cleaned, CleanError>) -> String {
    match result {
        Err(CleanError::Unsafe(reason)) => reason,
        Ok(cleaned) => panic!(
            "expected Unsafe, got a cleaned file of {} bytes, removed {:?}",
            cleaned.bytes.len(),
            cleaned.removed
        ),
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

#[test]
fn webp_loses_exif_and_xmp_keeps_pixels_and_icc_and_fixes_header() {
    let original = webp_with_metadata();
    assert!(contains(&original, &GPS_LATITUDE));
    let cleaned = clean("image/webp", original.clone()).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Webp);
    assert_free_of(&cleaned.bytes, IDENTITY);
    let (width, height, pixels, exif) = webp_decode(&cleaned.bytes);
    let before = webp_decode(&original);
    assert!(before.3 && !exif, "the VP8X flags still announce EXIF");
    assert_eq!((width, height, pixels), (before.0, before.1, before.2));
    assert!(contains(&cleaned.bytes, b"ICCP"));
    let riff_size = u32::from_le_bytes(cleaned.bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff_size + 8, cleaned.bytes.len());
    assert_eq!(cleaned.removed[1], "XMP");
    assert!(cleaned.removed[0].starts_with("EXIF (camera make"));
}

#[test]
fn webp_with_appended_file_is_refused() {
    let mut polyglot = webp_with_metadata();
    polyglot.extend_from_slice(ZIP_HEAD);
    assert!(unsafe_reason(clean("image/webp", polyglot)).contains("after its end"));
}

#[test]
fn wav_loses_info_keeps_samples() {
    let cleaned = clean("audio/x-wav", wav_with_info()).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Wav);
    assert_free_of(
        &cleaned.bytes,
        &[AUTHOR.as_bytes(), b"LIST", b"INFO", b"north gate"],
    );
    assert!(contains(&cleaned.bytes, &wav_samples()));
    assert_eq!(cleaned.removed, ["RIFF INFO tags (INAM, IART, ICMT)"]);
    let tagged = audio_read(&cleaned.bytes);
    assert_eq!(tagged.properties().sample_rate(), Some(8000));
    assert_eq!(
        u32::from_le_bytes(cleaned.bytes[4..8].try_into().unwrap()) as usize + 8,
        cleaned.bytes.len()
    );
}

#[test]
fn mp3_loses_id3v2_and_id3v1_keeps_frames() {
    let cleaned = clean("audio/mpeg", mp3_with_tags()).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Mp3);
    assert_eq!(cleaned.bytes, mp3_frames(), "the audio frames changed");
    assert_eq!(
        cleaned.removed,
        ["ID3v2 tags (TIT2, TPE1, COMM)", "ID3v1 tags"]
    );
    let tagged = audio_read(&cleaned.bytes);
    assert!(tagged.tags().is_empty());
    assert_eq!(tagged.properties().sample_rate(), Some(44_100));
    // the frames alone are clean already
    assert!(
        clean("audio/mp3", mp3_frames())
            .expect("cleaned")
            .removed
            .is_empty()
    );
}

#[test]
fn mp3_with_data_between_or_after_frames_is_refused() {
    let mut appended = mp3_with_tags();
    let at = appended.len() - 128;
    appended.splice(at..at, ZIP_HEAD.iter().copied());
    assert!(unsafe_reason(clean("audio/mpeg", appended)).contains("damaged"));
    let mut cut = mp3_frames();
    cut.truncate(cut.len() - 1);
    unsafe_reason(clean("audio/mpeg", cut));
}

/// Cleans in a thread of its own: a cleaner that never ends fails the test
/// (after 10 s) instead of hanging the run.
fn clean_in_time(declared: &'static str, data: Vec<u8>) -> Result<Cleaned, CleanError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(clean(declared, data)));
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the cleaner did not finish in 10 s")
}

#[test]
fn mp3_with_an_ape_footer_of_size_zero_is_refused_not_looped_on() {
    let mut file = mp3_frames();
    file.extend_from_slice(b"APETAGEX");
    file.extend_from_slice(&2000u32.to_le_bytes());
    file.extend_from_slice(&[0; 20]); // size 0, no items, no flags
    assert!(unsafe_reason(clean_in_time("audio/mpeg", file)).contains("damaged"));
}

#[test]
fn thousands_of_text_chunks_are_described_in_one_short_line() {
    let keywords: Vec<(String, String)> = (0..5_000)
        .map(|i| (format!("k{i}"), "x".to_owned()))
        .collect();
    let texts: Vec<(&str, &str)> = keywords
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let cleaned = clean_in_time("image/png", png_with_text(&texts)).expect("cleaned");
    let text = cleaned
        .removed
        .iter()
        .find(|what| what.starts_with("text ("))
        .expect("the text chunks are named");
    assert!(text.starts_with("text (k0, k1, k2,"), "{text}");
    assert!(text.ends_with(" and 4984 more)"), "{text}");
    assert!(cleaned.removed.len() <= 33);
}

#[test]
fn jpeg_loses_its_thumbnail_and_refuses_segments_a_decoder_skips() {
    let original = jpeg_with_metadata();
    // A JFXX thumbnail after the JFIF segment: another picture, with its own EXIF.
    let mut thumbnail = b"JFXX\x00\x10".to_vec();
    thumbnail.extend_from_slice(&exif_block());
    let mut with_thumbnail = original[..2].to_vec();
    with_thumbnail.extend_from_slice(&[0xFF, 0xE0]);
    with_thumbnail.extend_from_slice(&(thumbnail.len() as u16 + 2).to_be_bytes());
    with_thumbnail.extend_from_slice(&thumbnail);
    with_thumbnail.extend_from_slice(&original[2..]);
    let cleaned = clean("image/jpeg", with_thumbnail).expect("cleaned");
    assert!(cleaned.removed.contains(&"thumbnail (JFXX)".to_owned()));
    assert_free_of(&cleaned.bytes, &[b"JFXX", &GPS_LATITUDE]);
    // JPG (C8) holds bytes no decoder reads: refused, not carried along.
    let mut smuggled = original[..2].to_vec();
    smuggled.extend_from_slice(&[0xFF, 0xC8, 0x00, 0x07]);
    smuggled.extend_from_slice(b"hello");
    smuggled.extend_from_slice(&original[2..]);
    assert!(unsafe_reason(clean("image/jpeg", smuggled)).contains("unusual structure"));
}

#[test]
fn ogg_loses_comments_keeps_vendor_and_packets() {
    let original = ogg_with_comments();
    let cleaned = clean("audio/ogg", original).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Ogg);
    assert_free_of(
        &cleaned.bytes,
        &[AUTHOR.as_bytes(), b"north gate", b"Statement"],
    );
    assert!(
        contains(&cleaned.bytes, b"libopus 1.4"),
        "the vendor string is required"
    );
    for packet in opus_packets() {
        assert!(contains(&cleaned.bytes, &packet), "an audio packet changed");
    }
    assert_eq!(cleaned.removed.len(), 1);
    assert_eq!(
        cleaned.removed,
        ["Vorbis comments (ARTIST, TITLE, LOCATION)"]
    );
    let tagged = audio_read(&cleaned.bytes);
    // what remains is the vendor string, which Opus requires
    let items: Vec<_> = tagged.tags().iter().flat_map(|tag| tag.items()).collect();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].value().text(), Some("libopus 1.4"));
    assert_eq!(
        clean("audio/opus", cleaned.bytes.clone())
            .expect("again")
            .removed,
        Vec::<String>::new()
    );
}

#[test]
fn ogg_with_appended_file_is_refused() {
    let mut polyglot = ogg_with_comments();
    polyglot.extend_from_slice(ZIP_HEAD);
    assert!(unsafe_reason(clean("audio/ogg", polyglot)).contains("after its end"));
}

#[test]
fn m4a_loses_tags_location_and_times_keeps_samples() {
    let original = m4a_with_tags();
    let cleaned = clean("audio/mp4", original.clone()).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::M4a);
    assert_eq!(cleaned.bytes.len(), original.len(), "boxes must not move");
    assert_free_of(
        &cleaned.bytes,
        &[
            AUTHOR.as_bytes(),
            b"Statement",
            b"+42.6578",
            b"ilst",
            &MP4_TIME.to_be_bytes(),
        ],
    );
    assert!(contains(&cleaned.bytes, &m4a_samples().concat()));
    assert_eq!(
        cleaned.removed,
        [
            "creation and modification times",
            "iTunes tags (\u{a9}nam, \u{a9}ART, \u{a9}day)",
            "recording location (\u{a9}xyz)",
        ]
    );
    let tagged = audio_read(&cleaned.bytes);
    assert!(
        tagged
            .tags()
            .iter()
            .all(|tag| tag.item_count() == 0 && tag.picture_count() == 0)
    );
    assert_eq!(tagged.properties().sample_rate(), Some(44_100));
}

#[test]
fn mp4_brand_with_only_sound_is_m4a_and_with_video_unsupported() {
    let recorder = mp4_with_tags(b"mp42", b"soun");
    assert_eq!(
        infer::get(&recorder).map(|t| t.mime_type()),
        Some("video/mp4")
    );
    let cleaned = clean("audio/mp4", recorder).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::M4a);
    assert_free_of(&cleaned.bytes, &[AUTHOR.as_bytes()]);
    assert_eq!(
        clean("audio/mp4", mp4_with_tags(b"isom", b"vide")),
        Err(CleanError::Unsupported {
            detected: Some("video/mp4".into())
        })
    );
}

#[test]
fn m4a_with_appended_data_is_refused() {
    let mut polyglot = m4a_with_tags();
    polyglot.extend_from_slice(ZIP_HEAD);
    unsafe_reason(clean("audio/x-m4a", polyglot));
}

#[test]
fn pdf_loses_information_xmp_and_id_keeps_text() {
    let original = pdf_with_metadata();
    assert!(contains(&original, AUTHOR.as_bytes()));
    let cleaned = clean("application/pdf", original).expect("cleaned");
    assert_eq!(cleaned.kind, Kind::Pdf);
    assert_free_of(
        &cleaned.bytes,
        &[
            AUTHOR.as_bytes(),
            b"xpacket",
            b"Microsoft",
            b"Acrobat",
            b"/ID",
        ],
    );
    let doc = lopdf::Document::load_mem(&cleaned.bytes).expect("a valid PDF");
    assert!(doc.extract_text(&[1]).expect("text").contains(PDF_TEXT));
    assert_eq!(
        cleaned.removed,
        [
            "XMP",
            "PDF document information (Author, Creator, Producer, CreationDate)",
            "file identifier"
        ]
    );
    let again = clean("application/pdf", cleaned.bytes).expect("again");
    assert_eq!(again.removed, Vec::<String>::new());
}

#[test]
fn pdf_with_active_content_is_refused() {
    use lopdf::{Object, dictionary};
    let js = dictionary! { "S" => "JavaScript", "JS" => Object::string_literal("app.alert(1)") };
    let launch = dictionary! { "S" => "Launch", "F" => Object::string_literal("cmd.exe") };
    let files = dictionary! { "EmbeddedFiles" => dictionary! { "Names" => vec![] } };
    for (key, value) in [
        ("OpenAction", Object::Dictionary(js)),
        ("OpenAction", Object::Dictionary(launch)),
        ("Names", Object::Dictionary(files)),
        ("AA", Object::Dictionary(dictionary! {})),
    ] {
        let reason = unsafe_reason(clean("application/pdf", pdf_with_catalog_entry(key, value)));
        assert!(reason.contains("could run or open"), "{key}: {reason}");
    }
    // opening at a page is what ordinary documents do
    let goto = Object::Array(vec![Object::Reference((1, 0)), "Fit".into()]);
    clean(
        "application/pdf",
        pdf_with_catalog_entry("OpenAction", goto),
    )
    .expect("a plain OpenAction");
}

#[test]
fn pdf_appended_or_encrypted_is_refused() {
    let mut appended = pdf_with_metadata();
    appended.extend_from_slice(ZIP_HEAD);
    assert!(unsafe_reason(clean("application/pdf", appended)).contains("after its end"));

    let mut doc = pdf_document();
    let version = lopdf::EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password: "",
        key_length: 128,
        permissions: lopdf::Permissions::all(),
    };
    let state = lopdf::EncryptionState::try_from(version).expect("a state");
    doc.encrypt(&state).expect("encrypted");
    let reason = unsafe_reason(clean("application/pdf", pdf_bytes(&mut doc)));
    assert!(reason.contains("encrypted"), "{reason}");
}

#[test]
fn pdf_embedded_jpeg_loses_its_exif() {
    use lopdf::{Object, Stream, dictionary};
    let mut doc = pdf_document();
    let image = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => 16, "Height" => 16,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
        },
        jpeg_with_metadata(),
    ));
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .unwrap();
    doc.get_dictionary_mut(root).unwrap().set("Thumb", image);
    let cleaned = clean("application/pdf", pdf_bytes(&mut doc)).expect("cleaned");
    assert_free_of(&cleaned.bytes, IDENTITY);
    assert!(contains(&cleaned.bytes, jpeg_scan(&jpeg_with_metadata())));
    assert!(
        cleaned
            .removed
            .iter()
            .any(|r| r.starts_with("EXIF (") && r.ends_with("in an embedded picture"))
    );
}

#[test]
fn pdf_with_object_streams_loses_information_inside_them() {
    // modern writers put the information dictionary into a compressed object
    // stream; the stream itself must not survive the rewrite
    let mut doc = pdf_document();
    let mut packed = Vec::new();
    doc.save_modern(&mut packed)
        .expect("a PDF with object streams");
    assert!(contains(&packed, b"/ObjStm"));
    let cleaned = clean("application/pdf", packed).expect("cleaned");
    let mut reread = lopdf::Document::load_mem(&cleaned.bytes).expect("a valid PDF");
    reread.decompress();
    let plain = pdf_bytes(&mut reread);
    assert_free_of(
        &plain,
        &[AUTHOR.as_bytes(), b"xpacket", b"Microsoft", b"/ObjStm"],
    );
    assert!(reread.extract_text(&[1]).expect("text").contains(PDF_TEXT));
}

#[test]
fn pdf_annotations_lose_author_dates_and_names_keep_content() {
    use lopdf::{Object, dictionary};
    let original = pdf_with_annotations();
    let mut doc = lopdf::Document::load_mem(&original).expect("the fixture");
    let page = doc.get_pages()[&1];
    // A form field's widget, written in place in the page's /Annots: its /T
    // is the field's name and stays; its date goes.
    let widget = dictionary! {
        "Subtype" => "Widget", "FT" => "Tx",
        "Rect" => vec![72.into(), 600.into(), 200.into(), 620.into()],
        "T" => Object::string_literal("passport_number"),
        "M" => Object::string_literal(ANNOTATION_MODIFIED),
    };
    let page_dict = doc.get_dictionary_mut(page).expect("the page");
    let mut annots = page_dict
        .get(b"Annots")
        .and_then(Object::as_array)
        .expect("annotations")
        .clone();
    annots.push(Object::Dictionary(widget));
    page_dict.set("Annots", annots);
    let cleaned = clean("application/pdf", pdf_bytes(&mut doc)).expect("cleaned");
    assert_free_of(
        &cleaned.bytes,
        &[
            ANNOTATION_AUTHOR.as_bytes(),
            ANNOTATION_MODIFIED.as_bytes(),
            ANNOTATION_CREATED.as_bytes(),
            b"a81f-note-1",
        ],
    );
    assert!(contains(&cleaned.bytes, ANNOTATION_TEXT.as_bytes()));
    assert!(contains(&cleaned.bytes, b"passport_number"));
    assert!(
        cleaned
            .removed
            .contains(&"PDF annotation authors, dates and names (T, M, CreationDate, NM)".into()),
        "{:?}",
        cleaned.removed
    );
    let doc = lopdf::Document::load_mem(&cleaned.bytes).expect("a valid PDF");
    assert!(doc.extract_text(&[1]).expect("text").contains(PDF_TEXT));
    let again = clean("application/pdf", cleaned.bytes).expect("again");
    assert_eq!(again.removed, Vec::<String>::new());
}

// ---- red-team findings on PDFs (issue 13)

/// An image stream object with `filter` as its `/Filter` and `data` inside.
fn image_object(filter: &str, data: &[u8]) -> Vec<u8> {
    let mut object = format!(
        "<< /Type /XObject /Subtype /Image /Width 16 /Height 16 /ColorSpace /DeviceGray \
         /BitsPerComponent 8 /Filter {filter} /Length {} >>\nstream\n",
        data.len()
    )
    .into_bytes();
    object.extend_from_slice(data);
    object.extend_from_slice(b"\nendstream");
    object
}

#[test]
fn pdf_decompression_bomb_is_refused() {
    let reason = unsafe_reason(clean("application/pdf", pdf_bomb()));
    assert!(reason.contains("decompress"), "{reason}");
}

#[test]
fn pdf_with_too_many_objects_is_refused() {
    // no stream over the bound, but millions of objects once parsed
    let mut doc = pdf_document();
    let mut arrays = Vec::new();
    for _ in 0..20 {
        arrays.push(
            doc.add_object(lopdf::Object::Array(vec![0.into(); 100_000]))
                .into(),
        );
    }
    pdf_catalog(&mut doc).set("Big", arrays);
    let reason = unsafe_reason(clean("application/pdf", pdf_bytes(&mut doc)));
    assert!(reason.contains("too many"), "{reason}");
}

#[test]
fn pdf_cleaned_streams_are_compressed() {
    let mut doc = pdf_document();
    let text = lopdf::Stream::new(lopdf::dictionary! {}, b"0 0 m ".repeat(20_000));
    let id = doc.add_object(text);
    pdf_catalog(&mut doc).set("Big", id);
    let cleaned = clean("application/pdf", pdf_bytes(&mut doc)).expect("cleaned");
    assert!(cleaned.bytes.len() < 20_000, "{}", cleaned.bytes.len());
    let doc = lopdf::Document::load_mem(&cleaned.bytes).expect("a valid PDF");
    assert!(doc.extract_text(&[1]).expect("text").contains(PDF_TEXT));
}

#[test]
fn pdf_active_actions_by_reference_are_refused() {
    for (action, object) in [
        ("/S 4 0 R /F (calc.exe)", &b"/Launch"[..]),
        ("/S 4 0 R /F (http://example.org/form)", b"/SubmitForm"),
        ("/S 4 0 R /F (x.pdf) /D [0 /Fit]", b"/GoToR"),
        ("/S 4 0 R /JS (app.alert(1))", b"/JavaScript"),
        ("/S /GoTo#52 /F (x.pdf) /D [0 /Fit]", b"null"),
    ] {
        let pdf = simple_pdf(&format!("/OpenAction << {action} >>"), "", &[object]);
        let reason = unsafe_reason(clean("application/pdf", pdf));
        assert!(reason.contains("could run or open"), "{action}: {reason}");
    }
}

#[test]
fn pdf_uri_opened_without_a_click_or_to_a_script_is_refused() {
    for (catalog, page) in [
        (
            "/OpenAction << /S /URI /URI (https://example.org/beacon) >>",
            "",
        ),
        (
            "/OpenAction << /S 4 0 R /URI (https://example.org/beacon) >>",
            "",
        ),
        ("/OpenAction 5 0 R", ""),
        (
            "/OpenAction << /S /GoTo /D [3 0 R /Fit] /Next << /S /URI /URI (https://example.org/b) >> >>",
            "",
        ),
        (
            "",
            "/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (javascript:app.alert(1)) >> >>]",
        ),
        (
            "",
            "/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI ( Java\tScript:x) >> >>]",
        ),
        (
            "",
            "/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (DATA:text/html,x) >> >>]",
        ),
        (
            "",
            "/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (file:///etc/passwd) >> >>]",
        ),
        (
            "",
            "/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI 6 0 R >> >>]",
        ),
    ] {
        let pdf = simple_pdf(
            catalog,
            page,
            &[
                b"/URI",
                b"<< /S /URI /URI (https://example.org/beacon) >>",
                b"(javascript:x)",
            ],
        );
        let reason = unsafe_reason(clean("application/pdf", pdf));
        assert!(
            reason.contains("could run or open"),
            "{catalog}{page}: {reason}"
        );
    }
    // a link the reader clicks stays
    let link = "/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://example.org/) >> >>]";
    let cleaned = clean("application/pdf", simple_pdf("", link, &[])).expect("a plain link");
    assert!(contains(&cleaned.bytes, b"https://example.org/"));
}

#[test]
fn pdf_jpeg_with_filter_by_reference_loses_its_exif() {
    let jpeg = jpeg_with_metadata();
    for filter in ["6 0 R", "[6 0 R]", "5 0 R"] {
        let image = image_object(filter, &jpeg);
        let pdf = simple_pdf(
            "",
            "/Resources << /XObject << /Im1 4 0 R >> >>",
            &[&image, b"[/DCTDecode]", b"/DCTDecode"],
        );
        let cleaned = clean("application/pdf", pdf).expect("cleaned");
        assert_free_of(&cleaned.bytes, IDENTITY);
        assert!(contains(&cleaned.bytes, jpeg_scan(&jpeg)), "{filter}");
    }
    // a filter that cannot be read: refused rather than kept as it is
    let image = image_object("[6 0 R]", &jpeg);
    let pdf = simple_pdf("/Image 4 0 R", "", &[&image, b"null", b"(DCTDecode)"]);
    let reason = unsafe_reason(clean("application/pdf", pdf));
    assert!(reason.contains("filter"), "{reason}");
}

#[test]
fn pdf_jpeg_2000_and_inline_jpeg_are_refused() {
    let jpx = image_object("/JPXDecode", b"\0\0\0\x0cjP  \r\n\x87\n");
    let pdf = simple_pdf("/Image 4 0 R", "", &[&jpx]);
    assert!(unsafe_reason(clean("application/pdf", pdf)).contains("JPEG 2000"));
    for dict in [
        "/W 16 /H 16 /CS /G /BPC 8 /F /DCT",
        "/W 16 /H 16 /CS /G /BPC 8 /Filter [/DCTDecode]",
    ] {
        let mut content = format!("q 16 0 0 16 0 0 cm BI {dict} ID ").into_bytes();
        content.extend_from_slice(&jpeg_with_metadata());
        content.extend_from_slice(b" EI Q");
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(&content);
        stream.extend_from_slice(b"\nendstream");
        let pdf = simple_pdf("", "/Contents 4 0 R", &[&stream]);
        let reason = unsafe_reason(clean("application/pdf", pdf));
        assert!(reason.contains("inline"), "{dict}: {reason}");
    }
}

#[test]
fn pdf_information_and_xmp_referenced_elsewhere_are_removed() {
    let pdf = raw_pdf(
        &[
            b"<< /Type /Catalog /Pages 2 0 R /Foo 4 0 R /Meta 5 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
            b"<< /Author (Amira Haddad) /Producer (X) >>",
            b"<< /Type /Metadata /Subtype /XML /Length 30 >>\nstream\n<dc:creator>Amira H</dc:creator>\nendstream",
        ],
        "/Info 4 0 R",
    );
    let cleaned = clean("application/pdf", pdf).expect("cleaned");
    assert_free_of(&cleaned.bytes, &[b"Amira"]);
    assert!(
        cleaned.removed.contains(&"XMP".into()),
        "{:?}",
        cleaned.removed
    );
    assert!(
        cleaned
            .removed
            .contains(&"PDF document information (Author, Producer)".into()),
        "{:?}",
        cleaned.removed
    );
}

#[test]
fn pdf_annotation_not_listed_and_without_type_loses_its_author() {
    let pdf = simple_pdf(
        "/X 4 0 R",
        "",
        &[b"<< /Subtype /Text /Rect [0 0 10 10] /T (Amira Haddad) /Contents (hi) >>"],
    );
    let cleaned = clean("application/pdf", pdf).expect("cleaned");
    assert_free_of(&cleaned.bytes, &[b"Amira"]);
    assert!(contains(&cleaned.bytes, b"(hi)"));
}
