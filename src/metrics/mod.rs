//! Operations metrics in the Prometheus text format (0.0.4), from `prometheus-client`.
//!
//! Two kinds: what the process counts as it serves (requests by route template,
//! method and status, their latency), kept in `Metrics`; and what is read at
//! scrape time (the connection pool, the newest release, the webhook outbox),
//! gathered by `scrape` into a registry of its own for that one answer.

pub mod routes;
mod scrape;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The route label of a request no route matched: unknown paths share one label,
/// so a scanner walking random addresses cannot grow the series without bound.
pub const UNMATCHED: &str = "unmatched";
/// Longer paths are counted as unmatched without being matched.
const MAX_MATCHED_PATH: usize = 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    method: &'static str,
}

type LatencyFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// What the server counts while it serves; one per server (tests run many in one process).
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

/// 1 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("basewatch");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to the start of its answer, by route template and method",
            latency.clone(),
        );
        Self {
            registry,
            requests,
            latency,
        }
    }
}

/// Known methods by name; anything else (an extension method) is `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// Counts every answer, the refusals of the outer middleware included, under the
/// route template that matched (`/api/v1/incidents/{id}`), never the raw path.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        // No route of the API has a path this long (ids are UUIDs), and matching
        // one again here costs more than answering it (a red-team probe of 150
        // requests with 7-64 KiB paths timed out in a debug build).
        let path = res.request().path();
        let route = if path.len() > MAX_MATCHED_PATH {
            None
        } else {
            res.request().match_pattern()
        }
        .unwrap_or_else(|| UNMATCHED.to_owned());
        metrics
            .latency
            .get_or_create(&LatencyLabels {
                route: route.clone(),
                method,
            })
            .observe(started.elapsed().as_secs_f64());
        metrics
            .requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status: res.status().as_u16(),
            })
            .inc();
    }
    Ok(res)
}
