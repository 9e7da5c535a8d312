//! Builds the application: routes, middleware, the OpenAPI document, the server.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, scope};
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::attachments::routes as attachments;
use crate::audit::routes as audit;
use crate::auth::routes as auth;
use crate::config::Settings;
use crate::db::Pool;
use crate::health::{self, OpenApiJson};
use crate::http::{self, BodyLimit, RouteTable};
use crate::incidents::{batch, review, routes as incidents};
use crate::missions::routes as missions;
use crate::openapi;
use crate::organisations::routes as organisations;
use crate::service_accounts::routes as service_accounts;
use crate::state::AppState;
use crate::stats::routes as stats;
use crate::users::routes as users;
use crate::webhooks::routes as webhooks;
use crate::webhooks::worker;

/// Every route of the API. Registering through utoipa-actix-web puts each one in
/// the OpenAPI document, so the document cannot miss a route.
fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::get_index)
        .service(health::get_health)
        .service(health::get_ready)
        .service(crate::metrics::routes::get_metrics)
        .service(
            scope("/api/v1")
                .service(health::get_api_index)
                .service(health::get_openapi)
                .service(auth::login)
                .service(auth::refresh_session)
                .service(auth::logout)
                .service(auth::get_me)
                .service(auth::change_password)
                .service(crate::auth::oauth::issue_client_token)
                .service(organisations::create_organisation)
                .service(organisations::list_organisations)
                .service(organisations::get_organisation)
                .service(organisations::update_organisation)
                .service(users::create_user)
                .service(users::list_users)
                .service(users::get_user)
                .service(users::update_user)
                .service(missions::list_missions)
                .service(missions::create_mission)
                .service(missions::get_mission)
                .service(missions::update_mission)
                .service(missions::list_bases)
                .service(missions::create_base)
                .service(missions::get_base)
                .service(missions::update_base)
                .service(missions::list_deployments)
                .service(missions::create_deployment)
                .service(missions::get_deployment)
                .service(missions::update_deployment)
                .service(missions::delete_deployment)
                .service(incidents::create_incident)
                .service(batch::create_incidents_batch)
                // Any other method on /incidents/batch is a 405 naming POST, not a
                // request for the incident whose id would be "batch".
                .route("/incidents/batch", web::route().to(http::fallback))
                .service(incidents::list_incidents)
                .service(incidents::get_incident)
                .service(incidents::update_incident)
                .service(review::transition_incident)
                .service(review::override_assessment)
                .service(review::list_incident_history)
                .service(attachments::upload_attachment)
                .service(attachments::upload_attachment_form)
                .service(attachments::list_attachments)
                .service(attachments::get_attachment)
                .service(attachments::download_attachment)
                .service(attachments::delete_attachment)
                .service(crate::changes::routes::list_changes)
                .service(stats::get_incident_stats)
                .service(crate::exports::export_incidents)
                .service(crate::analysis::routes::get_deployment_effect)
                .service(crate::releases::routes::list_releases)
                .service(audit::list_audit_records)
                .service(service_accounts::create_service_account)
                .service(service_accounts::list_service_accounts)
                .service(service_accounts::get_service_account)
                .service(service_accounts::update_service_account)
                .service(service_accounts::delete_service_account)
                .service(service_accounts::create_service_account_secret)
                .service(service_accounts::revoke_service_account_secret)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::ping_webhook)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::redeliver_webhook_events),
        );
}

/// The OpenAPI document, generated from the routes (the same one the server serves).
pub fn openapi_doc() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(openapi::frame())
        .configure(routes)
        .split_for_parts();
    openapi::add_common_responses(&mut doc);
    crate::service_accounts::scopes::document(&mut doc);
    doc
}

pub fn openapi_json() -> String {
    serde_json::to_string_pretty(&openapi_doc()).expect("the OpenAPI document serialises") + "\n"
}

pub struct Application {
    port: u16,
    server: Server,
    /// The webhook worker started beside the server (`BASEWATCH_WORKER`).
    worker: Option<worker::Handle>,
}

impl Application {
    /// Binds (port 0 picks a free port, as the tests do) and prepares the server.
    pub fn build(settings: Settings, pool: Pool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.bind)?;
        let port = listener.local_addr()?.port();
        let doc = openapi_doc();
        let route_table = web::Data::new(RouteTable::from_openapi(&doc));
        let doc_json = web::Data::new(OpenApiJson(openapi_json()));
        let body_limit = settings.body_limit;
        let workers = settings.workers;
        let timeout = settings.request_timeout;
        let cors_origins = settings.cors_origins.clone();
        if settings.release_builder {
            crate::releases::build::spawn_background(
                pool.clone(),
                settings.partner_epsilon,
                settings.release_lag_days,
            );
        }
        // The worker stops when the application state is dropped (the server
        // stopped); `run_until_stopped` also waits for it.
        let (worker, stopper) = if settings.webhooks.worker {
            let (handle, stopper) =
                worker::spawn(pool.clone(), settings.data_keys.clone(), settings.webhooks)?;
            (Some(handle), Some(stopper))
        } else {
            (None, None)
        };
        let state = web::Data::new(AppState::new(pool, settings).with_worker(stopper));
        let metrics = web::Data::new(crate::metrics::Metrics::default());

        let server = HttpServer::new(move || {
            let (payload, query, path) = http::extractor_config(body_limit);
            App::new()
                .into_utoipa_app()
                .configure(routes)
                .into_app()
                .app_data(state.clone())
                .app_data(route_table.clone())
                .app_data(doc_json.clone())
                .app_data(metrics.clone())
                .app_data(BodyLimit(body_limit))
                .app_data(payload)
                .app_data(query)
                .app_data(path)
                .service(SwaggerUi::new("/docs/{_:.*}").config(
                    // The online validator would send the document, and so where
                    // this deployment runs, to swagger.io.
                    SwaggerConfig::new(["/api/v1/openapi.json"]).validator_url("none"),
                ))
                .route(
                    "/docs",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("Location", "/docs/"))
                            .finish()
                    }),
                )
                .default_service(web::to(http::fallback))
                .wrap(from_fn(http::refuse_unreadable_query))
                .wrap(http::cors(&cors_origins))
                .wrap(from_fn(http::problem_details))
                .wrap(from_fn(http::rate_limit::headers))
                .wrap(TracingLogger::default())
                // Outermost: counts every answer, refusals of the layers above included.
                .wrap(from_fn(crate::metrics::track))
        })
        .workers(workers)
        // A client gets this long to send its request head (slow-loris), then 408.
        .client_request_timeout(timeout)
        .client_disconnect_timeout(std::time::Duration::from_secs(5))
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn into_server(self) -> Server {
        self.server
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests (10 s at
    /// most), then lets the webhook worker finish its round (its requests time
    /// out within `BASEWATCH_WEBHOOK_*` limits).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(worker) = self.worker {
            // Joining blocks: off the runtime's thread.
            let _ = actix_web::rt::task::spawn_blocking(move || worker.stop_and_wait()).await;
        }
        served
    }
}
