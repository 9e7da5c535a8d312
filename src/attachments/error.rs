//! Why an attachment rule or its storage refused: what the service, the rows
//! and the sealing return. The HTTP answer to each is chosen in `routes.rs`.

use crate::db::StoreError;
use crate::incidents::IncidentError;
use crate::validation::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    /// The incident's own rules: not found, not visible, its record of the change.
    #[error(transparent)]
    Incident(#[from] IncidentError),
    /// No such attachment on the incident.
    #[error("attachment not found")]
    NotFound,
    /// The actor sees the incident but may not do this with its attachments.
    #[error("{0}")]
    Forbidden(String),
    /// The id is taken (another file, a removed attachment) or the incident is full.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(StoreError),
    /// What is stored cannot be read back (a seal that does not open, a chunk missing).
    #[error("stored attachment data is unreadable: {0}")]
    Corrupt(String),
}

impl AttachmentError {
    pub fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }
}

impl From<StoreError> for AttachmentError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<diesel::result::Error> for AttachmentError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

impl crate::db::Failure for AttachmentError {
    fn connection_lost(&self) -> bool {
        match self {
            Self::Store(e) => e.connection_lost(),
            Self::Incident(e) => e.connection_lost(),
            _ => false,
        }
    }
}
