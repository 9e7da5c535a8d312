//! argon2id password hashes (argon2's defaults: OWASP's minimum, m=19 MiB, t=2, p=1).

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::domain::Password;

pub fn hash(password: &Password) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks a candidate against a stored hash; `None` (unknown account) still
/// spends one full verification so that timing does not reveal which emails exist.
pub fn verify(stored: Option<&str>, candidate: &str) -> bool {
    let stored = stored.unwrap_or_else(|| dummy_hash());
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(candidate.as_bytes(), &parsed)
        .is_ok()
        && stored != dummy_hash()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = crate::crypto::random_token_hex(16);
        hash(&Password::parse(random).expect("32 hex chars are a valid password"))
            .expect("hashing works")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_the_right_password_only() {
        let h = hash(&Password::parse("correct horse battery".into()).unwrap()).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(Some(&h), "correct horse battery"));
        assert!(!verify(Some(&h), "correct horse battery!"));
        assert!(!verify(None, "correct horse battery"));
        assert!(!verify(Some("not a hash"), "x"));
    }
}
