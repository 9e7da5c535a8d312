//! RIFF files (WebP and WAV): the chunks are walked from the header to the end
//! the header declares; nothing may follow it. Chunks that carry pictures or
//! sound are kept byte for byte, the rest dropped, and the header's size set
//! anew.

use super::{CleanError, Removed, exif};

/// One chunk: its four-character code and its data (without the pad byte).
struct Chunk<'a> {
    id: [u8; 4],
    data: &'a [u8],
}

fn le32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn chunks<'a>(data: &'a [u8], form: &[u8; 4], kind: &str) -> Result<Vec<Chunk<'a>>, CleanError> {
    let damaged = || CleanError::damaged(kind);
    if data.get(..4) != Some(b"RIFF") || data.get(8..12) != Some(form) {
        return Err(damaged());
    }
    let end = (le32(data, 4).ok_or_else(damaged)? as usize)
        .checked_add(8)
        .ok_or_else(damaged)?;
    if end > data.len() {
        return Err(damaged());
    }
    if end < data.len() {
        return Err(CleanError::unsafe_(format!(
            "the {kind} file has content after its end, another file appended to it; \
             it was not stored"
        )));
    }
    let mut found = Vec::new();
    let mut at = 12;
    while at < end {
        let id: [u8; 4] = data
            .get(at..at + 4)
            .ok_or_else(damaged)?
            .try_into()
            .expect("four bytes");
        let size = le32(data, at + 4).ok_or_else(damaged)? as usize;
        let chunk = data.get(at + 8..at + 8 + size).ok_or_else(damaged)?;
        found.push(Chunk { id, data: chunk });
        at += 8 + size + size % 2;
    }
    // a last chunk of odd size may lack its pad byte
    if at > end + 1 {
        return Err(damaged());
    }
    Ok(found)
}

fn write(form: &[u8; 4], kept: &[Chunk<'_>]) -> Vec<u8> {
    let body: usize = kept
        .iter()
        .map(|c| 8 + c.data.len() + c.data.len() % 2)
        .sum();
    let mut out = Vec::with_capacity(12 + body);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(
        &u32::try_from(4 + body)
            .expect("smaller than the input")
            .to_le_bytes(),
    );
    out.extend_from_slice(form);
    for chunk in kept {
        out.extend_from_slice(&chunk.id);
        out.extend_from_slice(
            &u32::try_from(chunk.data.len())
                .expect("read as u32")
                .to_le_bytes(),
        );
        out.extend_from_slice(chunk.data);
        if chunk.data.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

fn name(id: &[u8; 4]) -> String {
    String::from_utf8_lossy(id).trim_end().to_owned()
}

/// VP8X flag bits that announce EXIF and XMP chunks.
const VP8X_EXIF: u8 = 0x08;
const VP8X_XMP: u8 = 0x04;

pub(super) fn clean_webp(data: &[u8], removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    let mut kept = Vec::new();
    let mut vp8x = None;
    for chunk in chunks(data, b"WEBP", "WebP")? {
        match &chunk.id {
            b"VP8X" => {
                vp8x = Some(kept.len());
                kept.push(chunk);
            }
            b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ANMF" | b"ICCP" => kept.push(chunk),
            b"EXIF" => removed.add(exif::describe(
                chunk.data.strip_prefix(b"Exif\0\0").unwrap_or(chunk.data),
            )),
            b"XMP " => removed.add("XMP"),
            id => removed.add(format!("private data ({})", name(id))),
        }
    }
    let Some(at) = vp8x else {
        return Ok(write(b"WEBP", &kept));
    };
    let mut header = kept[at].data.to_vec();
    let flags = header
        .first_mut()
        .ok_or_else(|| CleanError::damaged("WebP"))?;
    *flags &= !(VP8X_EXIF | VP8X_XMP);
    kept[at] = Chunk {
        id: *b"VP8X",
        data: &header,
    };
    Ok(write(b"WEBP", &kept))
}

pub(super) fn clean_wav(data: &[u8], removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    let mut kept = Vec::new();
    for chunk in chunks(data, b"WAVE", "WAV")? {
        match &chunk.id {
            b"fmt " | b"fact" | b"data" => kept.push(chunk),
            b"LIST" if chunk.data.starts_with(b"INFO") => {
                removed.add(super::described(
                    "RIFF INFO tags",
                    &info_fields(&chunk.data[4..]),
                ));
            }
            b"LIST" => removed.add("RIFF list (labels and notes)"),
            b"id3 " | b"ID3 " => removed.add("ID3v2 tags"),
            b"bext" => removed.add("broadcast description (originator, date and time)"),
            b"_PMX" => removed.add("XMP"),
            b"iXML" | b"axml" => removed.add("production notes (iXML)"),
            b"JUNK" | b"PAD " | b"FLLR" => {}
            id => removed.add(format!("private data ({})", name(id))),
        }
    }
    Ok(write(b"WAVE", &kept))
}

/// The field ids of a LIST/INFO chunk's subchunks (INAM, IART, ICMT...).
fn info_fields(mut data: &[u8]) -> Vec<String> {
    let mut fields = Vec::new();
    while let (Some(id), Some(size)) = (data.get(..4), le32(data, 4)) {
        fields.push(String::from_utf8_lossy(id).into_owned());
        let next = 8usize
            .saturating_add(size as usize)
            .saturating_add(size as usize % 2);
        data = data.get(next..).unwrap_or_default();
    }
    fields
}
