//! PNG: chunks are walked from the signature to IEND. Kept: the critical
//! chunks, colour and layout information, and APNG animation. Dropped: text
//! (tEXt, zTXt, iTXt), EXIF (eXIf), the modification time (tIME) and any
//! private chunk. Nothing may follow IEND.

use super::{CleanError, Removed, be32, exif};

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Chunks that describe pixels, colour or animation, never who or when.
const KEPT: &[&[u8; 4]] = &[
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
    b"cICP", b"mDCV", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT",
];

pub(super) fn clean(data: &[u8], removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    let damaged = || CleanError::damaged("PNG");
    if !data.starts_with(SIGNATURE) {
        return Err(damaged());
    }
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(SIGNATURE);
    let mut at = SIGNATURE.len();
    let mut keywords = super::Names::default();
    loop {
        let length = be32(data, at).ok_or_else(damaged)? as usize;
        let chunk = data.get(at..at + 12 + length).ok_or_else(damaged)?;
        let kind: &[u8; 4] = chunk[4..8].try_into().expect("four bytes");
        let body = &chunk[8..8 + length];
        if at == SIGNATURE.len() && kind != b"IHDR" {
            return Err(damaged());
        }
        at += chunk.len();
        match kind {
            kind if KEPT.contains(&kind) => out.extend_from_slice(chunk),
            b"tEXt" | b"zTXt" | b"iTXt" => {
                let keyword = body.split(|&b| b == 0).next().unwrap_or_default();
                keywords.add(String::from_utf8_lossy(keyword).into_owned());
            }
            b"eXIf" => removed.add(exif::describe(body)),
            b"tIME" => removed.add("modification time (tIME)"),
            // the fifth bit of the first letter: set for ancillary chunks,
            // which a decoder may skip; a critical one it must understand
            kind if kind[0] & 0x20 != 0 => {
                removed.add(format!("private data ({})", String::from_utf8_lossy(kind)))
            }
            kind => {
                return Err(CleanError::unsafe_(format!(
                    "the PNG has an unknown critical chunk ({}) and cannot be cleaned safely",
                    String::from_utf8_lossy(kind)
                )));
            }
        }
        if kind == b"IEND" {
            break;
        }
    }
    if !keywords.is_empty() {
        removed.add(keywords.described("text"));
    }
    if at != data.len() {
        return Err(CleanError::unsafe_(
            "the PNG has content after its end (IEND), another file appended to it; \
             it was not stored",
        ));
    }
    Ok(out)
}
