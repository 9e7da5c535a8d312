use crate::auth::jwt::JwtKeys;
use crate::config::Settings;
use crate::db::Pool;

/// What every handler can reach: the pool, the token keys, the settings.
pub struct AppState {
    pub pool: Pool,
    pub jwt: JwtKeys,
    pub settings: Settings,
    /// Attachments being cleaned (each whole in memory): taken once a body has
    /// arrived whole (sealed in a spool file).
    pub cleaning: std::sync::Arc<tokio::sync::Semaphore>,
    /// Uploads arriving, per account and in all.
    pub arrivals: std::sync::Arc<crate::attachments::spool::Arrivals>,
    /// Stops the in-process webhook worker when the application goes.
    _worker: Option<crate::webhooks::worker::Stopper>,
}

impl AppState {
    pub fn new(pool: Pool, settings: Settings) -> Self {
        Self {
            jwt: JwtKeys::new(&settings.jwt_secret, settings.access_token_ttl),
            cleaning: std::sync::Arc::new(tokio::sync::Semaphore::new(
                settings.attachments.cleaning_at_once,
            )),
            arrivals: crate::attachments::spool::Arrivals::new(
                settings.attachments.receiving_per_account,
                settings.attachments.receiving_at_once,
            ),
            pool,
            settings,
            _worker: None,
        }
    }

    pub fn with_worker(self, stopper: Option<crate::webhooks::worker::Stopper>) -> Self {
        Self {
            _worker: stopper,
            ..self
        }
    }
}
