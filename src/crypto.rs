//! Encryption at rest of what reporters write in their own words.
//!
//! Narratives are sealed with AES-256-GCM under the current data key, with a
//! fresh 96-bit nonce each time and the incident's id as associated data (a
//! sealed narrative copied onto another row does not open). Each row keeps the
//! id of the key that sealed it, so keys rotate without downtime: instances run
//! with the new key and the retired ones, `basewatch rotate-data-key`
//! re-seals the rows still under a retired key, and the retired key can go.
//!
//! The same keys also seal reviewers' comments and override reasons, and key
//! the content hash that recognises an offline re-send: HMAC-SHA256 under a
//! sub-key derived from the data key (HKDF-Expand, RFC 5869, with the data key
//! as the pseudorandom key), so a stolen database copy cannot confirm a guessed
//! narrative against it, and the AES key itself is never used for anything else.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

const NONCE_BYTES: usize = 12;
pub const KEY_HEX_CHARS: usize = 64;

/// A sealed value and the id of the key that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub text: String,
}

/// A keyed hash (hex HMAC-SHA256) and the id of the data key it was derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedHash {
    pub key_id: String,
    pub hex: String,
}

/// HKDF-Expand's `info` for the content-hash sub-key: naming the purpose keeps
/// this sub-key apart from any other that may be derived later.
const CONTENT_HASH_INFO: &[u8] = b"basewatch incident content hash v1";
/// HKDF-Expand's `info` for the sub-key that derives each attachment's own key.
const ATTACHMENT_KEY_INFO: &[u8] = b"basewatch attachment key v1";

struct Key {
    id: String,
    cipher: Aes256Gcm,
    /// Keyed with the content-hash sub-key, ready to be cloned per message.
    content_mac: HmacSha256,
    /// Keyed with the attachment sub-key: HMAC(sub-key, salt) is an attachment's key.
    attachment_kdf: HmacSha256,
}

impl Key {
    fn parse(hex: &str) -> Result<Self, String> {
        let hex = hex.trim();
        if hex.len() != KEY_HEX_CHARS || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "a data key is {KEY_HEX_CHARS} hexadecimal characters (32 random bytes, e.g. `openssl rand -hex 32`)"
            ));
        }
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex"))
            .collect();
        // The id names the key without revealing it.
        let digest = Sha256::new()
            .chain_update(b"basewatch data key id\0")
            .chain_update(&bytes)
            .finalize();
        let id = to_hex(&digest[..8]);
        let cipher = Aes256Gcm::new_from_slice(&bytes).expect("32-byte key");
        let content_mac =
            <HmacSha256 as Mac>::new_from_slice(&derive_sub_key(&bytes, CONTENT_HASH_INFO))
                .expect("HMAC takes any key length");
        let attachment_kdf =
            <HmacSha256 as Mac>::new_from_slice(&derive_sub_key(&bytes, ATTACHMENT_KEY_INFO))
                .expect("HMAC takes any key length");
        Ok(Self {
            id,
            cipher,
            content_mac,
            attachment_kdf,
        })
    }

    /// HMAC-SHA256 over the parts, each prefixed with its length so that no two
    /// different lists of parts give the same message.
    fn content_mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = self.content_mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

/// HKDF-Expand (RFC 5869) of one block: `HMAC(prk, info || 0x01)`. The data
/// key is 32 uniformly random bytes, so it serves as the pseudorandom key
/// without the extract step.
fn derive_sub_key(prk: &[u8], info: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(prk).expect("HMAC takes any key length");
    mac.update(info);
    mac.update(&[1]);
    mac.finalize().into_bytes().into()
}

/// Lower-case hexadecimal, two digits a byte.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` random bytes from the operating system, hex-encoded.
pub fn random_token_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    to_hex(&buf)
}

/// The current data key and the retired ones that still open old rows.
#[derive(Clone)]
pub struct DataKeys(Arc<Inner>);

struct Inner {
    current: Key,
    retired: Vec<Key>,
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeys")
            .field("current", &self.0.current.id)
            .field(
                "retired",
                &self.0.retired.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a sealed value did not open: a server fault, never the client's.
#[derive(Debug)]
pub enum OpenError {
    UnknownKey(String),
    Corrupt(String),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(id) => write!(
                f,
                "a row is sealed under data key {id}, which is neither BASEWATCH_DATA_KEY nor in BASEWATCH_RETIRED_DATA_KEYS"
            ),
            Self::Corrupt(why) => write!(f, "a sealed value does not open: {why}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl DataKeys {
    /// The current key and the retired ones, each as 64 hex characters.
    pub fn parse(current: &str, retired: &[&str]) -> Result<Self, String> {
        let current = Key::parse(current)?;
        let retired = retired
            .iter()
            .filter(|k| !k.trim().is_empty())
            .map(|k| Key::parse(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("retired key: {e}"))?;
        Ok(Self(Arc::new(Inner { current, retired })))
    }

    /// A fresh random key, as 64 hex characters.
    pub fn generate_hex() -> String {
        random_token_hex(32)
    }

    pub fn current_id(&self) -> &str {
        &self.0.current.id
    }

    fn key(&self, key_id: &str) -> Result<&Key, OpenError> {
        std::iter::once(&self.0.current)
            .chain(&self.0.retired)
            .find(|k| k.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey(key_id.to_owned()))
    }

    /// The keyed hash of a message made of `parts`, under the current key.
    pub fn content_hash(&self, parts: &[&[u8]]) -> KeyedHash {
        let key = &self.0.current;
        KeyedHash {
            key_id: key.id.clone(),
            hex: to_hex(&key.content_mac(parts).finalize().into_bytes()),
        }
    }

    /// Whether `stored` (hex) is the keyed hash of `parts` under the key named
    /// `key_id` (current or retired), compared in constant time.
    pub fn content_hash_matches(
        &self,
        key_id: &str,
        stored: &str,
        parts: &[&[u8]],
    ) -> Result<bool, OpenError> {
        let key = self.key(key_id)?;
        let Some(expected) = unhex(stored) else {
            return Ok(false);
        };
        Ok(key.content_mac(parts).verify_slice(&expected).is_ok())
    }

    /// The AES-256-GCM cipher of one attachment's chunks: a key of its own,
    /// HMAC(attachment sub-key, salt), under the data key named `key_id` (the
    /// current one when None), and that key's id. A fresh random salt per
    /// attachment (and per re-sealing) means no two streams share a key, so the
    /// STREAM construction's nonces can never repeat under one key.
    pub fn attachment_cipher(
        &self,
        key_id: Option<&str>,
        salt: &[u8],
    ) -> Result<(String, Aes256Gcm), OpenError> {
        let key = match key_id {
            Some(id) => self.key(id)?,
            None => &self.0.current,
        };
        let mut mac = key.attachment_kdf.clone();
        mac.update(salt);
        let derived = mac.finalize().into_bytes();
        Ok((
            key.id.clone(),
            Aes256Gcm::new_from_slice(&derived).expect("32-byte key"),
        ))
    }

    pub fn seal(&self, context: &str, plaintext: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        let sealed = self
            .0
            .current
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM seals any message under 64 GiB");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Sealed {
            key_id: self.0.current.id.clone(),
            text: B64.encode(bytes),
        }
    }

    /// Opens a value sealed under any known key. A row without a key id is from
    /// before encryption (plaintext) and is returned as it is until rotated.
    pub fn open(
        &self,
        context: &str,
        key_id: Option<&str>,
        text: &str,
    ) -> Result<String, OpenError> {
        let Some(key_id) = key_id else {
            return Ok(text.to_owned());
        };
        let key = self.key(key_id)?;
        let bytes = B64
            .decode(text)
            .map_err(|e| OpenError::Corrupt(e.to_string()))?;
        if bytes.len() < NONCE_BYTES + 16 {
            return Err(OpenError::Corrupt("too short".into()));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(<[u8; NONCE_BYTES]>::try_from(nonce).expect("split at the nonce")),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Corrupt("authentication failed".into()))?;
        String::from_utf8(plain).map_err(|e| OpenError::Corrupt(e.to_string()))
    }

    /// Seals an optional value: `(text, key id)` columns.
    pub fn seal_option(
        &self,
        context: &str,
        plaintext: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        match plaintext {
            Some(p) => {
                let s = self.seal(context, p);
                (Some(s.text), Some(s.key_id))
            }
            None => (None, None),
        }
    }
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn seals_and_opens_with_a_fresh_nonce_each_time() {
        let keys = DataKeys::parse(A, &[]).unwrap();
        let one = keys.seal("row-1", "she was told it was a restaurant job");
        let two = keys.seal("row-1", "she was told it was a restaurant job");
        assert_ne!(one.text, two.text);
        assert!(!one.text.contains("restaurant"));
        assert_eq!(
            keys.open("row-1", Some(&one.key_id), &one.text).unwrap(),
            "she was told it was a restaurant job"
        );
    }

    #[test]
    fn a_value_moved_to_another_row_or_edited_does_not_open() {
        let keys = DataKeys::parse(A, &[]).unwrap();
        let s = keys.seal("row-1", "text");
        assert!(matches!(
            keys.open("row-2", Some(&s.key_id), &s.text),
            Err(OpenError::Corrupt(_))
        ));
        let mut bytes = B64.decode(&s.text).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        assert!(
            keys.open("row-1", Some(&s.key_id), &B64.encode(bytes))
                .is_err()
        );
    }

    #[test]
    fn retired_keys_still_open_and_unknown_keys_are_named() {
        let old = DataKeys::parse(A, &[]).unwrap();
        let sealed = old.seal("row", "text");
        let rotated = DataKeys::parse(B, &[A]).unwrap();
        assert_ne!(rotated.current_id(), old.current_id());
        assert_eq!(
            rotated
                .open("row", Some(&sealed.key_id), &sealed.text)
                .unwrap(),
            "text"
        );
        let without = DataKeys::parse(B, &[]).unwrap();
        let err = without
            .open("row", Some(&sealed.key_id), &sealed.text)
            .unwrap_err();
        assert!(err.to_string().contains(&sealed.key_id), "{err}");
    }

    #[test]
    fn content_hashes_are_keyed_and_framed() {
        let keys = DataKeys::parse(A, &[]).unwrap();
        let h = keys.content_hash(&[b"id", b"content"]);
        assert_eq!(h.key_id, keys.current_id());
        assert_eq!(h.hex.len(), 64);
        // Not the plain SHA-256 of the message, nor of its parts joined.
        assert_ne!(h.hex, to_hex(&Sha256::digest(b"idcontent")));
        assert!(
            keys.content_hash_matches(&h.key_id, &h.hex, &[b"id", b"content"])
                .unwrap()
        );
        // The framing keeps part boundaries: ("idc", "ontent") is another message.
        assert!(
            !keys
                .content_hash_matches(&h.key_id, &h.hex, &[b"idc", b"ontent"])
                .unwrap()
        );
        assert!(!keys.content_hash_matches(&h.key_id, "zz", &[]).unwrap());
        // Another data key, another hash; a retired key still checks its own.
        let other = DataKeys::parse(B, &[A]).unwrap();
        assert_ne!(other.content_hash(&[b"id", b"content"]).hex, h.hex);
        assert!(
            other
                .content_hash_matches(&h.key_id, &h.hex, &[b"id", b"content"])
                .unwrap()
        );
        assert!(matches!(
            DataKeys::parse(B, &[])
                .unwrap()
                .content_hash_matches(&h.key_id, &h.hex, &[]),
            Err(OpenError::UnknownKey(_))
        ));
    }

    #[test]
    fn the_sub_key_is_hkdf_expand() {
        // RFC 5869 test case 1: PRK and info as given there, first 32 bytes of OKM.
        let prk = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
                        [2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect::<Vec<_>>();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        assert_eq!(
            to_hex(&derive_sub_key(&prk, &info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        for bad in ["", "short", &"zz".repeat(32), &A[..62]] {
            assert!(DataKeys::parse(bad, &[]).is_err(), "{bad:?}");
        }
        assert!(
            DataKeys::parse(A, &["nope"])
                .unwrap_err()
                .contains("retired")
        );
    }
}
