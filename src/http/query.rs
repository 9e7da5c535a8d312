//! Query strings parsed so that a refusal names the parameter at fault.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A query string as `T`, like `web::Query`, but a value of the wrong type or
/// out of range is a 400 that names its parameter (`occurred_from: input contains
/// invalid characters`), where actix's extractor only says that something failed.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            parse_query(req.query_string())
                .map(Query)
                .map_err(Into::into),
        )
    }
}

/// Parses a query string (`application/x-www-form-urlencoded`) into `T`.
pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ApiError::BadRequest(match path.as_str() {
            // Unknown, missing and duplicate parameters name themselves.
            "." | "" => format!("invalid query string: {message}"),
            _ => format!("query parameter `{path}`: {message}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<i64>,
        from: Option<chrono::DateTime<chrono::Utc>>,
        format: Option<String>,
    }

    fn detail(raw: &str) -> String {
        match parse_query::<Q>(raw) {
            Err(ApiError::BadRequest(detail)) => detail,
            other => panic!("{raw}: expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn names_the_parameter_at_fault() {
        assert!(detail("limit=x").starts_with("query parameter `limit`:"));
        assert!(detail("limit=99999999999999999999").starts_with("query parameter `limit`:"));
        assert!(detail("from=10000-01-01T00:00:00Z").starts_with("query parameter `from`:"));
        assert!(detail("bogus=1").contains("unknown field `bogus`"));
        assert!(detail("limit=1&limit=2").contains("duplicate field `limit`"));
        let q: Q = parse_query("limit=5&format=a+b%21").unwrap();
        assert_eq!((q.limit, q.format.as_deref()), (Some(5), Some("a b!")));
    }
}
