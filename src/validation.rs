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

/// An optional whole number as JSON Schema's `integer` allows it: `377` or
/// `377.0` (a client that writes every number as a float is right by the
/// document), never `377.5`, a negative number or one past `T`.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("{number} is not a whole number in range")))
}

#[cfg(test)]
mod whole_number_tests {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole_number")]
        n: Option<u32>,
    }

    fn n(json: &str) -> Result<Option<u32>, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_written_as_floats_are_taken_and_others_refused() {
        assert_eq!(n(r#"{"n": 377}"#), Ok(Some(377)));
        assert_eq!(n(r#"{"n": 377.0}"#), Ok(Some(377)));
        assert_eq!(n(r#"{"n": null}"#), Ok(None));
        assert_eq!(n("{}"), Ok(None));
        for bad in ["377.5", "-1", "4294967296", "1e300", "\"3\""] {
            assert!(n(&format!(r#"{{"n": {bad}}}"#)).is_err(), "{bad}");
        }
    }
}
