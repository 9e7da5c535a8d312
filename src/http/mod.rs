//! HTTP plumbing shared by every route: problem rendering, request ids,
//! body and query extraction, the 404/405 fallback, pagination.

mod json;
mod middleware;
mod pagination;
mod routes_table;

pub use json::{BodyLimit, DEFAULT_BODY_LIMIT, JsonObject, ValidJson, json_error, parse};
pub use middleware::{cors, problem_details};
pub use pagination::{Cursor, Page, PageQuery};
pub use routes_table::{RouteTable, fallback};

use actix_web::web;

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

/// The version an `If-Match` header names: 428 without one, 412 when it is not
/// one of ours (so it cannot match).
pub fn if_match(req: &actix_web::HttpRequest) -> Result<i32, ApiError> {
    let value = req
        .headers()
        .get(actix_web::http::header::IF_MATCH)
        .ok_or_else(|| {
            ApiError::PreconditionRequired(
                "send If-Match with the ETag of the version you read, e.g. If-Match: \"3\"".into(),
            )
        })?;
    value
        .to_str()
        .ok()
        .map(str::trim)
        .and_then(|v| v.strip_prefix('"')?.strip_suffix('"')?.parse::<i32>().ok())
        .ok_or_else(|| {
            ApiError::PreconditionFailed("If-Match does not name a version of this incident".into())
        })
}

/// The ETag of a version: `"3"`.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// An id in a query string: a 400 naming the parameter when it is not a UUID.
pub fn query_uuid(raw: Option<&str>, name: &str) -> Result<Option<String>, ApiError> {
    raw.map(|id| {
        uuid::Uuid::parse_str(id)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::BadRequest(format!("{name} must be a UUID")))
    })
    .transpose()
}
