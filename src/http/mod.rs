//! HTTP plumbing shared by every route: problem rendering, request ids,
//! body and query extraction, the 404/405 fallback, pagination.

mod client;
mod json;
mod middleware;
mod pagination;
mod query;
mod query_guard;
pub mod rate_limit;
mod routes_table;

pub use client::client_address;
pub use json::{BodyLimit, DEFAULT_BODY_LIMIT, JsonObject, ValidJson, json_error, parse};
pub use middleware::{cors, problem_details};
pub use pagination::{Cursor, Page, PageQuery};
pub use query::{Query, parse_query};
pub use query_guard::refuse_unreadable_query;
pub use routes_table::{RouteTable, fallback};

use actix_web::web;

use crate::domain_error::DomainError;
use crate::error::ApiError;

/// Extractor settings that turn actix's own plain-text errors into problems.
pub fn extractor_config(
    body_limit: usize,
) -> (web::PayloadConfig, web::QueryConfig, web::PathConfig) {
    let payload = web::PayloadConfig::new(body_limit);
    let query = web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest(format!("invalid query string: {err}")).into()
    });
    let path = web::PathConfig::default().error_handler(|_err, _req| {
        ApiError::NotFound("no resource at this address".into()).into()
    });
    (payload, query, path)
}

/// What an `If-Match` header asks for (RFC 9110 §13.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: whatever the current version is.
    Any,
    /// One of these versions (`"3"` or `"3", "4"`). Weak tags never match.
    Versions(Vec<i32>),
}

impl IfMatch {
    pub fn matches(&self, current: i32) -> bool {
        match self {
            IfMatch::Any => true,
            IfMatch::Versions(versions) => versions.contains(&current),
        }
    }
}

/// The `If-Match` header, if sent. Tags that are not ours stay in the list and
/// simply cannot match (412 when the version is compared).
pub fn if_match(req: &actix_web::HttpRequest) -> Option<IfMatch> {
    let value = req.headers().get(actix_web::http::header::IF_MATCH)?;
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Some(IfMatch::Any);
    }
    Some(IfMatch::Versions(
        value
            .split(',')
            .filter_map(|tag| {
                tag.trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')?
                    .parse()
                    .ok()
            })
            .collect(),
    ))
}

/// The ETag of a version: `"3"`.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// An id in a query string: a 400 naming the parameter when it is not a UUID.
pub fn query_uuid(raw: Option<&str>, name: &str) -> Result<Option<String>, DomainError> {
    raw.map(|id| {
        uuid::Uuid::parse_str(id)
            .map(|u| u.to_string())
            .map_err(|_| DomainError::BadQuery(format!("{name} must be a UUID")))
    })
    .transpose()
}

/// A time in a query string (`occurred_from`, `from`…): a 400 naming the parameter
/// when it lies outside the dates Basewatch records (1945 to 2100). Checked before
/// any query runs, so both backends answer the same (PostgreSQL cannot bind a
/// timestamp before 4713 BC) and an export never starts a response it must abort.
pub fn query_time(
    value: Option<chrono::DateTime<chrono::Utc>>,
    name: &str,
) -> Result<Option<chrono::NaiveDateTime>, DomainError> {
    value
        .map(|t| {
            crate::domain::check_date(t.date_naive())
                .map(|_| crate::db::truncate(t.naive_utc()))
                .map_err(|e| DomainError::BadQuery(format!("{name} {e}")))
        })
        .transpose()
}
