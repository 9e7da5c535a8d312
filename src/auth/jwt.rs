//! Short-lived HS256 access tokens. Every registered claim is required and checked.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "basewatch";
pub const AUDIENCE: &str = "basewatch-api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    /// The sign-in (refresh token family) this token belongs to: logging out or
    /// a reused refresh token ends it, and with it this token.
    pub sid: String,
    /// The user's token generation when the token was issued: a password change
    /// or reset and a deactivation bump it, and end the token.
    pub r#gen: i64,
    /// Service accounts only: the space-separated scopes granted (RFC 8693's
    /// `scope` claim). A person's token has none, and its `sid` is a sign-in; a
    /// service account's `sid` is the client secret the token was issued under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // One algorithm only: a token claiming any other (`none`, RS256…) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// An access token for one sign-in (`sid`) of a user at a token generation.
    pub fn issue(
        &self,
        user_id: &str,
        sid: &str,
        generation: i64,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user_id.into(),
            exp: now + self.ttl.as_secs() as i64,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.into(),
            r#gen: generation,
            scope: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// An access token for a service account, issued under one of its client
    /// secrets (`secret_id`), with the scopes granted.
    pub fn issue_for_client(
        &self,
        account_id: &str,
        secret_id: &str,
        generation: i64,
        scope: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: account_id.into(),
            exp: now + self.ttl.as_secs() as i64,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: secret_id.into(),
            r#gen: generation,
            scope: Some(scope.into()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_carry_every_claim() {
        let keys = JwtKeys::new(&[7; 32], Duration::from_secs(60));
        let claims = keys.verify(&keys.issue("u1", "s1", 3).unwrap()).unwrap();
        assert_eq!((claims.sid.as_str(), claims.r#gen), ("s1", 3));
        assert_eq!(
            (
                claims.iss.as_str(),
                claims.aud.as_str(),
                claims.sub.as_str()
            ),
            (ISSUER, AUDIENCE, "u1")
        );
        assert_eq!(claims.exp - claims.iat, 60);
        assert!(
            JwtKeys::new(&[8; 32], Duration::from_secs(60))
                .verify(&keys.issue("u1", "s1", 3).unwrap())
                .is_err()
        );
    }
}
