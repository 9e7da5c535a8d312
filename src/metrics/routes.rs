use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use prometheus_client::encoding::prometheus_text;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Metrics;
use crate::config::MetricsAccess;
use crate::error::ApiError;
use crate::state::AppState;

/// Operations metrics in the Prometheus text format (0.0.4): requests by route
/// template and status with latency histograms, connection-pool use, the webhook
/// outbox and deliveries, the age of the newest partner release.
///
/// Open in development. In production it answers 404 unless
/// `BASEWATCH_METRICS_TOKEN` is set; with a token set (in any mode) it needs
/// `Authorization: Bearer <that token>`, not a user's access token.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_metrics",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, response = crate::openapi::NotFound),
    )
)]
#[get("/metrics")]
pub async fn get_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    match &state.settings.metrics {
        MetricsAccess::Open => {}
        MetricsAccess::Off => {
            return Err(ApiError::NotFound("no route for /metrics".into()));
        }
        MetricsAccess::Token(expected) => {
            let sent = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map_or("", |(_, token)| token.trim());
            // Hashes first, so the comparison takes the same time whatever the
            // length or the first differing byte of what was sent.
            let matches: bool = Sha256::digest(sent.as_bytes())
                .ct_eq(&Sha256::digest(expected.as_bytes()))
                .into();
            if !matches {
                return Err(ApiError::Unauthorized(
                    "send Authorization: Bearer with the metrics token (BASEWATCH_METRICS_TOKEN)",
                ));
            }
        }
    }
    let scraped = super::scrape::collect(&state.pool).await;
    let mut body = String::new();
    prometheus_text::encode(&mut body, &metrics.registry)
        .and_then(|()| prometheus_text::encode(&mut body, &scraped))
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus_text::CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
