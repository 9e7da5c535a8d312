//! M4A (MPEG-4 audio): the boxes are walked from the first to the last byte.
//! Metadata boxes (`udta`, `meta`, `uuid`) are turned into `free` boxes of the
//! same size with their content zeroed, and the creation and modification
//! times in the movie, track and media headers are zeroed: nothing moves, so
//! the sample offsets in `stco`/`co64` stay right and the sound is untouched.

use super::{CleanError, Removed, be32, described};

/// Boxes whose children are boxes, along the path to the tracks' metadata.
const CONTAINERS: &[&[u8; 4]] = &[
    b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"edts", b"moof", b"traf", b"mvex",
    b"mfra",
];
/// Top-level boxes of an audio file.
const TOP_LEVEL: &[&[u8; 4]] = &[
    b"ftyp", b"styp", b"moov", b"mdat", b"moof", b"mfra", b"sidx", b"pdin",
];
/// Boxes that hold nothing that matters; their content is zeroed.
const FILLER: &[&[u8; 4]] = &[b"free", b"skip", b"wide"];
/// Boxes of metadata, freed wherever they are.
const METADATA: &[&[u8; 4]] = &[b"udta", b"meta", b"uuid", b"ID32", b"XMP_"];

/// A box: its type and where its content starts and it ends.
struct Atom {
    kind: [u8; 4],
    start: usize,
    content: usize,
    end: usize,
}

fn atoms(data: &[u8], mut at: usize, end: usize) -> Result<Vec<Atom>, CleanError> {
    let damaged = || CleanError::damaged("M4A");
    let mut found = Vec::new();
    while at < end {
        let size = be32(data, at).ok_or_else(damaged)? as usize;
        let kind: [u8; 4] = data
            .get(at + 4..at + 8)
            .ok_or_else(damaged)?
            .try_into()
            .expect("4");
        let (content, size) = match size {
            0 => (at + 8, end - at),
            1 => {
                let large = data.get(at + 8..at + 16).ok_or_else(damaged)?;
                let large = u64::from_be_bytes(large.try_into().expect("8"));
                (at + 16, usize::try_from(large).map_err(|_| damaged())?)
            }
            size => (at + 8, size),
        };
        let atom_end = at
            .checked_add(size)
            .filter(|&e| e <= end && e >= content)
            .ok_or_else(damaged)?;
        found.push(Atom {
            kind,
            start: at,
            content,
            end: atom_end,
        });
        at = atom_end;
    }
    Ok(found)
}

pub(super) fn clean(mut data: Vec<u8>, removed: &mut Removed) -> Result<Vec<u8>, CleanError> {
    let top = atoms(&data, 0, data.len())?;
    if top.first().map(|atom| &atom.kind) != Some(b"ftyp") {
        return Err(CleanError::damaged("M4A"));
    }
    for atom in top {
        if !TOP_LEVEL.contains(&&atom.kind)
            && !FILLER.contains(&&atom.kind)
            && !METADATA.contains(&&atom.kind)
        {
            return Err(CleanError::unsafe_(format!(
                "the M4A file holds an unexpected part ({}) and cannot be cleaned safely",
                latin1(&atom.kind)
            )));
        }
        clean_atom(&mut data, &atom, removed)?;
    }
    Ok(data)
}

/// Whether the movie's tracks are all sound (handler `soun`), at least one.
pub(super) fn is_audio_only(data: &[u8]) -> bool {
    let inside = |atom: &Atom, kind: &[u8; 4]| {
        atoms(data, atom.content, atom.end)
            .unwrap_or_default()
            .into_iter()
            .filter(|child| &child.kind == kind)
            .collect::<Vec<_>>()
    };
    let whole = Atom {
        kind: *b"file",
        start: 0,
        content: 0,
        end: data.len(),
    };
    let tracks: Vec<Atom> = inside(&whole, b"moov")
        .iter()
        .flat_map(|moov| inside(moov, b"trak"))
        .collect();
    !tracks.is_empty()
        && tracks.iter().all(|trak| {
            let handlers: Vec<Atom> = inside(trak, b"mdia")
                .iter()
                .flat_map(|mdia| inside(mdia, b"hdlr"))
                .collect();
            handlers.len() == 1
                && data.get(handlers[0].content + 8..handlers[0].content + 12) == Some(b"soun")
        })
}

fn clean_atom(data: &mut [u8], atom: &Atom, removed: &mut Removed) -> Result<(), CleanError> {
    let kind = &atom.kind;
    if METADATA.contains(&kind) {
        for what in describe(data, atom) {
            removed.add(what);
        }
        data[atom.start + 4..atom.start + 8].copy_from_slice(b"free");
        data[atom.content..atom.end].fill(0);
    } else if FILLER.contains(&kind) {
        data[atom.content..atom.end].fill(0);
    } else if matches!(kind, b"mvhd" | b"tkhd" | b"mdhd") {
        // version 0: two 32-bit times after version and flags; version 1: 64-bit
        let width = if data.get(atom.content) == Some(&1) {
            16
        } else {
            8
        };
        let times = data.get_mut(atom.content + 4..atom.content + 4 + width);
        let times = times.ok_or_else(|| CleanError::damaged("M4A"))?;
        if times.iter().any(|&b| b != 0) {
            times.fill(0);
            removed.add("creation and modification times");
        }
    } else if CONTAINERS.contains(&kind) {
        for child in atoms(data, atom.content, atom.end)? {
            clean_atom(data, &child, removed)?;
        }
    }
    Ok(())
}

/// What a metadata box held, in words: tag names, a location, or its type.
fn describe(data: &[u8], atom: &Atom) -> Vec<String> {
    let children = |from: usize| atoms(data, from, atom.end).unwrap_or_default();
    match &atom.kind {
        b"udta" => children(atom.content)
            .iter()
            .flat_map(|child| match &child.kind {
                b"meta" => describe(data, child),
                b"\xA9xyz" => vec!["recording location (\u{a9}xyz)".into()],
                other => vec![format!("user data ({})", latin1(other))],
            })
            .collect(),
        b"meta" => {
            // ISO meta boxes carry version and flags before their children,
            // QuickTime ones do not
            let quicktime = data.get(atom.content + 4..atom.content + 8) == Some(b"hdlr");
            let from = atom.content + if quicktime { 0 } else { 4 };
            let tags: Vec<String> = children(from)
                .iter()
                .filter(|child| &child.kind == b"ilst")
                .flat_map(|ilst| atoms(data, ilst.content, ilst.end).unwrap_or_default())
                .map(|item| latin1(&item.kind))
                .collect();
            vec![described("iTunes tags", &tags)]
        }
        b"uuid" => vec!["XMP or vendor data (uuid)".into()],
        other => vec![format!("metadata ({})", latin1(other))],
    }
}

/// Box types are bytes (Apple's start with 0xA9, ©), read as Latin-1.
fn latin1(kind: &[u8]) -> String {
    kind.iter().map(|&b| char::from(b)).collect()
}
