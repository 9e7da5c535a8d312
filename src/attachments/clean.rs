//! Cleaning an uploaded attachment before anything is stored.
//!
//! A photo straight from a phone carries the GPS position, the device and its
//! serial number; a document carries its author; a recording carries tags.
//! In this field that can get a monitor or a witness hurt, so every upload goes
//! through [`clean`]:
//!
//! 1. The kind is decided by the content (magic bytes, crate `infer`), never by
//!    the declared type or the file name. Only the kinds of [`Kind`] are taken.
//! 2. The declared type must name the same kind ([`Kind::accepts`] lists the
//!    aliases); `application/octet-stream` means "the client does not know"
//!    and is accepted, since the content decides anyway.
//! 3. The file is walked structure by structure; every byte must belong to a
//!    structure of its kind. Content after the end of the image or audio, an
//!    unknown critical structure, HTML or script anywhere in an image or a
//!    recording, active content or encryption in a PDF: the file is refused
//!    ([`CleanError::Unsafe`]), never stored, never "repaired".
//! 4. Metadata is removed by dropping whole structures (segments, chunks,
//!    boxes, tags, dictionaries); pixels, sound and text are copied byte for
//!    byte, never decoded and re-encoded. What was removed is described in
//!    [`Cleaned::removed`] for the person who uploaded it.
//!
//! Images and WAV are walked by hand (a few lines each, so the checks of step 3
//! see every byte: `img-parts` keeps all that follows the first JPEG scan and
//! ignores what follows PNG's IEND); Ogg comments are rewritten by `lofty`
//! (pages and checksums), PDFs by `lopdf`.

mod audio;
mod exif;
mod jpeg;
mod mp4;
mod pdf;
mod png;
mod riff;

/// The kinds of attachment Basewatch takes, decided by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Jpeg,
    Png,
    Webp,
    Pdf,
    Mp3,
    M4a,
    Ogg,
    Wav,
}

impl Kind {
    /// The media type the cleaned file is served with.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Webp => "image/webp",
            Kind::Pdf => "application/pdf",
            Kind::Mp3 => "audio/mpeg",
            Kind::M4a => "audio/mp4",
            Kind::Ogg => "audio/ogg",
            Kind::Wav => "audio/wav",
        }
    }

    /// The file extension (without a dot) for a download's file name.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Webp => "webp",
            Kind::Pdf => "pdf",
            Kind::Mp3 => "mp3",
            Kind::M4a => "m4a",
            Kind::Ogg => "ogg",
            Kind::Wav => "wav",
        }
    }

    /// The media types a client may declare for this kind: the registered one
    /// and the aliases clients and browsers send.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Kind::Jpeg => &["image/jpeg", "image/jpg", "image/pjpeg"],
            Kind::Png => &["image/png", "image/x-png"],
            Kind::Webp => &["image/webp"],
            Kind::Pdf => &["application/pdf", "application/x-pdf"],
            Kind::Mp3 => &["audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg"],
            Kind::M4a => &["audio/mp4", "audio/m4a", "audio/x-m4a"],
            Kind::Ogg => &["audio/ogg", "audio/opus", "audio/vorbis", "application/ogg"],
            Kind::Wav => &["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"],
        }
    }

    /// Whether a declared `Content-Type` fits this kind: one of [`Kind::aliases`]
    /// or `application/octet-stream`, case-insensitive, parameters ignored.
    pub fn accepts(self, declared: &str) -> bool {
        let essence = declared.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case(UNKNOWN_TYPE)
            || self
                .aliases()
                .iter()
                .any(|alias| essence.eq_ignore_ascii_case(alias))
    }

    /// The kind `infer` reports for this content, if it is one Basewatch takes.
    fn from_detected(media_type: &str) -> Option<Kind> {
        Some(match media_type {
            "image/jpeg" => Kind::Jpeg,
            "image/png" => Kind::Png,
            "image/webp" => Kind::Webp,
            "application/pdf" => Kind::Pdf,
            "audio/mpeg" => Kind::Mp3,
            "audio/m4a" => Kind::M4a,
            "audio/ogg" | "audio/opus" => Kind::Ogg,
            "audio/x-wav" => Kind::Wav,
            _ => return None,
        })
    }
}

/// What a client declares when it does not know the type (browsers do so for
/// a file they cannot name). Accepted for every kind: the content decides.
const UNKNOWN_TYPE: &str = "application/octet-stream";

/// A file cleaned of its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// The kind, decided by content.
    pub kind: Kind,
    /// The cleaned file, a valid file of the same kind.
    pub bytes: Vec<u8>,
    /// What was removed, in words for the uploader, e.g.
    /// "EXIF (GPS position, camera make and model)". Empty when the file held none.
    pub removed: Vec<String>,
}

/// Why a file was refused. The messages are meant for the person uploading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CleanError {
    /// The content is not one of the kinds Basewatch takes.
    #[error("{}", unsupported_message(.detected))]
    Unsupported { detected: Option<String> },
    /// The declared type names another kind than the content.
    #[error(
        "the file was declared as {declared:?} but its content is {detected}; \
         declare the type that matches the content"
    )]
    Mismatch {
        declared: String,
        detected: &'static str,
    },
    /// The file hides something, is damaged, or cannot be cleaned safely.
    #[error("{0}")]
    Unsafe(String),
}

fn unsupported_message(detected: &Option<String>) -> String {
    let taken = "JPEG, PNG, WebP, PDF, MP3, M4A, Ogg or WAV";
    match detected {
        Some(found) => format!("files of type {found} are not accepted; attach {taken}"),
        None => format!("the type of this file could not be recognised; attach {taken}"),
    }
}

impl CleanError {
    fn unsafe_(reason: impl Into<String>) -> Self {
        CleanError::Unsafe(reason.into())
    }

    /// A file whose structure does not hold together: refused rather than
    /// guessed at, since what a parser skips is where a payload hides.
    fn damaged(kind: &str) -> Self {
        CleanError::Unsafe(format!(
            "the {kind} file is damaged or truncated, so it cannot be cleaned safely"
        ))
    }
}

/// Decides the kind of `data` by content, checks it against `declared`, and
/// returns it without its metadata, or refuses it.
pub fn clean(declared: &str, data: Vec<u8>) -> Result<Cleaned, CleanError> {
    let kind = detect(&data)?;
    if !kind.accepts(declared) {
        return Err(CleanError::Mismatch {
            declared: declared.to_owned(),
            detected: kind.media_type(),
        });
    }
    if kind != Kind::Pdf {
        refuse_markup(&data)?;
    }
    let mut removed = Removed::default();
    let bytes = match kind {
        Kind::Jpeg => jpeg::clean(&data, &mut removed)?,
        Kind::Png => png::clean(&data, &mut removed)?,
        Kind::Webp => riff::clean_webp(&data, &mut removed)?,
        Kind::Wav => riff::clean_wav(&data, &mut removed)?,
        Kind::Mp3 => audio::clean_mp3(&data, &mut removed)?,
        Kind::Ogg => audio::clean_ogg(data, &mut removed)?,
        Kind::M4a => mp4::clean(data, &mut removed)?,
        Kind::Pdf => pdf::clean(&data, &mut removed)?,
    };
    Ok(Cleaned {
        kind,
        bytes,
        removed: removed.into_list(),
    })
}

/// The kind of `data` by its magic bytes. An MP4 whose brand says video but
/// whose tracks are all sound is taken as M4A: phone recorders write them so.
pub fn detect(data: &[u8]) -> Result<Kind, CleanError> {
    let found = infer::get(data).ok_or(CleanError::Unsupported { detected: None })?;
    let kind = match found.mime_type() {
        "video/mp4" if mp4::is_audio_only(data) => Some(Kind::M4a),
        other => Kind::from_detected(other),
    };
    kind.ok_or_else(|| CleanError::Unsupported {
        detected: Some(found.mime_type().to_owned()),
    })
}

/// Markup that makes a file a polyglot: a viewer that sniffs it would run it
/// as a page. Each tag counts only when followed by a space, `>` or `/`, so the
/// compressed data of a picture or a recording matches one by chance about
/// once in 10^11 bytes, and `javascript:` once in 10^24.
const MARKUP: &[&[u8]] = &[
    b"<script",
    b"<html",
    b"<!doctype",
    b"<iframe",
    b"<object",
    b"<embed",
    b"<body",
    b"<?php",
];

fn refuse_markup(data: &[u8]) -> Result<(), CleanError> {
    match find_markup(data) {
        Some(tag) => Err(CleanError::unsafe_(format!(
            "the file contains web page markup ({}), a known way to smuggle a script \
             inside a picture or recording; it was not stored",
            String::from_utf8_lossy(tag)
        ))),
        None => Ok(()),
    }
}

fn find_markup(data: &[u8]) -> Option<&'static [u8]> {
    let at_ignoring_case = |at: usize, tag: &[u8]| {
        data.get(at..at + tag.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(tag))
    };
    data.iter().enumerate().find_map(|(at, &byte)| match byte {
        b'<' => MARKUP.iter().copied().find(|tag| {
            at_ignoring_case(at, tag)
                && matches!(
                    data.get(at + tag.len()),
                    Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
                )
        }),
        b'j' | b'J' => Some(&b"javascript:"[..]).filter(|tag| at_ignoring_case(at, tag)),
        _ => None,
    })
}

/// Descriptions listed in an answer at most: a file built to hold thousands
/// of kinds of metadata is described in a few lines, not a megabyte.
const MAX_DESCRIPTIONS: usize = 32;
/// Names listed in one description at most.
const MAX_NAMES: usize = 16;

/// What a cleaner removed, each description once, in the order found.
/// (The descriptions listed, every description seen.)
#[derive(Debug, Default)]
struct Removed(Vec<String>, std::collections::HashSet<String>);

impl Removed {
    fn add(&mut self, what: impl Into<String>) {
        let what = what.into();
        if self.0.len() < MAX_DESCRIPTIONS && !self.1.contains(&what) {
            self.0.push(what.clone());
        }
        self.1.insert(what);
    }

    fn into_list(mut self) -> Vec<String> {
        let more = self.1.len() - self.0.len();
        if more > 0 {
            self.0.push(format!("{more} more kinds of metadata"));
        }
        self.0
    }
}

/// Names found (text keywords, tag frames), each once, in the order found:
/// a set, so that a million of them cost a million steps, not a trillion.
#[derive(Debug, Default)]
struct Names {
    listed: Vec<String>,
    seen: std::collections::HashSet<String>,
}

impl Names {
    fn add(&mut self, name: String) {
        if self.listed.len() < MAX_NAMES && !self.seen.contains(&name) {
            self.listed.push(name.clone());
        }
        self.seen.insert(name);
    }

    fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// `what` followed by the names in brackets (at most `MAX_NAMES` of them),
/// when there are any.
fn described(what: &str, names: &[String]) -> String {
    described_with(what, names.iter().take(MAX_NAMES), names.len())
}

fn described_with<'a>(what: &str, shown: impl Iterator<Item = &'a String>, all: usize) -> String {
    let shown: Vec<&str> = shown.map(String::as_str).collect();
    if shown.is_empty() {
        return what.to_owned();
    }
    let more = all - shown.len();
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{what} ({}{tail})", shown.join(", "))
}

impl Names {
    /// `what` followed by the names found, as `described` writes them.
    fn described(&self, what: &str) -> String {
        described_with(what, self.listed.iter(), self.seen.len())
    }
}

/// A big-endian u16 at `at`, if the data is long enough.
fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

/// A big-endian u32 at `at`, if the data is long enough.
fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
#[path = "../../tests/api/media.rs"]
#[allow(dead_code)]
mod media;

#[cfg(test)]
mod tests;
