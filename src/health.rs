//! The index, /health, /ready and the OpenAPI document.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// What a client finds at `/` and `/api/v1`: what answers here and where to read on.
#[derive(Serialize, ToSchema)]
pub struct Index {
    #[schema(example = "Basewatch API")]
    pub name: &'static str,
    /// The server's version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    pub links: IndexLinks,
}

/// Addresses relative to the server's origin.
#[derive(Serialize, ToSchema)]
pub struct IndexLinks {
    /// The API's base address.
    #[schema(example = "/api/v1")]
    pub api: &'static str,
    /// Interactive documentation (Swagger UI).
    #[schema(example = "/docs/")]
    pub docs: &'static str,
    /// The OpenAPI document.
    #[schema(example = "/api/v1/openapi.json")]
    pub openapi: &'static str,
    /// Liveness.
    #[schema(example = "/health")]
    pub health: &'static str,
    /// Readiness.
    #[schema(example = "/ready")]
    pub ready: &'static str,
}

const INDEX: Index = Index {
    name: "Basewatch API",
    version: env!("CARGO_PKG_VERSION"),
    links: IndexLinks {
        api: "/api/v1",
        docs: "/docs/",
        openapi: "/api/v1/openapi.json",
        health: "/health",
        ready: "/ready",
    },
};

/// The index of the server: its name, version and where the API and its documents are.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_index",
    responses((status = 200, description = "Where to start", body = Index))
)]
#[get("/")]
pub async fn get_index() -> web::Json<Index> {
    web::Json(INDEX)
}

/// The index of the API: the same as `/`.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_api_index",
    responses((status = 200, description = "Where to start", body = Index))
)]
#[get("")]
pub async fn get_api_index() -> web::Json<Index> {
    web::Json(INDEX)
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: String,
    /// `sqlite` or `postgres`.
    #[schema(example = "postgres")]
    pub database: String,
}

/// Liveness: the process answers. Touches nothing else.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_health",
    responses((status = 200, description = "The process is alive", body = Health))
)]
#[get("/health")]
pub async fn get_health() -> web::Json<Health> {
    web::Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the database answers and every migration is applied.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_ready",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
#[get("/ready")]
pub async fn get_ready(state: web::Data<AppState>) -> Result<web::Json<Readiness>, ApiError> {
    let pending = db::run(&state.pool, |conn| {
        db::migrations::has_pending(conn)
            .map_err(|e| ApiError::Unavailable(format!("cannot read the migrations: {e}")))
    })
    .await?;
    if pending {
        return Err(ApiError::Unavailable(
            "database migrations are pending; run `basewatch migrate`".into(),
        ));
    }
    Ok(web::Json(Readiness {
        status: "ready".into(),
        database: state.settings.database_url.backend().into(),
    }))
}

/// This OpenAPI document.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
#[get("/openapi.json")]
pub async fn get_openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// The document, serialised once at start.
pub struct OpenApiJson(pub String);
