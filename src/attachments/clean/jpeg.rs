//! JPEG: segments are walked from SOI to EOI, scans included, so a segment
//! placed between the scans of a progressive image is seen like the others.
//! Kept: the coding segments (tables, frame and scan headers, restart
//! intervals), APP0 JFIF, APP2 ICC profile, APP14 Adobe (colour transform).
//! Everything else is application data, a thumbnail or a comment, and is
//! dropped; segments a decoder skips without reading (JPG, EXP) are refused.

use super::{CleanError, Removed, be16, exif};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const COM: u8 = 0xFE;

pub(super) fn clean(data: &[u8], removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    let damaged = || CleanError::damaged("JPEG");
    if data.get(..2) != Some(&[0xFF, SOI][..]) {
        return Err(damaged());
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let (mut at, mut frames, mut scans) = (2, 0, 0);
    loop {
        // fill bytes (0xFF) may precede a marker
        if data.get(at) != Some(&0xFF) {
            return Err(damaged());
        }
        while data.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *data.get(at).ok_or_else(damaged)?;
        at += 1;
        if marker == EOI {
            break;
        }
        if marker == SOI || marker == 0x00 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            return Err(damaged());
        }
        let length = usize::from(be16(data, at).ok_or_else(damaged)?);
        let segment = data
            .get(at..at + length)
            .filter(|_| length >= 2)
            .ok_or_else(damaged)?;
        let payload = &segment[2..];
        at += length;
        match keep(marker, payload)? {
            Keep::Yes => {
                out.extend_from_slice(&[0xFF, marker]);
                out.extend_from_slice(segment);
            }
            Keep::No(what) => removed.add(what),
        }
        if is_frame(marker) {
            frames += 1;
        }
        if marker == SOS {
            scans += 1;
            let end = entropy_end(data, at).ok_or_else(damaged)?;
            out.extend_from_slice(&data[at..end]);
            at = end;
        }
    }
    if frames == 0 || scans == 0 {
        return Err(damaged());
    }
    out.extend_from_slice(&[0xFF, EOI]);
    if data[at..].iter().any(|&b| b != 0x00 && b != 0xFF) {
        return Err(CleanError::unsafe_(
            "the JPEG has content after the end of the image (another file appended to it); \
             it was not stored",
        ));
    }
    Ok(out)
}

enum Keep {
    Yes,
    No(String),
}

fn keep(marker: u8, payload: &[u8]) -> Result<Keep, CleanError> {
    let starts = |prefix: &[u8]| payload.starts_with(prefix);
    Ok(match marker {
        0xE0 if starts(b"JFIF\0") => Keep::Yes,
        // a thumbnail: another picture, which may carry its own EXIF
        0xE0 if starts(b"JFXX\0") => Keep::No("thumbnail (JFXX)".into()),
        0xE2 if starts(b"ICC_PROFILE\0") => Keep::Yes,
        0xEE if starts(b"Adobe") => Keep::Yes,
        0xE1 if starts(b"Exif\0\0") => Keep::No(exif::describe(&payload[6..])),
        0xE1 if starts(b"http://ns.adobe.com/xap/1.0/\0")
            || starts(b"http://ns.adobe.com/xmp/extension/\0") =>
        {
            Keep::No("XMP".into())
        }
        0xE2 if starts(b"MPF\0") => Keep::No("multi-picture index (MPF)".into()),
        0xED => Keep::No("IPTC and Photoshop data (APP13)".into()),
        COM => Keep::No("JPEG comment".into()),
        0xE0..=0xEF => Keep::No(format!("application data (APP{})", marker - 0xE0)),
        // tables, frames, scans, restart interval, number of lines, expand;
        // not JPG (C8) or the reserved JPGn (F0-FD, here refused), which hold
        // any bytes a decoder skips
        0xC0..=0xC7 | 0xC9..=0xCF | 0xDB..=0xDE | SOS => Keep::Yes,
        _ => {
            return Err(CleanError::unsafe_(format!(
                "the JPEG uses an unusual structure (marker 0x{marker:02X}) that cannot be \
                 cleaned safely"
            )));
        }
    })
}

/// Start of frame: SOF0 to SOF15 except DHT (C4), JPG (C8) and DAC (CC).
fn is_frame(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Where the entropy-coded data starting at `at` ends: at the next marker.
/// Inside it 0xFF is followed by 0x00 (a stuffed byte) or a restart marker.
fn entropy_end(data: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at += data.get(at..)?.iter().position(|&b| b == 0xFF)?;
        match *data.get(at + 1)? {
            0x00 | 0xD0..=0xD7 => at += 2,
            _ => return Some(at),
        }
    }
}
