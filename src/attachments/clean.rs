//! STUB until branch att-clean is merged (its clean.rs replaces this file):
//! the interface of the content cleaner, with detection by magic bytes only
//! and no metadata removed.

/// The types an attachment may have, decided by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

pub struct Cleaned {
    pub kind: Kind,
    pub bytes: Vec<u8>,
    pub removed: Vec<String>,
}

#[derive(Debug)]
pub enum CleanError {
    Unsupported {
        detected: Option<String>,
    },
    Mismatch {
        declared: String,
        detected: &'static str,
    },
    Unsafe(String),
}

fn detect(data: &[u8]) -> Option<Kind> {
    let at = |offset: usize, magic: &[u8]| data.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"\xFF\xD8\xFF") {
        Some(Kind::Jpeg)
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some(Kind::Webp)
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some(Kind::Wav)
    } else if at(0, b"%PDF-") {
        Some(Kind::Pdf)
    } else if at(0, b"ID3") || (data.len() > 1 && data[0] == 0xFF && data[1] & 0xE0 == 0xE0) {
        Some(Kind::Mp3)
    } else if at(0, b"OggS") {
        Some(Kind::Ogg)
    } else if at(4, b"ftypM4A") {
        Some(Kind::M4a)
    } else {
        None
    }
}

pub fn clean(declared: &str, data: Vec<u8>) -> Result<Cleaned, CleanError> {
    let kind = detect(&data).ok_or(CleanError::Unsupported { detected: None })?;
    let declared = declared
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if declared != kind.media_type() {
        return Err(CleanError::Mismatch {
            declared,
            detected: kind.media_type(),
        });
    }
    Ok(Cleaned {
        kind,
        bytes: data,
        removed: Vec::new(),
    })
}
