//! MP3 and Ogg recordings.
//!
//! MP3: tags sit around the audio (ID3v2 in front, ID3v1, APE, Lyrics3 or an
//! appended ID3v2 behind); they are cut off, and what remains must be MPEG
//! audio frames from the first byte to the last, which are kept as they are.
//! Ogg: the pages are walked (one logical stream, nothing after the last
//! page), then `lofty` rewrites the comment header without its fields; the
//! audio packets are not touched.

use std::io::Cursor;

use lofty::config::ParseOptions;
use lofty::file::{AudioFile, FileType};
use lofty::ogg::{OggPictureStorage, OpusFile, SpeexFile, VorbisFile};
use lofty::probe::Probe;
use lofty::tag::TagType;

use super::{CleanError, Removed, described};

pub(super) fn clean_mp3(data: &[u8], removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    let damaged = || CleanError::damaged("MP3");
    let mut start = 0;
    while data.get(start..start + 3) == Some(b"ID3") {
        let tag = &data[start..];
        let size = id3v2_size(tag).ok_or_else(damaged)?;
        removed.add(id3v2_frames(tag.get(..size).ok_or_else(damaged)?).described("ID3v2 tags"));
        start += size;
    }
    let mut end = data.len();
    // every tag found shortens what is left, so this ends
    while let Some((size, what)) = trailing_tag(&data[start..end]).filter(|(size, _)| *size > 0) {
        removed.add(what);
        end -= size;
    }
    let audio = &data[start..end];
    mpeg_frames_end(audio).ok_or_else(damaged)?;
    Ok(audio.to_vec())
}

/// The size of the ID3v2 tag at the start of `tag`, header and footer included.
fn id3v2_size(tag: &[u8]) -> Option<usize> {
    let header = tag.get(..10)?;
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + syncsafe(&header[6..10])? + footer)
}

/// A 28-bit integer written seven bits a byte.
fn syncsafe(bytes: &[u8]) -> Option<usize> {
    bytes.iter().try_fold(0usize, |n, &b| {
        (b < 0x80).then_some(n << 7 | usize::from(b))
    })
}

/// The frame ids of an ID3v2.3 or 2.4 tag (TIT2, TPE1, COMM...), as far as
/// they can be read; the tag is removed whole either way.
fn id3v2_frames(tag: &[u8]) -> super::Names {
    let (version, flags) = (tag[3], tag[5]);
    if !(3..=4).contains(&version) || flags & 0x40 != 0 {
        return super::Names::default();
    }
    let mut ids = super::Names::default();
    let mut at = 10;
    while let Some(header) = tag.get(at..at + 10) {
        if !header[..4]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            break;
        }
        let size = if version == 4 {
            syncsafe(&header[4..8])
        } else {
            super::be32(header, 4).map(|n| n as usize)
        };
        ids.add(String::from_utf8_lossy(&header[..4]).into_owned());
        let Some(size) = size else { break };
        at += 10 + size;
    }
    ids
}

/// A tag at the end of `data`: its size and a description.
fn trailing_tag(data: &[u8]) -> Option<(usize, &'static str)> {
    let len = data.len();
    let tail = |n: usize| data.get(len.checked_sub(n)?..);
    if tail(128)?.starts_with(b"TAG") {
        let extended = tail(128 + 227).is_some_and(|t| t.starts_with(b"TAG+"));
        return Some((if extended { 128 + 227 } else { 128 }, "ID3v1 tags"));
    }
    if let Some(footer) = tail(32).filter(|t| t.starts_with(b"APETAGEX")) {
        // the tag's size counts its items and this footer: never under 32
        let size = u32::from_le_bytes(footer[12..16].try_into().ok()?) as usize;
        if size < 32 {
            return None;
        }
        let has_header = footer[23] & 0x80 != 0;
        let size = size + if has_header { 32 } else { 0 };
        return (size <= len).then_some((size, "APE tags"));
    }
    if let Some(end) = tail(15).filter(|t| t.ends_with(b"LYRICS200")) {
        let size: usize = std::str::from_utf8(&end[..6]).ok()?.parse().ok()?;
        return (size + 15 <= len).then_some((size + 15, "Lyrics3 tags"));
    }
    if let Some(footer) = tail(10).filter(|t| t.starts_with(b"3DI")) {
        let size = 20 + syncsafe(&footer[6..10])?;
        return (size <= len).then_some((size, "ID3v2 tags"));
    }
    None
}

/// Walks MPEG audio frames over the whole of `audio`; `None` unless they
/// fill it exactly (at least one frame, nothing between or after them).
fn mpeg_frames_end(audio: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at < audio.len() {
        at += mpeg_frame_len(audio.get(at..at + 4)?)?;
    }
    (at == audio.len() && at > 0).then_some(at)
}

/// The length of the MPEG audio frame with this header; `None` for anything
/// else, free-format bit rates included (their length cannot be known).
fn mpeg_frame_len(header: &[u8]) -> Option<usize> {
    const V1: [[u32; 14]; 3] = [
        [
            32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const V2: [[u32; 14]; 2] = [
        [
            32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    if header[0] != 0xFF || header[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (header[1] >> 3) & 3; // 0: MPEG 2.5, 2: MPEG 2, 3: MPEG 1
    let layer = (header[1] >> 1) & 3; // 3: layer I, 2: layer II, 1: layer III
    let bitrate_index = usize::from(header[2] >> 4);
    let rate_index = usize::from((header[2] >> 2) & 3);
    if version == 1 || layer == 0 || !(1..=14).contains(&bitrate_index) || rate_index == 3 {
        return None;
    }
    let kbps = match (version, layer) {
        (3, _) => V1[usize::from(3 - layer)][bitrate_index - 1],
        (_, 3) => V2[0][bitrate_index - 1],
        _ => V2[1][bitrate_index - 1],
    };
    let rate = [44_100, 48_000, 32_000][rate_index] >> [2, 0, 1, 0][usize::from(version)];
    let padding = u32::from((header[2] >> 1) & 1);
    let bits = kbps * 1000;
    let len = match (version, layer) {
        (_, 3) => (12 * bits / rate + padding) * 4,
        (3, _) | (_, 2) => 144 * bits / rate + padding,
        _ => 72 * bits / rate + padding,
    };
    Some(len as usize)
}

pub(super) fn clean_ogg(data: Vec<u8>, removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    ogg_pages(&data)?;
    let (mut fields, pictures) = comment_fields(&data)?;
    if fields.is_empty() && pictures == 0 {
        return Ok(data);
    }
    let mut file = Cursor::new(data);
    TagType::VorbisComments
        .remove_from(&mut file)
        .map_err(lofty_failed)?;
    if pictures > 0 {
        fields.push("cover picture".into());
    }
    removed.add(described("Vorbis comments", &fields));
    let cleaned = file.into_inner();
    ogg_pages(&cleaned)?;
    Ok(cleaned)
}

/// The field names of an Ogg recording's comments (the vendor string, which
/// the format requires, is not a field) and its number of pictures.
fn comment_fields(data: &[u8]) -> Result<(Vec<String>, usize), CleanError> {
    let probe = Probe::new(Cursor::new(data))
        .guess_file_type()
        .map_err(lofty_failed)?;
    let mut reader = Cursor::new(data);
    let options = ParseOptions::new().read_properties(false);
    let comments = match probe.file_type() {
        Some(FileType::Opus) => {
            OpusFile::read_from(&mut reader, options).map(|f| f.vorbis_comments().clone())
        }
        Some(FileType::Vorbis) => {
            VorbisFile::read_from(&mut reader, options).map(|f| f.vorbis_comments().clone())
        }
        Some(FileType::Speex) => {
            SpeexFile::read_from(&mut reader, options).map(|f| f.vorbis_comments().clone())
        }
        _ => {
            return Err(CleanError::unsafe_(
                "only Opus, Vorbis and Speex recordings in Ogg can be cleaned safely",
            ));
        }
    }
    .map_err(lofty_failed)?;
    let mut names: Vec<String> = Vec::new();
    for (key, _) in comments.items() {
        if !names.iter().any(|name| name.eq_ignore_ascii_case(key)) {
            names.push(key.to_owned());
        }
    }
    Ok((names, comments.pictures().len()))
}

fn lofty_failed<E>(_: E) -> CleanError {
    CleanError::damaged("Ogg")
}

/// Walks the Ogg pages over the whole file: one logical stream, nothing
/// before the first page or after the last.
fn ogg_pages(data: &[u8]) -> Result<(), CleanError> {
    let damaged = || CleanError::damaged("Ogg");
    let mut at = 0;
    let mut serial = None;
    while at < data.len() {
        if !data[at..].starts_with(b"OggS") {
            return Err(CleanError::unsafe_(
                "the Ogg recording has content after its end or between its pages; \
                 it was not stored",
            ));
        }
        let header = data.get(at..at + 27).ok_or_else(damaged)?;
        let this = &header[14..18];
        if *serial.get_or_insert(this) != this {
            return Err(CleanError::unsafe_(
                "the Ogg file holds more than one stream (video or a second recording); \
                 only a single recording is accepted",
            ));
        }
        let segments = usize::from(header[26]);
        let lacing = data.get(at + 27..at + 27 + segments).ok_or_else(damaged)?;
        at += 27 + segments + lacing.iter().map(|&n| usize::from(n)).sum::<usize>();
    }
    if at != data.len() {
        return Err(damaged());
    }
    Ok(())
}
