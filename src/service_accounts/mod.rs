//! Service accounts: partner systems that call the API as themselves, signing in
//! with the OAuth 2.0 client credentials grant (`auth::oauth`).
//!
//! Each account is also a row in `users` of kind `service`, so that the
//! incidents it reports and the audit rows it causes name it like a person.
//! Its role is capped (`users::check_service_placement`), and the scopes of its
//! token narrow further what the role allows: each operation names the scope
//! it needs (`scopes::required`).

pub mod queries;
pub mod routes;
pub mod scopes;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use validator::Validate;

pub use self::scopes::Scope;
use crate::domain::Role;
use crate::validation::{valid_display_name, valid_uuid};

/// Every client secret starts with this, so that secret scanners can find one
/// pasted where it should not be.
pub const SECRET_PREFIX: &str = "bwsk_";
/// Live secrets per account: the current one and its successor during a rotation.
pub const MAX_LIVE_SECRETS: i64 = 2;

/// A new client secret: the prefix and 256 random bits, hex-encoded.
pub fn new_secret() -> String {
    format!("{SECRET_PREFIX}{}", crate::crypto::random_token_hex(32))
}

/// How a secret is stored. The secret is 256 random bits, so an unkeyed hash
/// cannot be reversed by guessing, and it does not depend on the data key.
pub fn hash_secret(secret: &str) -> String {
    crate::crypto::to_hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, in time independent of where they differ.
pub fn secret_matches(secret: &str, stored: &str) -> bool {
    hash_secret(secret)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into()
}

/// What a list shows of a secret: enough to tell two apart, never enough to use one.
pub fn secret_hint(secret: &str) -> String {
    format!("{}…", &secret[..SECRET_PREFIX.len() + 6])
}

/// A service account as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceAccount {
    /// Also the OAuth `client_id`.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(example = "Partner intake system")]
    pub name: String,
    pub role: Role,
    pub organisation: crate::users::OrganisationRef,
    /// What its tokens may be granted.
    pub scopes: Vec<Scope>,
    /// A deactivated account gets no tokens, and its tokens stop working at once.
    pub active: bool,
    /// The live (unrevoked) client secrets, two at most.
    pub secrets: Vec<SecretInfo>,
    /// When a token was last issued to it.
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A client secret as lists show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SecretInfo {
    #[schema(format = Uuid)]
    pub id: String,
    /// The secret's first characters.
    #[schema(example = "bwsk_3f9a1c…")]
    pub hint: String,
    pub created_at: DateTime<Utc>,
    /// When a token was last issued under it.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A secret just made: the only answer that ever shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewSecret {
    /// The OAuth `client_id`: the account's id.
    #[schema(format = Uuid)]
    pub client_id: String,
    /// Shown once; only its hash is stored. Keep it in the partner system's secret store.
    #[schema(example = "bwsk_3f9a1c…")]
    pub client_secret: String,
    pub secret: SecretInfo,
}

/// A new account and its first secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedServiceAccount {
    pub account: ServiceAccount,
    pub credentials: NewSecret,
}

/// The roles a service account may have: never admin or reviewer (review is a
/// person's four-eyes act).
fn service_account_roles() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "monitor or partner; analyst in an oversight office. Never admin or reviewer.",
        ))
        .enum_values(Some(["monitor", "partner", "analyst"]))
        .build()
}

/// A new service account. Only admins create them.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountRequest {
    #[validate(custom(function = "valid_display_name"))]
    #[schema(value_type = crate::domain::DisplayName)]
    pub name: String,
    /// Monitor or partner; analyst in an oversight office. Never admin or reviewer.
    #[schema(schema_with = service_account_roles)]
    pub role: Role,
    #[validate(custom(function = "valid_uuid"))]
    #[schema(format = Uuid)]
    pub organisation_id: String,
    /// What its tokens may be granted; at least one.
    #[validate(length(min = 1, max = 5, message = "must list 1 to 5 scopes"))]
    #[schema(min_items = 1, max_items = 5)]
    pub scopes: Vec<Scope>,
}

/// Changes to a service account; every field is optional.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccountRequest {
    #[validate(custom(function = "valid_display_name"))]
    #[schema(value_type = Option<crate::domain::DisplayName>)]
    pub name: Option<String>,
    /// Replaces the scopes, at once: a token already issued is held to the
    /// scopes it was granted that the account still has.
    #[validate(length(min = 1, max = 5, message = "must list 1 to 5 scopes"))]
    #[schema(min_items = 1, max_items = 5)]
    pub scopes: Option<Vec<Scope>>,
    /// `false` deactivates the account: its tokens stop working at once.
    pub active: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_stored_as_hashes() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with(SECRET_PREFIX));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 64);
        assert_ne!(a, b);
        let stored = hash_secret(&a);
        assert!(!stored.contains(&a[SECRET_PREFIX.len()..]));
        assert!(secret_matches(&a, &stored));
        assert!(!secret_matches(&b, &stored));
        assert!(secret_hint(&a).starts_with(&a[..11]));
        assert!(secret_hint(&a).len() < 20);
    }
}
