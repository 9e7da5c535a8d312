//! Attachments sealed at rest in chunks: AES-256-GCM in the STREAM
//! construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015; `aead::stream`,
//! big-endian 32-bit counter). Each 64 KiB chunk is sealed with the chunk's
//! position in the nonce and a flag on the last one, so a chunk moved, dropped,
//! repeated or cut off at the end fails to open, and so does a stream whose
//! last chunk is missing. The associated data binds every chunk to its
//! incident and attachment: chunks copied onto another attachment do not open.
//! Each attachment has its own key (`DataKeys::attachment_cipher`, from a
//! random salt), so the stream's nonce prefix can be fixed.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::Payload;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};

use crate::crypto::{DataKeys, OpenError, random_token_hex, unhex};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes of random salt per sealing.
const SALT_BYTES: usize = 16;
/// The 7-byte nonce prefix of STREAM-BE32 over a 12-byte nonce. Fixed: the key
/// is new for every sealing.
const NONCE_PREFIX: [u8; 7] = [0; 7];

fn aad(incident_id: &str, attachment_id: &str) -> Vec<u8> {
    format!("basewatch attachment v1\0{incident_id}\0{attachment_id}").into_bytes()
}

/// How many chunks `size` plaintext bytes take (an empty file: one empty chunk).
pub fn chunk_count(size: usize) -> usize {
    size.div_ceil(CHUNK).max(1)
}

/// Seals a new stream under the current data key.
pub struct Sealer {
    stream: Option<EncryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    pub key_id: String,
    /// Hex, stored beside the chunks.
    pub salt: String,
}

impl Sealer {
    pub fn new(keys: &DataKeys, incident_id: &str, attachment_id: &str) -> Self {
        let salt = random_token_hex(SALT_BYTES);
        let (key_id, cipher) = keys
            .attachment_cipher(None, &unhex(&salt).expect("hex we made"))
            .expect("the current key is known");
        Self {
            stream: Some(EncryptorBE32::from_aead(cipher, &NONCE_PREFIX.into())),
            aad: aad(incident_id, attachment_id),
            key_id,
            salt,
        }
    }

    /// Seals the next chunk; `last` for the final one (after which the sealer is spent).
    pub fn seal(&mut self, chunk: &[u8], last: bool) -> Vec<u8> {
        let payload = Payload {
            msg: chunk,
            aad: &self.aad,
        };
        let sealed = if last {
            self.stream
                .take()
                .expect("no chunk after the last")
                .encrypt_last(payload)
        } else {
            self.stream
                .as_mut()
                .expect("no chunk after the last")
                .encrypt_next(payload)
        };
        sealed.expect("AES-GCM seals any chunk under 64 GiB")
    }

    /// Seals `bytes` chunk by chunk, handing each sealed chunk and its position to `sink`.
    pub fn seal_all<E>(
        mut self,
        bytes: &[u8],
        mut sink: impl FnMut(i32, Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let count = chunk_count(bytes.len());
        for seq in 0..count {
            let end = ((seq + 1) * CHUNK).min(bytes.len());
            let sealed = self.seal(&bytes[(seq * CHUNK).min(end)..end], seq + 1 == count);
            sink(seq as i32, sealed)?;
        }
        Ok(())
    }
}

/// Opens a stream chunk by chunk, in order.
pub struct Opener {
    stream: Option<DecryptorBE32<Aes256Gcm>>,
    aad: Vec<u8>,
    next: i32,
    count: i32,
}

impl Opener {
    pub fn new(
        keys: &DataKeys,
        key_id: &str,
        salt: &str,
        incident_id: &str,
        attachment_id: &str,
        count: i32,
    ) -> Result<Self, OpenError> {
        let salt = unhex(salt).ok_or_else(|| OpenError::Corrupt("salt is not hex".into()))?;
        let (_, cipher) = keys.attachment_cipher(Some(key_id), &salt)?;
        Ok(Self {
            stream: Some(DecryptorBE32::from_aead(cipher, &NONCE_PREFIX.into())),
            aad: aad(incident_id, attachment_id),
            next: 0,
            count,
        })
    }

    /// Opens the chunk stored at `seq`, which must be the next one.
    pub fn open(&mut self, seq: i32, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if seq != self.next || seq >= self.count {
            return Err(OpenError::Corrupt(format!(
                "chunk {seq} where chunk {} of {} was expected",
                self.next, self.count
            )));
        }
        let payload = Payload {
            msg: sealed,
            aad: &self.aad,
        };
        let spent = || OpenError::Corrupt("the stream already failed".into());
        let opened = if seq + 1 == self.count {
            self.stream.take().ok_or_else(spent)?.decrypt_last(payload)
        } else {
            self.stream
                .as_mut()
                .ok_or_else(spent)?
                .decrypt_next(payload)
        };
        self.next += 1;
        opened.map_err(|_| {
            self.stream = None;
            OpenError::Corrupt(format!("chunk {seq} does not open"))
        })
    }

    /// Whether every chunk was opened (a stream cut short is not a file).
    pub fn finish(&self) -> Result<(), OpenError> {
        if self.next == self.count {
            Ok(())
        } else {
            Err(OpenError::Corrupt(format!(
                "the stream ends after {} of {} chunks",
                self.next, self.count
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn sealed(keys: &DataKeys, bytes: &[u8]) -> (String, String, Vec<Vec<u8>>) {
        let sealer = Sealer::new(keys, "inc", "att");
        let (key_id, salt) = (sealer.key_id.clone(), sealer.salt.clone());
        let mut chunks = Vec::new();
        sealer
            .seal_all(bytes, |_, c| {
                chunks.push(c);
                Ok::<_, ()>(())
            })
            .unwrap();
        (key_id, salt, chunks)
    }

    fn open_all(
        keys: &DataKeys,
        key_id: &str,
        salt: &str,
        ids: (&str, &str),
        chunks: &[Vec<u8>],
        count: i32,
    ) -> Result<Vec<u8>, OpenError> {
        let mut opener = Opener::new(keys, key_id, salt, ids.0, ids.1, count)?;
        let mut out = Vec::new();
        for (seq, c) in chunks.iter().enumerate() {
            out.extend(opener.open(seq as i32, c)?);
        }
        opener.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let keys = DataKeys::parse(A, &[]).unwrap();
        let bytes: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| (i % 251) as u8).collect();
        let (key_id, salt, chunks) = sealed(&keys, &bytes);
        assert_eq!(chunks.len(), 4);
        let ids = ("inc", "att");
        let n = chunks.len() as i32;
        assert_eq!(
            open_all(&keys, &key_id, &salt, ids, &chunks, n).unwrap(),
            bytes
        );
        // Truncated: the new last chunk was not sealed as the last.
        assert!(open_all(&keys, &key_id, &salt, ids, &chunks[..3], 3).is_err());
        assert!(open_all(&keys, &key_id, &salt, ids, &chunks[..3], n).is_err());
        // Reordered.
        let mut swapped = chunks.clone();
        swapped.swap(1, 2);
        assert!(open_all(&keys, &key_id, &salt, ids, &swapped, n).is_err());
        // Another attachment's associated data.
        assert!(open_all(&keys, &key_id, &salt, ("inc", "other"), &chunks, n).is_err());
        // A flipped bit.
        let mut flipped = chunks.clone();
        flipped[2][5] ^= 1;
        assert!(open_all(&keys, &key_id, &salt, ids, &flipped, n).is_err());
    }

    #[test]
    fn an_empty_file_is_one_sealed_chunk() {
        let keys = DataKeys::parse(A, &[]).unwrap();
        let (key_id, salt, chunks) = sealed(&keys, b"");
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            open_all(&keys, &key_id, &salt, ("inc", "att"), &chunks, 1).unwrap(),
            b""
        );
    }
}
