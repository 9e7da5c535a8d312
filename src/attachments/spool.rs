//! An upload is received whole before it waits for a cleaning turn, so a slow
//! client holds only its own upload slot, never a turn every upload needs.
//!
//! The bytes go to a temporary file that is unlinked as soon as it is made
//! (gone with the request, or with the process), sealed chunk by chunk with
//! AES-256-GCM STREAM under a key made for this upload and held only in memory:
//! what a monitor sent, metadata and all, never reaches the disk in the clear.
//! Memory per upload being received is one chunk.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::{Aes256Gcm, KeyInit};

use super::seal::CHUNK;
use crate::crypto::random_token_hex;

/// The AES-GCM tag each sealed chunk carries.
const TAG: usize = 16;
const NONCE_PREFIX: [u8; 7] = [0; 7];

/// An upload being received.
pub struct Spool {
    file: File,
    key: [u8; 32],
    stream: EncryptorBE32<Aes256Gcm>,
    pending: Vec<u8>,
    len: usize,
    chunks: usize,
}

/// An upload received whole, sealed in its unlinked file.
pub struct Received {
    file: File,
    key: [u8; 32],
    len: usize,
    chunks: usize,
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(key).expect("a 32-byte key")
}

fn broken(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

impl Spool {
    /// A new spool file in `dir` (the system's temporary directory by default).
    pub fn new(dir: Option<PathBuf>) -> io::Result<Self> {
        let path = dir
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("basewatch-upload-{}", random_token_hex(16)));
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        std::fs::remove_file(&path)?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self {
            file,
            stream: EncryptorBE32::from_aead(cipher(&key), &NONCE_PREFIX.into()),
            key,
            pending: Vec::with_capacity(CHUNK),
            len: 0,
            chunks: 0,
        })
    }

    /// Bytes received so far.
    pub fn received(&self) -> usize {
        self.len
    }

    /// Takes more of the body, sealing and writing each full chunk.
    pub fn push(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        self.len += bytes.len();
        while !bytes.is_empty() {
            let take = (CHUNK - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == CHUNK {
                let sealed = self
                    .stream
                    .encrypt_next(self.pending.as_slice())
                    .map_err(|_| broken("could not seal a chunk"))?;
                self.file.write_all(&sealed)?;
                self.pending.clear();
                self.chunks += 1;
            }
        }
        Ok(())
    }

    /// Seals the rest as the last chunk.
    pub fn finish(mut self) -> io::Result<Received> {
        let sealed = self
            .stream
            .encrypt_last(self.pending.as_slice())
            .map_err(|_| broken("could not seal a chunk"))?;
        self.file.write_all(&sealed)?;
        Ok(Received {
            file: self.file,
            key: self.key,
            len: self.len,
            chunks: self.chunks + 1,
        })
    }
}

impl Received {
    /// The whole body, opened (the file goes when this is dropped).
    pub fn read(mut self) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut stream = DecryptorBE32::from_aead(cipher(&self.key), &NONCE_PREFIX.into());
        let mut out = Vec::with_capacity(self.len);
        let mut sealed = vec![0u8; CHUNK + TAG];
        let failed = |_| broken("a spooled chunk does not open");
        for _ in 1..self.chunks {
            self.file.read_exact(&mut sealed)?;
            out.extend_from_slice(&stream.decrypt_next(sealed.as_slice()).map_err(failed)?);
        }
        let last = self.len - (self.chunks - 1) * CHUNK + TAG;
        self.file.read_exact(&mut sealed[..last])?;
        out.extend_from_slice(&stream.decrypt_last(&sealed[..last]).map_err(failed)?);
        Ok(out)
    }
}

/// Uploads being received: at most so many for one account, and in all, so
/// that neither one account nor the temporary directory is without bound.
pub struct Arrivals {
    per_account: usize,
    at_once: usize,
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// Why an upload may not start arriving now.
pub enum Full {
    Account(usize),
    Server(usize),
}

/// One upload arriving; its place is given back when this is dropped.
pub struct Arrival {
    arrivals: Arc<Arrivals>,
    account: String,
}

impl Arrivals {
    pub fn new(per_account: usize, at_once: usize) -> Arc<Self> {
        Arc::new(Self {
            per_account,
            at_once,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    pub fn enter(self: &Arc<Self>, account: &str) -> Result<Arrival, Full> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, by_account) = &mut *held;
        let mine = by_account.entry(account.to_owned()).or_default();
        if *mine >= self.per_account {
            return Err(Full::Account(self.per_account));
        }
        if *total >= self.at_once {
            if *mine == 0 {
                by_account.remove(account);
            }
            return Err(Full::Server(self.at_once));
        }
        *mine += 1;
        *total += 1;
        Ok(Arrival {
            arrivals: Arc::clone(self),
            account: account.to_owned(),
        })
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        let mut held = self
            .arrivals
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (total, by_account) = &mut *held;
        *total -= 1;
        if let Some(mine) = by_account.get_mut(&self.account) {
            *mine -= 1;
            if *mine == 0 {
                by_account.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(sizes: &[usize]) -> Vec<u8> {
        let mut spool = Spool::new(None).unwrap();
        let mut sent = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let part: Vec<u8> = (0..n).map(|j| ((i * 31 + j) % 251) as u8).collect();
            spool.push(&part).unwrap();
            sent.extend(part);
        }
        assert_eq!(spool.received(), sent.len());
        let got = spool.finish().unwrap().read().unwrap();
        assert_eq!(got, sent);
        got
    }

    #[test]
    fn gives_back_what_was_sent_in_any_pieces() {
        round_trip(&[]);
        round_trip(&[1]);
        round_trip(&[CHUNK]);
        round_trip(&[CHUNK - 1, 1, CHUNK + 5, 3 * CHUNK, 7]);
    }

    #[test]
    fn nothing_of_the_body_is_on_disk_in_the_clear_and_the_file_is_unlinked() {
        let dir = std::env::temp_dir().join(format!("bw-spool-test-{}", random_token_hex(4)));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spool = Spool::new(Some(dir.clone())).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "unlinked");
        let secret = b"GPS 42.6629 N 21.1655 E ".repeat(10_000);
        spool.push(&secret).unwrap();
        let mut received = spool.finish().unwrap();
        let mut raw = Vec::new();
        received.file.seek(SeekFrom::Start(0)).unwrap();
        received.file.read_to_end(&mut raw).unwrap();
        assert!(raw.len() > secret.len());
        assert!(!raw.windows(8).any(|w| w == b"GPS 42.6"));
        // A flipped bit on disk does not open.
        raw[100] ^= 1;
        received.file.seek(SeekFrom::Start(0)).unwrap();
        received.file.write_all(&raw).unwrap();
        assert!(received.read().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn arrivals_are_bounded_per_account_and_in_all() {
        let arrivals = Arrivals::new(2, 3);
        let a1 = arrivals.enter("a").ok().unwrap();
        let _a2 = arrivals.enter("a").ok().unwrap();
        assert!(matches!(arrivals.enter("a"), Err(Full::Account(2))));
        let _b1 = arrivals.enter("b").ok().unwrap();
        assert!(matches!(arrivals.enter("c"), Err(Full::Server(3))));
        drop(a1);
        let _c1 = arrivals.enter("c").ok().unwrap();
        assert!(matches!(arrivals.enter("a"), Err(Full::Server(3))));
        assert_eq!(arrivals.held.lock().unwrap().1.len(), 3);
    }
}
