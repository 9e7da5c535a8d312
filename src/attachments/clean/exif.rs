//! Naming what an EXIF block held, so the uploader learns what was removed
//! ("EXIF (GPS position, camera make and model, serial number)"). Only the
//! tags are looked at; the block is dropped whole whatever it holds.

/// A description of the TIFF structure `tiff` (EXIF without its `Exif\0\0`
/// prefix): "EXIF" and the categories of what it held.
pub(super) fn describe(tiff: &[u8]) -> String {
    let mut found = Vec::new();
    let mut note = |what: &'static str| {
        if !found.contains(&what) {
            found.push(what);
        }
    };
    if let Some(reader) = Tiff::new(tiff) {
        let first = reader.u32(4).unwrap_or(0);
        let (tags, next) = reader.ifd(first);
        for (tag, value) in tags {
            match tag {
                0x8825 => note("GPS position"),
                0x010F | 0x0110 => note("camera make and model"),
                0x0132 => note("date and time"),
                0x0131 => note("software"),
                0x013B | 0x8298 => note("author and copyright"),
                0xC62F => note("serial number"),
                0x8769 => {
                    for (tag, _) in reader.ifd(value).0 {
                        match tag {
                            0xA431 | 0xA435 | 0xC62F => note("serial number"),
                            0x9003 | 0x9004 => note("date and time"),
                            0xA430 => note("owner name"),
                            0xA434 => note("lens model"),
                            0x927C => note("maker notes"),
                            0x9286 => note("user comment"),
                            0xA420 => note("unique image id"),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if next != 0 {
            note("thumbnail");
        }
    }
    let names: Vec<String> = found.into_iter().map(str::to_owned).collect();
    super::described("EXIF", &names)
}

/// A TIFF header's byte order over its data; every read is bounds-checked.
struct Tiff<'a> {
    data: &'a [u8],
    little: bool,
}

impl<'a> Tiff<'a> {
    fn new(data: &'a [u8]) -> Option<Self> {
        let little = match data.get(..4)? {
            b"II*\0" => true,
            b"MM\0*" => false,
            _ => return None,
        };
        Some(Tiff { data, little })
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let bytes = self.data.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let bytes = self.data.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    /// The (tag, value or offset) pairs of the IFD at `offset`, and the offset
    /// of the next IFD (0 when none or unreadable).
    fn ifd(&self, offset: u32) -> (Vec<(u16, u32)>, u32) {
        let start = offset as usize;
        let Some(count) = self.u16(start) else {
            return (Vec::new(), 0);
        };
        let entries = (0..usize::from(count))
            .map_while(|i| {
                let at = start + 2 + i * 12;
                Some((self.u16(at)?, self.u32(at + 8)?))
            })
            .collect();
        let next = self.u32(start + 2 + usize::from(count) * 12).unwrap_or(0);
        (entries, next)
    }
}
