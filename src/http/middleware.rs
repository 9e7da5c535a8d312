use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing_actix_web::RequestId;

use crate::error::{ApiError, Problem, problem_response};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Puts the request id on every response and renders every error, ours or
/// actix's own (extractors, unknown routes, payload limits), as problem+json.
pub async fn problem_details(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req.extensions().get::<RequestId>().map(ToString::to_string);
    let api = req.path().starts_with("/api/");
    let https = req.connection_info().scheme() == "https";
    let res = match oversized(&req) {
        Some(refused) => req.error_response(refused),
        // Routing and handlers turn their errors into responses, so this only fails
        // for a middleware placed inside this one (there is none).
        None => next.call(req).await?.map_into_boxed_body(),
    };
    let status = res.status();
    // 429: a throttled sign-in or password change, tallied like the others.
    if matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    ) {
        crate::audit::refusals::record(&res, request_id.as_deref()).await;
    }
    let own_format = res
        .response()
        .extensions()
        .contains::<crate::auth::oauth::OwnErrorFormat>();
    let mut res = if (status.is_client_error() || status.is_server_error()) && !own_format {
        let (http_req, response) = res.into_parts();
        let rendered = match response.error().and_then(|e| e.as_error::<ApiError>()) {
            Some(api_error) => {
                if let ApiError::Internal(source) = api_error {
                    tracing::error!(request_id = ?request_id, error = %source, "internal error");
                }
                api_error.render(request_id.as_deref())
            }
            None => {
                let detail = response.error().map(ToString::to_string);
                let mut problem = Problem::new(status, detail);
                problem.request_id = request_id.clone();
                let mut rendered = problem_response(&problem);
                for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
                    if let Some(value) = response.headers().get(&name) {
                        rendered.headers_mut().insert(name, value.clone());
                    }
                }
                rendered
            }
        };
        ServiceResponse::new(http_req, rendered)
    } else {
        res
    };

    let headers = res.headers_mut();
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        headers.insert(REQUEST_ID, value);
    }
    if api && !headers.contains_key(header::CACHE_CONTROL) {
        // API answers carry personal data: no shared or browser cache keeps them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api {
        // JSON and CSV only: nothing in an API answer may run or load anything.
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if https {
        // Behind TLS (directly or per X-Forwarded-Proto): browsers stay on HTTPS.
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    Ok(res)
}

/// The longest request target (path and query) served: far above any URL of the
/// API, far below actix-http's own limit (64 KiB, refused there with an empty 400).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) served: a token is under 1 KiB. Above
/// 128 KiB, or beyond 96 headers, actix-http answers an empty 431 itself
/// (`h1::dispatcher`, `ParseError::TooLarge`) before any middleware runs.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// 414 for an over-long request target, 431 for over-large headers, before
/// anything else reads them (the router, the auth extractor, the audit log).
fn oversized(req: &ServiceRequest) -> Option<actix_web::error::InternalError<String>> {
    use actix_web::error::InternalError;
    let uri = req.uri();
    let target = uri.path_and_query().map_or(0, |pq| pq.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Some(InternalError::new(
            format!(
                "the request target is {target} bytes long; the limit is {MAX_TARGET_BYTES} bytes"
            ),
            StatusCode::URI_TOO_LONG,
        ));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Some(InternalError::new(
            format!(
                "the request headers are {headers} bytes long; the limit is {MAX_HEADER_BYTES} bytes"
            ),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ));
    }
    None
}

/// CORS for the configured origins only (none by default). A request from any
/// other origin is served without CORS headers, so browsers keep its answer
/// from the calling page; same-origin pages (the docs) are unaffected.
pub fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            REQUEST_ID,
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
