//! Authentication: passwords, access tokens, refresh tokens, and the extractors
//! that make a handler unreachable without the right identity.

pub mod client;
mod extract;
pub mod jwt;
pub mod password;
pub mod policy;
pub mod refresh;
pub mod routes;
pub mod throttle;

pub use extract::{Admin, AuthenticatedActor, CurrentUser};

/// `bytes` random bytes from the operating system, hex-encoded.
pub fn random_token_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
