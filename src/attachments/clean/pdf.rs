//! PDF: the document is read by `lopdf` and written anew from its objects, so
//! earlier revisions, unreferenced objects and bytes between objects are not
//! carried over. Refused first: a document that inflates past
//! [`MAX_INFLATED`] or parses into more than [`MAX_PARSED`] objects (a
//! decompression bomb), encryption (its content cannot be checked),
//! signatures (they name the signer and break when anything changes), active
//! content (JavaScript, launch, form submission, remote go-to, media, a link
//! followed on opening, a `javascript:`/`data:`/`file:` link), embedded files,
//! and pictures that cannot be cleaned cheaply (JPEG 2000, inline JPEG in a
//! content stream). Removed: the document information dictionary (wherever it
//! is referenced), the file identifier, every XMP stream (under `/Metadata` or
//! any other key), application private data, the EXIF of embedded JPEG
//! pictures, and the author, dates and name of every annotation. Text, fonts,
//! images, links and what annotations say are kept. Names and filters are read
//! through one level of indirect reference, as readers do. Streams are written
//! compressed.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};

use lopdf::{DecompressError, Dictionary, Document, LoadOptions, Object, ObjectId};

use super::{CleanError, Removed, described, jpeg};

/// The most any one object or cross-reference stream may inflate to while
/// loading, and any content stream while it is checked for inline pictures.
/// Real object streams hold a few hundred objects (tens of KB); the largest
/// attachment is 25 MiB by default (`BASEWATCH_MAX_ATTACHMENT_BYTES`), and a
/// stream inflating past this bound is refused rather than held in memory.
const MAX_INFLATED: usize = 4 << 20;
/// Content streams (drawing operators) of a detailed map or plan can be large.
const MAX_CONTENT_INFLATED: usize = 32 << 20;
/// The most objects (each number, name, string, array and dictionary counts,
/// nested ones too) a document may parse into: a parsed object takes tens of
/// bytes, so 2 bytes of `0 ` in an array cost about 40 in memory. A document
/// of a thousand pages holds a few hundred thousand.
const MAX_PARSED: usize = 1_000_000;

thread_local! {
    /// Objects parsed so far by the load running on this thread (lopdf parses
    /// on the calling thread: its `rayon` feature is off).
    static PARSED: Cell<usize> = const { Cell::new(0) };
}

/// lopdf's load filter: counts what each object parsed into, and once
/// [`MAX_PARSED`] is passed drops every object, so memory stops growing; the
/// document is then refused.
fn count_parsed(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    let parsed = PARSED.get().saturating_add(weight(object));
    PARSED.set(parsed);
    // lopdf keeps `object` itself for an object read from the file, and the
    // returned one for an object read from an object stream
    (parsed <= MAX_PARSED).then(|| (id, object.clone()))
}

/// How many objects `object` is, counting nested ones; a long string counts
/// as one object per 32 bytes.
fn weight(object: &Object) -> usize {
    match object {
        Object::Array(items) => 1 + items.iter().map(weight).sum::<usize>(),
        Object::Dictionary(dict) => 1 + dict.iter().map(|(_, v)| 1 + weight(v)).sum::<usize>(),
        Object::Stream(stream) => {
            1 + stream
                .dict
                .iter()
                .map(|(_, v)| 1 + weight(v))
                .sum::<usize>()
        }
        Object::String(bytes, _) | Object::Name(bytes) => 1 + bytes.len() / 32,
        _ => 1,
    }
}

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
/// Link schemes that run a script, carry a document of their own, or open a
/// file on the reviewer's computer, compared without case or white space.
const ACTIVE_SCHEMES: &[&[u8]] = &[b"javascript:", b"vbscript:", b"data:", b"file:"];
/// Annotation subtypes: a dictionary with one of these is an annotation even
/// without `/Type /Annot` and when no page lists it.
const ANNOTATION_SUBTYPES: &[&[u8]] = &[
    b"Text",
    b"Link",
    b"FreeText",
    b"Line",
    b"Square",
    b"Circle",
    b"Polygon",
    b"PolyLine",
    b"Highlight",
    b"Underline",
    b"Squiggly",
    b"StrikeOut",
    b"Stamp",
    b"Caret",
    b"Ink",
    b"Popup",
    b"FileAttachment",
    b"Sound",
    b"Movie",
    b"Widget",
    b"Screen",
    b"PrinterMark",
    b"TrapNet",
    b"Watermark",
    b"3D",
    b"Redact",
    b"Projection",
    b"RichMedia",
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
        max_decompressed_size: Some(MAX_INFLATED),
        // also turns off lopdf's rebuilding of a damaged file: refused instead
        filter: Some(count_parsed),
        ..LoadOptions::default()
    };
    PARSED.set(0);
    let loaded = Document::load_mem_with_options(data, options);
    let parsed = PARSED.replace(0);
    let mut doc = loaded.map_err(|error| match error {
        lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. }) => too_large(),
        _ => CleanError::damaged("PDF"),
    })?;
    if parsed > MAX_PARSED {
        return Err(CleanError::unsafe_(
            "the PDF holds too many objects (millions of numbers or names) to be cleaned safely",
        ));
    }
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
    // each object is taken out while it is inspected, so that the others can
    // be read to resolve its references
    let ids: Vec<ObjectId> = doc.objects.keys().copied().collect();
    for id in ids {
        let Some(mut object) = doc.objects.remove(&id) else {
            continue;
        };
        if is_xmp(&doc.objects, &object) {
            removed.add("XMP");
            continue;
        }
        inspect(&doc.objects, &mut object, removed)?;
        doc.objects.insert(id, object);
    }
    scrub_annotations(&mut doc, removed);
    if let Ok(info) = doc.trailer.get(b"Info").cloned() {
        let dict = match info {
            // removed itself: another object may refer to it too
            Object::Reference(id) => doc
                .objects
                .remove(&id)
                .and_then(|o| o.as_dict().ok().cloned()),
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
    doc.compress();
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
    let subtype = name(b"Subtype");
    if annotation
        || name(b"Type").as_deref() == Some(b"Annot")
        || subtype
            .as_deref()
            .is_some_and(|s| ANNOTATION_SUBTYPES.contains(&s))
    {
        let field = subtype.as_deref() == Some(b"Widget") || dict.has(b"FT");
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

fn too_large() -> CleanError {
    CleanError::unsafe_(
        "the PDF holds compressed data that decompresses to far more than a document needs \
         (a decompression bomb), so it was not stored",
    )
}

/// `value`, or the object it refers to (one level, as readers resolve a
/// name or a filter); `None` for a reference to nothing.
fn resolve<'a>(objects: &'a BTreeMap<ObjectId, Object>, value: &'a Object) -> Option<&'a Object> {
    match value {
        Object::Reference(id) => objects.get(id),
        other => Some(other),
    }
}

/// The names `value` stands for: a name, or an array of names, each possibly
/// by reference.
fn names<'a>(objects: &'a BTreeMap<ObjectId, Object>, value: &'a Object) -> Vec<&'a [u8]> {
    let name = |value| match resolve(objects, value) {
        Some(Object::Name(name)) => Some(name.as_slice()),
        _ => None,
    };
    match resolve(objects, value) {
        Some(Object::Array(items)) => items.iter().filter_map(name).collect(),
        _ => name(value).into_iter().collect(),
    }
}

/// Whether `dict[key]` names `wanted` (see [`names`]).
fn names_any(
    objects: &BTreeMap<ObjectId, Object>,
    dict: &Dictionary,
    key: &[u8],
    wanted: &[&[u8]],
) -> Option<Vec<u8>> {
    let value = dict.get(key).ok()?;
    names(objects, value)
        .into_iter()
        .find(|name| wanted.contains(name))
        .map(<[u8]>::to_vec)
}

/// An XMP stream: `/Type /Metadata` or `/Subtype /XML`, under any key.
fn is_xmp(objects: &BTreeMap<ObjectId, Object>, object: &Object) -> bool {
    object.as_stream().is_ok_and(|s| {
        names_any(objects, &s.dict, b"Type", &[b"Metadata"]).is_some()
            || names_any(objects, &s.dict, b"Subtype", &[b"XML"]).is_some()
    })
}

/// A stream's filters, each read through a reference if need be, and written
/// back as plain names so that what is checked is what readers apply. A
/// filter that cannot be read is refused: the stream could not be checked.
fn stream_filters(
    objects: &BTreeMap<ObjectId, Object>,
    dict: &mut Dictionary,
) -> Result<Vec<Vec<u8>>, CleanError> {
    let Ok(value) = dict.get(b"Filter") else {
        return Ok(Vec::new());
    };
    let unreadable = || {
        CleanError::unsafe_(
            "the PDF holds data whose filter cannot be read, so it cannot be checked and cleaned",
        )
    };
    let name = |value| match resolve(objects, value) {
        Some(Object::Name(name)) => Ok(name.clone()),
        _ => Err(unreadable()),
    };
    let filters = match resolve(objects, value) {
        Some(Object::Array(items)) => items.iter().map(name).collect::<Result<Vec<_>, _>>()?,
        _ => vec![name(value)?],
    };
    let direct: Vec<Object> = filters.iter().cloned().map(Object::Name).collect();
    dict.set("Filter", Object::Array(direct));
    Ok(filters)
}

/// Refuses active content and removes metadata in one object, nested
/// dictionaries and arrays included.
fn inspect(
    objects: &BTreeMap<ObjectId, Object>,
    object: &mut Object,
    removed: &mut Removed,
) -> Result<(), CleanError> {
    match object {
        Object::Array(items) => items
            .iter_mut()
            .try_for_each(|item| inspect(objects, item, removed)),
        Object::Dictionary(dict) => inspect_dict(objects, dict, removed),
        Object::Stream(stream) => {
            inspect_dict(objects, &mut stream.dict, removed)?;
            let filters = stream_filters(objects, &mut stream.dict)?;
            if filters.iter().any(|f| f == b"JPXDecode") {
                return Err(CleanError::unsafe_(
                    "the PDF holds a JPEG 2000 picture, which cannot be cleaned of its \
                     metadata; save the document with JPEG pictures and attach it again",
                ));
            }
            if filters.iter().any(|f| f == b"DCTDecode") {
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
            } else if may_draw(objects, &stream.dict) {
                let content = stream
                    .decompressed_content_with_limit(MAX_CONTENT_INFLATED)
                    .map_err(|error| match error {
                        lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded {
                            ..
                        }) => too_large(),
                        _ => CleanError::damaged("PDF"),
                    })?;
                if has_inline_picture(&content) {
                    return Err(CleanError::unsafe_(
                        "the PDF holds an inline JPEG picture in its page content, which \
                         cannot be cleaned of its metadata; print it to a new PDF and attach that",
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether a stream may hold drawing operators (page content, a form, a
/// pattern, a glyph), and so inline pictures: not a picture, a font program,
/// a colour profile or XMP.
fn may_draw(objects: &BTreeMap<ObjectId, Object>, dict: &Dictionary) -> bool {
    let font = [b"Length1", b"Length2", b"Length3"]
        .iter()
        .any(|key| dict.has(*key));
    let not_content: &[&[u8]] = &[b"Image", b"Type1C", b"CIDFontType0C", b"OpenType", b"XML"];
    !font
        && !dict.has(b"N")
        && names_any(objects, dict, b"Subtype", not_content).is_none()
        && names_any(objects, dict, b"Type", &[b"Metadata", b"ObjStm", b"XRef"]).is_none()
}

/// Whether content holds an inline picture (`BI` dictionary `ID`) with a
/// JPEG or JPEG 2000 filter, or a name written with `#` escapes (which could
/// spell one).
fn has_inline_picture(content: &[u8]) -> bool {
    let delimiter = |b: u8| b.is_ascii_whitespace() || b"()<>[]{}/%".contains(&b);
    let token = |at: usize, word: &[u8]| {
        content[at..].starts_with(word)
            && (at == 0 || delimiter(content[at - 1]))
            && content.get(at + word.len()).is_none_or(|b| delimiter(*b))
    };
    let find = |from: usize, word: &[u8]| (from..content.len()).find(|at| token(*at, word));
    let mut from = 0;
    while let Some(start) = find(from, b"BI") {
        let end = find(start + 2, b"ID").unwrap_or(content.len());
        let dict = &content[start..end];
        let holds = |needle: &[u8]| dict.windows(needle.len()).any(|w| w == needle);
        if holds(b"/DCT") || holds(b"/JPX") || holds(b"#") {
            return true;
        }
        from = end;
    }
    false
}

/// Whether `value` is a link whose scheme runs or opens something.
fn active_uri(objects: &BTreeMap<ObjectId, Object>, value: &Object) -> bool {
    let Some(Object::String(bytes, _)) = resolve(objects, value) else {
        return false;
    };
    // white space, control characters and UTF-16's zero bytes and byte order
    // mark are skipped by readers or by the comparison
    let plain: Vec<u8> = bytes
        .iter()
        .filter(|b| **b > b' ' && **b < 0xFE)
        .map(u8::to_ascii_lowercase)
        .collect();
    ACTIVE_SCHEMES
        .iter()
        .any(|scheme| plain.starts_with(scheme))
}

/// Whether an action run on opening (or one it chains to with `/Next`)
/// follows a link: it would tell the link's owner who opened the document.
fn opens_uri(objects: &BTreeMap<ObjectId, Object>, action: &Object, depth: usize) -> bool {
    if depth > 16 {
        return true;
    }
    match resolve(objects, action) {
        Some(Object::Dictionary(dict)) => {
            names_any(objects, dict, b"S", &[b"URI"]).is_some()
                || dict
                    .get(b"Next")
                    .is_ok_and(|next| opens_uri(objects, next, depth + 1))
        }
        Some(Object::Array(items)) => items.iter().any(|item| opens_uri(objects, item, depth + 1)),
        _ => false,
    }
}

fn inspect_dict(
    objects: &BTreeMap<ObjectId, Object>,
    dict: &mut Dictionary,
    removed: &mut Removed,
) -> Result<(), CleanError> {
    let active = |what: &str| {
        Err(CleanError::unsafe_(format!(
            "the PDF contains {what}, which could run or open something when the document is \
             viewed; remove it and attach the document again"
        )))
    };
    let named = |key: &[u8], wanted: &[&[u8]]| names_any(objects, dict, key, wanted);
    for (key, value) in dict.iter() {
        if ACTIVE_KEYS.contains(&key.as_slice()) {
            return active(&format!(
                "active content (/{})",
                String::from_utf8_lossy(key)
            ));
        }
        if key.as_slice() == b"URI" && active_uri(objects, value) {
            return active("a link to a script or a local file");
        }
        if key.as_slice() == b"OpenAction" && opens_uri(objects, value, 0) {
            return active("a link followed on opening");
        }
    }
    if let Some(name) = named(b"S", ACTIVE_ACTIONS) {
        return active(&format!("an action (/{})", String::from_utf8_lossy(&name)));
    }
    if named(b"Subtype", &[b"FileAttachment"]).is_some()
        || named(b"Type", &[b"EmbeddedFile"]).is_some()
    {
        return active("an attached file");
    }
    if named(b"Type", &[b"Sig"]).is_some() || named(b"FT", &[b"Sig"]).is_some() && dict.has(b"V") {
        return Err(CleanError::unsafe_(
            "the PDF is digitally signed; a signature names its signer and cannot \
             survive cleaning, so print it to a new PDF and attach that",
        ));
    }
    for (key, what) in METADATA_KEYS {
        if dict.remove(key).is_some() {
            removed.add(*what);
        }
    }
    for (_, value) in dict.iter_mut() {
        inspect(objects, value, removed)?;
    }
    Ok(())
}
