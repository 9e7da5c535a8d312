//! HTTP plumbing shared by every route: problem rendering, request ids,
//! body and query extraction, the 404/405 fallback, pagination.

mod json;
mod middleware;
mod pagination;
mod routes_table;

pub use json::{BodyLimit, DEFAULT_BODY_LIMIT, ValidJson, json_error, parse};
pub use middleware::problem_details;
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
