use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing_actix_web::RequestId;

use crate::audit::{self, Action};
use crate::auth::AuthenticatedActor;
use crate::error::{ApiError, Problem, problem_response};
use crate::state::AppState;

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
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Routing and handlers turn their errors into responses, so this only fails
    // for a middleware placed inside this one (there is none).
    let res = next.call(req).await?.map_into_boxed_body();
    let status = res.status();
    if let (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, Some(state)) = (status, state) {
        audit_refusal(&state, &res, request_id.as_deref()).await;
    }
    let mut res = if status.is_client_error() || status.is_server_error() {
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

/// Records a 401 or 403, with who was refused when they were signed in. Failed
/// sign-ins have their own record (`auth.login_failed`).
async fn audit_refusal(
    state: &web::Data<AppState>,
    res: &ServiceResponse<BoxBody>,
    request_id: Option<&str>,
) {
    let req = res.request();
    if req.path() == "/api/v1/auth/login" {
        return;
    }
    let actor = req
        .extensions()
        .get::<AuthenticatedActor>()
        .map(|a| a.0.clone());
    let details = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.path(),
        "status": res.status().as_u16(),
    });
    let request_id = request_id.map(str::to_owned);
    let written = crate::db::run(&state.pool, move |conn| {
        Ok(audit::Entry::new(Action::RequestRefused)
            .actor(actor.as_deref())
            .request(request_id.as_deref())
            .details(details)
            .write(conn)?)
    })
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, "could not audit a refused request");
    }
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
