//! What the incident rules and storage refuse or fail with. The HTTP answer
//! for each (status and problem text) is chosen at the edge, in `routes.rs`.

use crate::db::StoreError;
use crate::validation::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// No such incident, or not one the actor may know of.
    #[error("incident not found")]
    NotFound,
    /// The actor may see the incident but not make this change.
    #[error("{0}")]
    Forbidden(String),
    /// The version the actor read is not the current one.
    #[error("the incident is at version {current}")]
    Stale { current: i32 },
    /// A change that must say which version it applies to did not.
    #[error("the change names no version")]
    VersionRequired,
    /// The change does not fit the incident's state (a move the workflow has not).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A new report's id is stored already (a re-send, or a clash: see `service::resent`).
    #[error("an incident with this id is stored already")]
    IdTaken,
    /// The id is stored with other content, or by another reporter.
    #[error("an incident with this id exists with different content")]
    Resent,
    /// A cursor this API did not issue for this listing.
    #[error("{0}")]
    BadCursor(&'static str),
    #[error(transparent)]
    Store(StoreError),
    /// What is stored cannot be read back (an unknown status, a seal that does not open).
    #[error("stored incident data is unreadable: {0}")]
    Corrupt(String),
}

crate::store_failure!(IncidentError);

impl IncidentError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(Invalid::field(field, message))
    }

    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }
}
