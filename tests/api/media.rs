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

// ---------------------------------------------------------------- WebP

/// A lossless WebP of the PNG fixture's pixels with EXIF, XMP and an ICC profile.
pub fn webp_with_metadata() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image_webp::WebPEncoder::new(&mut out);
    encoder.set_exif_metadata(exif_block()[6..].to_vec());
    encoder.set_xmp_metadata(XMP.as_bytes().to_vec());
    encoder.set_icc_profile(icc_profile());
    encoder
        .encode(
            &png_pixels(),
            u32::from(WIDTH),
            u32::from(HEIGHT),
            image_webp::ColorType::L8,
        )
        .expect("a WebP");
    out
}

/// Decodes a WebP: (width, height, RGB pixels, whether it announces EXIF).
pub fn webp_decode(data: &[u8]) -> (u32, u32, Vec<u8>, bool) {
    let mut decoder =
        image_webp::WebPDecoder::new(std::io::Cursor::new(data)).expect("a WebP header");
    let (width, height) = decoder.dimensions();
    let mut pixels = vec![0; decoder.output_buffer_size().expect("a size")];
    decoder.read_image(&mut pixels).expect("pixels");
    let exif = decoder.exif_metadata().expect("readable").is_some();
    (width, height, pixels, exif)
}

// ---------------------------------------------------------------- audio

/// Deterministic noise standing in for compressed sound.
pub fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Ten MPEG-1 layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each).
pub fn mp3_frames() -> Vec<u8> {
    (0..10u32)
        .flat_map(|i| {
            let mut frame = vec![0xFF, 0xFB, 0x90, 0x00];
            frame.extend(noise(413, i));
            frame
        })
        .collect()
}

fn id3_frame(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut frame = id.to_vec();
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(body);
    frame
}

/// An MP3 as a recorder app writes it: ID3v2.3 (title, artist, comment),
/// the frames, an ID3v1 tag.
pub fn mp3_with_tags() -> Vec<u8> {
    let mut frames = id3_frame(b"TIT2", b"\0Statement at the north gate");
    frames.extend(id3_frame(b"TPE1", format!("\0{AUTHOR}").as_bytes()));
    frames.extend(id3_frame(b"COMM", b"\0eng\0recorded 2026-11-29 10:42"));
    frames.extend([0u8; 32]); // padding
    let size = frames.len() as u32;
    let mut out = b"ID3\x03\0\0".to_vec();
    out.extend([21, 14, 7, 0].map(|shift| ((size >> shift) & 0x7F) as u8));
    out.extend(frames);
    out.extend(mp3_frames());
    let mut v1 = b"TAG".to_vec();
    for (text, width) in [
        ("Statement", 30),
        (AUTHOR, 30),
        ("", 30),
        ("2026", 4),
        ("north gate", 30),
    ] {
        let mut field = text.as_bytes().to_vec();
        field.resize(width, 0);
        v1.extend(field);
    }
    v1.push(255);
    out.extend(v1);
    out
}

/// A mono 8 kHz 16-bit WAV with a LIST/INFO chunk (title, artist, comment).
pub fn wav_with_info() -> Vec<u8> {
    let chunk = |id: &[u8; 4], body: &[u8]| {
        let mut out = id.to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
        out
    };
    let mut info = b"INFO".to_vec();
    info.extend(chunk(b"INAM", b"Statement\0"));
    info.extend(chunk(b"IART", format!("{AUTHOR}\0").as_bytes()));
    info.extend(chunk(b"ICMT", b"north gate\0"));
    let mut body = b"WAVE".to_vec();
    body.extend(chunk(
        b"fmt ",
        &[1, 0, 1, 0, 0x40, 0x1F, 0, 0, 0x80, 0x3E, 0, 0, 2, 0, 16, 0],
    ));
    body.extend(chunk(b"LIST", &info));
    body.extend(chunk(b"data", &wav_samples()));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// The sound of the WAV fixture.
pub fn wav_samples() -> Vec<u8> {
    noise(4000, 7)
}

/// CRC-32 as Ogg computes it (polynomial 0x04C11DB7, not reflected).
fn ogg_crc(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |crc, &byte| {
        (0..8).fold(crc ^ (u32::from(byte) << 24), |crc, _| {
            if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            }
        })
    })
}

fn ogg_page(flags: u8, granule: u64, sequence: u32, packet: &[u8]) -> Vec<u8> {
    let mut lacing = vec![255u8; packet.len() / 255];
    lacing.push((packet.len() % 255) as u8);
    let mut page = b"OggS\0".to_vec();
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&0x0B45_E5A7u32.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]);
    page.push(lacing.len() as u8);
    page.extend(lacing);
    page.extend_from_slice(packet);
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// The audio packets of the Ogg fixture (Opus, 20 ms each).
pub fn opus_packets() -> Vec<Vec<u8>> {
    (0..8u32)
        .map(|i| [vec![0xF8], noise(60, 100 + i)].concat())
        .collect()
}

/// An Ogg Opus recording, as a messaging app sends a voice note, with
/// comments naming the speaker and the place.
pub fn ogg_with_comments() -> Vec<u8> {
    let head = b"OpusHead\x01\x01\x38\x01\x80\xBB\0\0\0\0\0";
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"libopus 1.4";
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    let comments = [
        format!("ARTIST={AUTHOR}"),
        "TITLE=Statement".into(),
        "LOCATION=north gate".into(),
    ];
    tags.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for comment in &comments {
        tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
        tags.extend_from_slice(comment.as_bytes());
    }
    let mut out = ogg_page(0x02, 0, 0, head);
    out.extend(ogg_page(0, 0, 1, &tags));
    let packets = opus_packets();
    for (i, packet) in packets.iter().enumerate() {
        let last = i + 1 == packets.len();
        out.extend(ogg_page(
            if last { 0x04 } else { 0 },
            960 * (i as u64 + 1),
            i as u32 + 2,
            packet,
        ));
    }
    out
}

// ---------------------------------------------------------------- M4A

fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32 + 8).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

fn full_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    mp4_box(kind, &[&[0, 0, 0, 0], body].concat())
}

/// Seconds since 1904 of 2026-11-29, the recording time in the M4A headers.
pub const MP4_TIME: u32 = 3_847_602_137;

/// The audio samples of the M4A fixture.
pub fn m4a_samples() -> Vec<Vec<u8>> {
    (0..6u32).map(|i| noise(90, 200 + i)).collect()
}

fn m4a_moov(chunk_offset: u32, handler: &[u8; 4]) -> Vec<u8> {
    let time = MP4_TIME.to_be_bytes();
    let matrix: Vec<u8> = [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
        .iter()
        .flat_map(|n| n.to_be_bytes())
        .collect();
    let samples = m4a_samples();
    let count = samples.len() as u32;
    let mvhd = full_box(
        b"mvhd",
        &[
            &time[..],
            &time,
            &44_100u32.to_be_bytes(),
            &(count * 1024).to_be_bytes(),
            &0x0001_0000u32.to_be_bytes(),
            &[1, 0],
            &[0; 10],
            &matrix,
            &[0; 24],
            &2u32.to_be_bytes(),
        ]
        .concat(),
    );
    let tkhd = mp4_box(
        b"tkhd",
        &[
            &[0, 0, 0, 7][..],
            &time,
            &time,
            &1u32.to_be_bytes(),
            &[0; 4],
            &(count * 1024).to_be_bytes(),
            &[0; 8],
            &[0; 4],
            &[1, 0, 0, 0],
            &matrix,
            &[0; 8],
        ]
        .concat(),
    );
    let mdhd = full_box(
        b"mdhd",
        &[
            &time[..],
            &time,
            &44_100u32.to_be_bytes(),
            &(count * 1024).to_be_bytes(),
            &[0x55, 0xC4, 0, 0],
        ]
        .concat(),
    );
    let hdlr = full_box(
        b"hdlr",
        &[&[0; 4][..], handler, &[0; 12], b"SoundHandler\0"].concat(),
    );
    let esds = full_box(
        b"esds",
        &[
            3, 25, 0, 1, 0, 4, 17, 0x40, 0x15, 0, 0, 0, 0, 1, 0xF4, 0, 0, 1, 0xF4, 0, 5, 2, 0x12,
            0x08, 6, 1, 2,
        ],
    );
    let mp4a = mp4_box(
        b"mp4a",
        &[
            &[0; 6][..],
            &[0, 1],
            &[0; 8],
            &[0, 1, 0, 16],
            &[0; 4],
            &(44_100u32 << 16).to_be_bytes(),
            &esds,
        ]
        .concat(),
    );
    let stsd = full_box(b"stsd", &[&1u32.to_be_bytes()[..], &mp4a].concat());
    let stts = full_box(
        b"stts",
        &[1u32, count, 1024]
            .iter()
            .flat_map(|n| n.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let stsc = full_box(
        b"stsc",
        &[1u32, 1, count, 1]
            .iter()
            .flat_map(|n| n.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let mut sizes = [0u32, count]
        .iter()
        .flat_map(|n| n.to_be_bytes())
        .collect::<Vec<_>>();
    sizes.extend(samples.iter().flat_map(|s| (s.len() as u32).to_be_bytes()));
    let stsz = full_box(b"stsz", &sizes);
    let stco = full_box(
        b"stco",
        &[1u32, chunk_offset]
            .iter()
            .flat_map(|n| n.to_be_bytes())
            .collect::<Vec<_>>(),
    );
    let stbl = mp4_box(b"stbl", &[stsd, stts, stsc, stsz, stco].concat());
    let dinf = mp4_box(
        b"dinf",
        &full_box(
            b"dref",
            &[&1u32.to_be_bytes()[..], &mp4_box(b"url ", &[0, 0, 0, 1])].concat(),
        ),
    );
    let minf = mp4_box(b"minf", &[full_box(b"smhd", &[0; 4]), dinf, stbl].concat());
    let mdia = mp4_box(b"mdia", &[mdhd, hdlr, minf].concat());
    let trak = mp4_box(b"trak", &[tkhd, mdia].concat());
    let text = |kind: &[u8; 4], value: &str| {
        mp4_box(
            kind,
            &mp4_box(
                b"data",
                &[&[0, 0, 0, 1, 0, 0, 0, 0][..], value.as_bytes()].concat(),
            ),
        )
    };
    let ilst = mp4_box(
        b"ilst",
        &[
            text(b"\xA9nam", "Statement"),
            text(b"\xA9ART", AUTHOR),
            text(b"\xA9day", "2026-11-29"),
        ]
        .concat(),
    );
    let meta_hdlr = full_box(
        b"hdlr",
        &[&[0; 4][..], b"mdir", b"appl", &[0; 8], b"\0"].concat(),
    );
    let meta = full_box(b"meta", &[meta_hdlr, ilst].concat());
    let location = "+42.6578+021.1653/";
    let xyz = mp4_box(
        b"\xA9xyz",
        &[
            &(location.len() as u16).to_be_bytes()[..],
            &[0x15, 0xC7],
            location.as_bytes(),
        ]
        .concat(),
    );
    let udta = mp4_box(b"udta", &[meta, xyz].concat());
    mp4_box(b"moov", &[mvhd, trak, udta].concat())
}

/// An M4A voice memo: iTunes tags (title, artist, date), a recording
/// location, and recording times in the headers.
pub fn m4a_with_tags() -> Vec<u8> {
    mp4_with_tags(b"M4A ", b"soun")
}

/// [`m4a_with_tags`] with another major brand (Android recorders write
/// `mp42` or `isom`) and track handler (`vide` for a video).
pub fn mp4_with_tags(brand: &[u8; 4], handler: &[u8; 4]) -> Vec<u8> {
    let ftyp = mp4_box(b"ftyp", &[&brand[..], b"\0\0\0\0M4A mp42isom"].concat());
    let offset = (ftyp.len() + m4a_moov(0, handler).len() + 8) as u32;
    let mut out = ftyp;
    out.extend(m4a_moov(offset, handler));
    out.extend(mp4_box(b"mdat", &m4a_samples().concat()));
    out
}

// ---------------------------------------------------------------- PDF

/// The text on the PDF fixture's page.
pub const PDF_TEXT: &str = "Work contract: hostess at the Blue Bar";

/// A one-page PDF as an office program writes it: an information
/// dictionary (author, creator, producer, dates), XMP on the catalog and the
/// page, and a file identifier.
pub fn pdf_document() -> lopdf::Document {
    use lopdf::content::{Content, Operation};
    use lopdf::{Object, Stream, StringFormat, dictionary};
    let mut doc = lopdf::Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
            Operation::new("Tj", vec![Object::string_literal(PDF_TEXT)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        content.encode().expect("content"),
    ));
    let xmp = |doc: &mut lopdf::Document| {
        doc.add_object(Stream::new(
            dictionary! { "Type" => "Metadata", "Subtype" => "XML" },
            XMP.as_bytes().to_vec(),
        ))
    };
    let page_xmp = xmp(&mut doc);
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id, "Metadata" => page_xmp,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_xmp = xmp(&mut doc);
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog", "Pages" => pages_id, "Metadata" => catalog_xmp,
    });
    let info_id = doc.add_object(dictionary! {
        "Author" => Object::string_literal(AUTHOR),
        "Creator" => Object::string_literal("Microsoft Word for Microsoft 365"),
        "Producer" => Object::string_literal("Acrobat PDFMaker 23"),
        "CreationDate" => Object::string_literal("D:20261129104217+01'00'"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    let id = Object::String(
        b"\x8d\x01\x6a\x11\xff\x00\x42\x99".to_vec(),
        StringFormat::Hexadecimal,
    );
    doc.trailer.set("ID", vec![id.clone(), id]);
    doc
}

/// The bytes of a document.
pub fn pdf_bytes(doc: &mut lopdf::Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("a PDF");
    out
}

/// [`pdf_document`] as bytes.
pub fn pdf_with_metadata() -> Vec<u8> {
    pdf_bytes(&mut pdf_document())
}

/// [`pdf_document`] with `key` => `value` added to its catalog (an
/// `OpenAction` with JavaScript, `Names` with embedded files...).
pub fn pdf_with_catalog_entry(key: &str, value: lopdf::Object) -> Vec<u8> {
    let mut doc = pdf_document();
    pdf_catalog(&mut doc).set(key, value);
    pdf_bytes(&mut doc)
}

/// The catalog of a document (the trailer's `/Root`).
pub fn pdf_catalog(doc: &mut lopdf::Document) -> &mut lopdf::Dictionary {
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(lopdf::Object::as_reference)
        .expect("a root");
    doc.get_dictionary_mut(root).expect("the catalog")
}

/// A decompression bomb: [`pdf_document`] with an object stream of a few KB
/// holding an array of 3 million zeros, which inflates to megabytes and to
/// far more once parsed.
pub fn pdf_bomb() -> Vec<u8> {
    let mut doc = pdf_document();
    let zeros = doc.add_object(lopdf::Object::Array(vec![0.into(); 3_000_000]));
    pdf_catalog(&mut doc).set("Big", zeros);
    let mut bomb = Vec::new();
    doc.save_modern(&mut bomb)
        .expect("a PDF with object streams");
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    bomb
}

/// Who wrote the notes on the annotated PDF, when, and what they say.
pub const ANNOTATION_AUTHOR: &str = "Sgt. Pieter Vos";
pub const ANNOTATION_MODIFIED: &str = "D:20261128093011+01'00'";
pub const ANNOTATION_CREATED: &str = "D:20261127221503+01'00'";
pub const ANNOTATION_TEXT: &str = "Second bar behind the checkpoint";

/// [`pdf_document`] with two notes on its page, as a reader program leaves
/// them: a sticky note (`/Type /Annot`) and a highlight without `/Type`
/// (only the page's `/Annots` says it is an annotation), each with its
/// author (`/T`), modification and creation dates and a name (`/NM`).
pub fn pdf_with_annotations() -> Vec<u8> {
    use lopdf::{Object, dictionary};
    let mut doc = pdf_document();
    let page = doc.get_pages()[&1];
    let note = doc.add_object(dictionary! {
        "Type" => "Annot", "Subtype" => "Text",
        "Rect" => vec![72.into(), 700.into(), 92.into(), 720.into()],
        "Contents" => Object::string_literal(ANNOTATION_TEXT),
        "T" => Object::string_literal(ANNOTATION_AUTHOR),
        "M" => Object::string_literal(ANNOTATION_MODIFIED),
        "CreationDate" => Object::string_literal(ANNOTATION_CREATED),
        "NM" => Object::string_literal("a81f-note-1"),
    });
    let highlight = doc.add_object(dictionary! {
        "Subtype" => "Highlight",
        "Rect" => vec![72.into(), 716.into(), 300.into(), 732.into()],
        "QuadPoints" => vec![
            72.into(), 732.into(), 300.into(), 732.into(),
            72.into(), 716.into(), 300.into(), 716.into(),
        ],
        "T" => Object::string_literal(ANNOTATION_AUTHOR),
        "M" => Object::string_literal(ANNOTATION_MODIFIED),
    });
    doc.get_dictionary_mut(page)
        .expect("the page")
        .set("Annots", vec![note.into(), highlight.into()]);
    pdf_bytes(&mut doc)
}

/// A PDF written by hand: objects 1.. (the first a catalog, 2 the page tree,
/// 3 the page), a classic cross-reference table, `trailer` in the trailer.
pub fn raw_pdf(objects: &[&[u8]], trailer: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A one-page PDF with `catalog` added to its catalog and `more` as objects 4...
pub fn simple_pdf(catalog: &str, page: &str, more: &[&[u8]]) -> Vec<u8> {
    let catalog = format!("<< /Type /Catalog /Pages 2 0 R {catalog} >>");
    let page = format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] {page} >>");
    let mut objects: Vec<&[u8]> = vec![
        catalog.as_bytes(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        page.as_bytes(),
    ];
    objects.extend_from_slice(more);
    raw_pdf(&objects, "")
}
