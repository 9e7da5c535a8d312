//! `validator` custom checks that defer to the domain types, so a rule lives in one place.

use std::borrow::Cow;

use serde::Serialize;
use utoipa::ToSchema;
use validator::ValidationError;

use crate::domain::{DisplayName, Email, Password};

/// One input that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where the input is: a body field (`email`, `victims.count`), or `body` for the whole body.
    #[schema(example = "email")]
    pub field: String,
    #[schema(example = "must be a valid email address")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Input that domain code refused, each failing field with its reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}

fn error(code: &'static str, message: String) -> ValidationError {
    ValidationError::new(code).with_message(Cow::Owned(message))
}

pub fn valid_email(value: &str) -> Result<(), ValidationError> {
    Email::parse(value)
        .map(|_| ())
        .map_err(|m| error("email", m))
}

pub fn valid_display_name(value: &str) -> Result<(), ValidationError> {
    DisplayName::parse(value)
        .map(|_| ())
        .map_err(|m| error("name", m))
}

pub fn valid_password(value: &str) -> Result<(), ValidationError> {
    Password::parse(value.to_owned())
        .map(|_| ())
        .map_err(|m| error("password", m))
}

pub fn valid_uuid(value: &str) -> Result<(), ValidationError> {
    uuid::Uuid::parse_str(value)
        .map(|_| ())
        .map_err(|_| error("uuid", "must be a UUID".into()))
}

/// Text that reaches a query: no control characters (PostgreSQL refuses NUL).
pub fn valid_text(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        Err(error("text", "must not contain control characters".into()))
    } else {
        Ok(())
    }
}
