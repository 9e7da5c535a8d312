//! PDF: the document is read by `lopdf` and written anew from its objects, so
//! earlier revisions, unreferenced objects and bytes between objects are not
//! carried over. Refused first: encryption (its content cannot be checked),
//! signatures (they name the signer and break when anything changes), active
//! content (JavaScript, launch, form submission, remote go-to, media) and
//! embedded files. Removed: the document information dictionary, the file
//! identifier, every `/Metadata` XMP stream (catalog, pages, images, fonts),
//! application private data, the EXIF of embedded JPEG pictures, and the
//! author, dates and name of every annotation. Text, fonts, images, links and
//! what annotations say are kept.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use super::{CleanError, Removed, described, jpeg};

/// Keys that hold scripts, actions run without a click, or embedded files.
const ACTIVE_KEYS: &[&[u8]] = &[
    b"JS",
    b"JavaScript",
    b"AA",
    b"EF",
    b"EmbeddedFile",
    b"EmbeddedFiles",
    b"RichMedia",
    b"XFA",
];
/// Action types (`/S`) that run code, open other files, or send data away.
/// `GoTo` (a page of this document) and `URI` (a link the reader clicks) are
/// what ordinary documents use and are kept.
const ACTIVE_ACTIONS: &[&[u8]] = &[
    b"JavaScript",
    b"Launch",
    b"SubmitForm",
    b"ImportData",
    b"GoToR",
    b"GoToE",
    b"Rendition",
    b"Sound",
    b"Movie",
    b"RichMediaExecute",
];
/// Keys of private or identifying data, removed wherever they are.
const METADATA_KEYS: &[(&[u8], &str)] = &[
    (b"Metadata", "XMP"),
    (b"PieceInfo", "application private data (PieceInfo)"),
    (b"LastModified", "modification time"),
];
/// Keys of an annotation that say who wrote it (`/T`, the author of a note or
/// highlight), when (`/M`, `/CreationDate`), and a name the program made for
/// it (`/NM`, often the same across a person's documents). A form field's
/// widget keeps its `/T`: there it is the field's name.
const ANNOTATION_KEYS: &[&[u8]] = &[b"T", b"M", b"CreationDate", b"NM"];

pub(super) fn clean(data: &[u8], removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    refuse_trailing(data)?;
    let options = LoadOptions {
        password: None,
        ..LoadOptions::default()
    };
    let mut doc =
        Document::load_mem_with_options(data, options).map_err(|_| CleanError::damaged("PDF"))?;
    if doc.is_encrypted() || doc.was_encrypted() {
        return Err(CleanError::unsafe_(
            "the PDF is encrypted or password-protected, so it cannot be checked and cleaned; \
             save it without protection and attach it again",
        ));
    }
    if doc.get_pages().is_empty() {
        return Err(CleanError::damaged("PDF"));
    }
    // object streams and cross-reference streams were unpacked when loading;
    // left in, they would carry the old objects (the information dictionary too)
    doc.objects.retain(|_, object| {
        !object.as_stream().is_ok_and(|s| {
            matches!(s.dict.get(b"Type"), Ok(Object::Name(n)) if n == b"ObjStm" || n == b"XRef")
        })
    });
    for object in doc.objects.values_mut() {
        inspect(object, removed)?;
    }
    scrub_annotations(&mut doc, removed);
    if let Ok(info) = doc.trailer.get(b"Info").cloned() {
        let dict = match info {
            Object::Reference(id) => doc.get_dictionary(id).ok().cloned(),
            Object::Dictionary(dict) => Some(dict),
            _ => None,
        };
        let keys: Vec<String> = dict
            .iter()
            .flat_map(Dictionary::iter)
            .map(|(key, _)| String::from_utf8_lossy(key).into_owned())
            .collect();
        removed.add(described("PDF document information", &keys));
        doc.trailer.remove(b"Info");
    }
    if doc.trailer.remove(b"ID").is_some() {
        removed.add("file identifier");
    }
    doc.prune_objects();
    let mut out = Vec::with_capacity(data.len());
    doc.save_to(&mut out)
        .map_err(|_| CleanError::damaged("PDF"))?;
    Ok(out)
}

/// Removes `ANNOTATION_KEYS` from every annotation: a dictionary with
/// `/Type /Annot`, or listed in a page's `/Annots` (where `/Type` is optional).
fn scrub_annotations(doc: &mut Document, removed: &mut Removed) {
    let mut listed: HashSet<ObjectId> = HashSet::new();
    for page in doc.get_pages().into_values() {
        let annots = match doc.get_dictionary(page).and_then(|p| p.get(b"Annots")) {
            Ok(Object::Reference(id)) => doc.get_object(*id).ok(),
            Ok(annots) => Some(annots),
            Err(_) => None,
        };
        if let Some(Object::Array(items)) = annots {
            listed.extend(items.iter().filter_map(|item| item.as_reference().ok()));
        }
    }
    let mut found = [false; ANNOTATION_KEYS.len()];
    for (id, object) in &mut doc.objects {
        scrub_object(object, listed.contains(id), &mut found);
    }
    let keys: Vec<String> = ANNOTATION_KEYS
        .iter()
        .zip(found)
        .filter(|(_, found)| *found)
        .map(|(key, _)| String::from_utf8_lossy(key).into_owned())
        .collect();
    if !keys.is_empty() {
        removed.add(described("PDF annotation authors, dates and names", &keys));
    }
}

/// `annotation`: the object is known to be one (listed in a page's `/Annots`).
fn scrub_object(object: &mut Object, annotation: bool, found: &mut [bool]) {
    match object {
        Object::Dictionary(dict) => scrub_dict(dict, annotation, found),
        Object::Stream(stream) => scrub_dict(&mut stream.dict, false, found),
        Object::Array(items) => {
            for item in items {
                scrub_object(item, false, found);
            }
        }
        _ => {}
    }
}

fn scrub_dict(dict: &mut Dictionary, annotation: bool, found: &mut [bool]) {
    let name = |key: &[u8]| match dict.get(key) {
        Ok(Object::Name(name)) => Some(name.clone()),
        _ => None,
    };
    if annotation || name(b"Type").as_deref() == Some(b"Annot") {
        let field = name(b"Subtype").as_deref() == Some(b"Widget") || dict.has(b"FT");
        for (key, found) in ANNOTATION_KEYS.iter().zip(found.iter_mut()) {
            if !(field && *key == b"T") && dict.remove(key).is_some() {
                *found = true;
            }
        }
    }
    for (key, value) in dict.iter_mut() {
        match value {
            // A page's annotations written in place rather than referred to.
            Object::Array(items) if key.as_slice() == b"Annots" => {
                for item in items {
                    scrub_object(item, true, found);
                }
            }
            _ => scrub_object(value, false, found),
        }
    }
}

/// Anything after the last `%%EOF` but white space is another file.
fn refuse_trailing(data: &[u8]) -> Result<(), CleanError> {
    let end = data
        .windows(5)
        .rposition(|w| w == b"%%EOF")
        .ok_or_else(|| CleanError::damaged("PDF"))?;
    if data[end + 5..].iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        Err(CleanError::unsafe_(
            "the PDF has content after its end (another file appended to it); it was not stored",
        ))
    }
}

/// Refuses active content and removes metadata in one object, nested
/// dictionaries and arrays included.
fn inspect(object: &mut Object, removed: &mut Removed) -> Result<(), CleanError> {
    match object {
        Object::Array(items) => items.iter_mut().try_for_each(|item| inspect(item, removed)),
        Object::Dictionary(dict) => inspect_dict(dict, removed),
        Object::Stream(stream) => {
            inspect_dict(&mut stream.dict, removed)?;
            let filters = stream.filters().unwrap_or_default();
            if filters.contains(&&b"DCTDecode"[..]) {
                if filters.len() > 1 {
                    return Err(CleanError::unsafe_(
                        "the PDF holds a picture in a form that cannot be cleaned safely",
                    ));
                }
                let mut picture = Removed::default();
                let cleaned = jpeg::clean(&stream.content, &mut picture)?;
                for what in picture.0 {
                    removed.add(format!("{what} in an embedded picture"));
                }
                stream.set_content(cleaned);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn inspect_dict(dict: &mut Dictionary, removed: &mut Removed) -> Result<(), CleanError> {
    let active = |what: &str| {
        Err(CleanError::unsafe_(format!(
            "the PDF contains {what}, which could run or open something when the document is \
             viewed; remove it and attach the document again"
        )))
    };
    for (key, value) in dict.iter() {
        if ACTIVE_KEYS.contains(&key.as_slice()) {
            return active(&format!(
                "active content (/{})",
                String::from_utf8_lossy(key)
            ));
        }
        if let Object::Name(name) = value {
            let is = |k: &[u8], n: &[u8]| key.as_slice() == k && name.as_slice() == n;
            if key.as_slice() == b"S" && ACTIVE_ACTIONS.contains(&name.as_slice()) {
                return active(&format!("an action (/{})", String::from_utf8_lossy(name)));
            }
            if is(b"Subtype", b"FileAttachment") || is(b"Type", b"EmbeddedFile") {
                return active("an attached file");
            }
            if is(b"Type", b"Sig") || is(b"FT", b"Sig") && dict.has(b"V") {
                return Err(CleanError::unsafe_(
                    "the PDF is digitally signed; a signature names its signer and cannot \
                     survive cleaning, so print it to a new PDF and attach that",
                ));
            }
        }
    }
    for (key, what) in METADATA_KEYS {
        if dict.remove(key).is_some() {
            removed.add(*what);
        }
    }
    for (_, value) in dict.iter_mut() {
        inspect(value, removed)?;
    }
    Ok(())
}
