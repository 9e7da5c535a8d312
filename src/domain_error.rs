//! What the rules and storage of the smaller features (users, organisations,
//! missions, service accounts, releases, the change feed) refuse or fail with.
//! Incidents have their own (`incidents::IncidentError`). The HTTP answer for
//! each is chosen at the edge (`error.rs`).

use crate::db::StoreError;
use crate::validation::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No such record, or not one the actor may know of; says which (`"user not found"`).
    #[error("{0}")]
    NotFound(String),
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The change clashes with what is stored (a name taken, one's own admin role).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A query parameter or cursor that cannot be answered as asked.
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Store(StoreError),
    /// What is stored cannot be read back (an unknown role, a broken invariant).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

crate::store_failure!(DomainError);

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(Invalid::field(field, message))
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }

    /// A storage error, with a unique-constraint violation turned into a
    /// conflict that says what clashed.
    pub fn on_duplicate(e: diesel::result::Error, message: impl FnOnce() -> String) -> Self {
        match StoreError::from(e) {
            StoreError::UniqueViolation(_) => Self::Conflict(message()),
            other => Self::Store(other),
        }
    }
}
