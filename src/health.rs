//! /health, /ready and the OpenAPI document.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

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
