//! Media files built in code for the attachment tests: real, decodable files
//! carrying the metadata a phone or an office program leaves in them, and
//! polyglots that hide a second file or a script. Shared with the unit tests
//! of `src/attachments/clean.rs`, which include this file by path, so it uses
//! nothing of the integration suite.
//!
//! The identifying values are constants, so a test can search a cleaned file
//! for them byte by byte.

/// Camera maker, model and serial number written into the EXIF fixtures.
pub const CAMERA_MAKE: &str = "Canon";
pub const CAMERA_MODEL: &str = "Canon EOS 5D Mark IV";
pub const CAMERA_SERIAL: &str = "SN0123456789";
pub const TAKEN_AT: &str = "2026:11:29 10:42:17";
/// The author in PNG text, WAV INFO, ID3, Ogg comments, M4A tags and PDF info.
pub const AUTHOR: &str = "Amira Haddad";
/// The GPS latitude 42 deg 39' 28.34" as EXIF writes it: three big-endian
/// rationals. Found in a file, it means the position is still there.
pub const GPS_LATITUDE: [u8; 24] = [
    0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0, 39, 0, 0, 0, 1, 0, 0, 0x0B, 0x12, 0, 0, 0, 100,
];
/// The longitude 21 deg 9' 55.12".
pub const GPS_LONGITUDE: [u8; 24] = [
    0, 0, 0, 21, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0x15, 0x88, 0, 0, 0, 100,
];
/// XMP packet placed in JPEG, WebP and PDF fixtures.
pub const XMP: &str = "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta \
    xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\
    <rdf:Description xmlns:dc='http://purl.org/dc/elements/1.1/' dc:creator='Amira Haddad'/>\
    </rdf:RDF></x:xmpmeta><?xpacket end='w'?>";
/// A script payload for polyglots.
pub const SCRIPT: &str = "<script>fetch('/api/v1/users/me').then(r=>r.text()).then(alert)</script>";
/// The start of a ZIP archive, appended to images to make polyglots.
pub const ZIP_HEAD: &[u8] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00payload.html";

/// Width and height of the image fixtures.
pub const WIDTH: u16 = 16;
pub const HEIGHT: u16 = 16;

// ---------------------------------------------------------------- EXIF

/// One TIFF directory entry: tag, type, count, value bytes (big-endian).
type Entry = (u16, u16, u32, Vec<u8>);

const ASCII: u16 = 2;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

fn ascii(tag: u16, text: &str) -> Entry {
    let mut value = text.as_bytes().to_vec();
    value.push(0);
    (tag, ASCII, value.len() as u32, value)
}

/// A TIFF directory placed at `start`, with values longer than four bytes
/// right after the entries.
fn ifd(start: u32, entries: &[Entry], next: u32) -> Vec<u8> {
    let mut data_at = start + 2 + 12 * entries.len() as u32 + 4;
    let mut table = (entries.len() as u16).to_be_bytes().to_vec();
    let mut data = Vec::new();
    for (tag, kind, count, value) in entries {
        table.extend_from_slice(&tag.to_be_bytes());
        table.extend_from_slice(&kind.to_be_bytes());
        table.extend_from_slice(&count.to_be_bytes());
        if value.len() <= 4 {
            let mut inline = value.clone();
            inline.resize(4, 0);
            table.extend_from_slice(&inline);
        } else {
            table.extend_from_slice(&data_at.to_be_bytes());
            data.extend_from_slice(value);
            if value.len() % 2 == 1 {
                data.push(0);
            }
            data_at += value.len().next_multiple_of(2) as u32;
        }
    }
    table.extend_from_slice(&next.to_be_bytes());
    table.extend_from_slice(&data);
    table
}

/// A big-endian TIFF structure as EXIF holds it: camera make, model, time,
/// serial number and a GPS position (without the `Exif\0\0` prefix).
pub fn exif_tiff() -> Vec<u8> {
    let pointer = |tag: u16, at: u32| (tag, LONG, 1, at.to_be_bytes().to_vec());
    let ifd0 = |exif_at: u32, gps_at: u32| {
        vec![
            ascii(0x010F, CAMERA_MAKE),
            ascii(0x0110, CAMERA_MODEL),
            ascii(0x0132, TAKEN_AT),
            pointer(0x8769, exif_at),
            pointer(0x8825, gps_at),
        ]
    };
    let first = ifd(8, &ifd0(0, 0), 0);
    let exif_at = 8 + first.len() as u32;
    let exif = ifd(
        exif_at,
        &[ascii(0x9003, TAKEN_AT), ascii(0xA431, CAMERA_SERIAL)],
        0,
    );
    let gps_at = exif_at + exif.len() as u32;
    let gps = ifd(
        gps_at,
        &[
            ascii(0x0001, "N"),
            (0x0002, RATIONAL, 3, GPS_LATITUDE.to_vec()),
            ascii(0x0003, "E"),
            (0x0004, RATIONAL, 3, GPS_LONGITUDE.to_vec()),
        ],
        0,
    );
    let mut tiff = b"MM\0*\0\0\0\x08".to_vec();
    tiff.extend(ifd(8, &ifd0(exif_at, gps_at), 0));
    tiff.extend(exif);
    tiff.extend(gps);
    tiff
}

/// EXIF as JPEG's APP1 and WebP's EXIF chunk carry it.
pub fn exif_block() -> Vec<u8> {
    let mut block = b"Exif\0\0".to_vec();
    block.extend(exif_tiff());
    block
}

// ---------------------------------------------------------------- JPEG

fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Bits written most significant first, 0xFF bytes stuffed with 0x00.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    byte: u8,
    used: u8,
}

impl Bits {
    fn put(&mut self, value: u32, count: u8) {
        for i in (0..count).rev() {
            self.byte = (self.byte << 1) | ((value >> i) & 1) as u8;
            self.used += 1;
            if self.used == 8 {
                self.out.push(self.byte);
                if self.byte == 0xFF {
                    self.out.push(0);
                }
                (self.byte, self.used) = (0, 0);
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.used != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

/// The DC levels of the four 8x8 blocks: a picture of four grey squares.
pub const JPEG_DC: [i32; 4] = [-400, 160, 480, -80];

/// The coding segments and the scan of a 16x16 greyscale baseline JPEG,
/// from DQT to EOI, hand-assembled: every Huffman code of the DC table is
/// four bits long (categories 0 to 11), the AC table holds only EOB ("0").
pub fn jpeg_image_data() -> Vec<u8> {
    let mut out = segment(0xDB, &[[0u8].as_slice(), &[1u8; 64]].concat());
    out.extend(segment(
        0xC0,
        &[8, 0, HEIGHT as u8, 0, WIDTH as u8, 1, 1, 0x11, 0],
    ));
    let mut dc = vec![0x00];
    dc.extend([0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    dc.extend(0..12u8);
    out.extend(segment(0xC4, &dc));
    let mut ac = vec![0x10, 1];
    ac.extend([0u8; 15]);
    ac.push(0x00);
    out.extend(segment(0xC4, &ac));
    out.extend(segment(0xDA, &[1, 1, 0x00, 0, 63, 0]));
    let mut bits = Bits::default();
    let mut previous = 0;
    for level in JPEG_DC {
        let diff = level - previous;
        previous = level;
        let category = 32 - diff.unsigned_abs().leading_zeros();
        bits.put(category, 4);
        let extra = if diff < 0 {
            diff + (1 << category) - 1
        } else {
            diff
        };
        bits.put(extra as u32, category as u8);
        bits.put(0, 1);
    }
    out.extend(bits.finish());
    out.extend([0xFF, 0xD9]);
    out
}

/// The JPEG a phone would send: JFIF, EXIF with GPS and camera, XMP,
/// IPTC, a comment, an ICC profile, then the image.
pub fn jpeg_with_metadata() -> Vec<u8> {
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(XMP.as_bytes());
    let mut iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x10\x1c\x02\x50\0\x0c".to_vec();
    iptc.extend_from_slice(AUTHOR.as_bytes());
    let mut out = vec![0xFF, 0xD8];
    out.extend(segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"));
    out.extend(segment(0xE1, &exif_block()));
    out.extend(segment(0xE1, &xmp));
    out.extend(segment(0xED, &iptc));
    out.extend(segment(0xFE, format!("taken by {AUTHOR}").as_bytes()));
    out.extend(segment(0xE2, &icc_segment()));
    out.extend(jpeg_image_data());
    out
}

/// An APP2 ICC profile segment (a stub profile: the cleaner keeps it as is).
pub fn icc_segment() -> Vec<u8> {
    let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc.extend_from_slice(&icc_profile());
    icc
}

/// A tiny ICC profile header; colour, not identity.
pub fn icc_profile() -> Vec<u8> {
    let mut profile = vec![0u8; 128];
    profile[..4].copy_from_slice(&128u32.to_be_bytes());
    profile[12..16].copy_from_slice(b"mntr");
    profile[16..20].copy_from_slice(b"GRAY");
    profile[36..40].copy_from_slice(b"acsp");
    profile
}

/// A JPEG without any metadata.
pub fn jpeg_plain() -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend(jpeg_image_data());
    out
}

/// The bytes from the first SOS marker to the end of the image (EOI).
pub fn jpeg_scan(jpeg: &[u8]) -> &[u8] {
    let at = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .expect("an SOS marker");
    let end = jpeg
        .windows(2)
        .rposition(|w| w == [0xFF, 0xD9])
        .expect("an EOI marker");
    &jpeg[at..end + 2]
}

// ---------------------------------------------------------------- PNG

/// The grey levels of the PNG fixture's pixels, row by row.
pub fn png_pixels() -> Vec<u8> {
    (0..u32::from(WIDTH) * u32::from(HEIGHT))
        .map(|i| (i * 7 % 251) as u8)
        .collect()
}

/// A greyscale PNG with an author, a comment, a modification time and EXIF.
pub fn png_with_metadata() -> Vec<u8> {
    png_with_text(&[("Author", AUTHOR), ("Comment", "near the north gate")])
}

/// A PNG whose text chunks hold `texts` (keyword, text), with tIME and eXIf.
pub fn png_with_text(texts: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, u32::from(WIDTH), u32::from(HEIGHT));
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    for (keyword, text) in texts {
        encoder
            .add_text_chunk((*keyword).to_owned(), (*text).to_owned())
            .expect("a text chunk");
    }
    let mut writer = encoder.write_header().expect("a PNG header");
    writer
        .write_chunk(
            png::chunk::ChunkType(*b"tIME"),
            &[7, 234, 11, 29, 10, 42, 17],
        )
        .expect("tIME");
    writer
        .write_chunk(png::chunk::ChunkType(*b"eXIf"), &exif_tiff())
        .expect("eXIf");
    writer.write_image_data(&png_pixels()).expect("pixels");
    writer.finish().expect("IEND");
    out
}

/// Decodes a PNG: (width, height, pixels).
pub fn png_decode(data: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(data))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// Decodes a JPEG: (width, height, pixels).
pub fn jpeg_decode(data: &[u8]) -> (u16, u16, Vec<u8>) {
    let mut decoder = jpeg_decoder::Decoder::new(data);
    let pixels = decoder.decode().expect("a JPEG");
    let info = decoder.info().expect("its header");
    (info.width, info.height, pixels)
}
