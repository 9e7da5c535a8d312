//! The delivery worker: claims due deliveries, builds and signs each payload
//! at sending time, sends them concurrently, and records every attempt.
//!
//! Claims are leases (`claimed_until`): an instance killed mid-send leaves its
//! claims to expire, after which another instance takes them (the receiver may
//! then see that attempt twice, with the same `webhook-id`). A lease outlasts
//! the request timeout, and an outcome is written only by the worker whose
//! claim it still is, so two instances never send the same attempt at once.
//! On PostgreSQL the claim is one `UPDATE … WHERE id IN (SELECT … FOR UPDATE
//! SKIP LOCKED)`, so instances skip each other's rows instead of waiting; on
//! SQLite the database's single writer serialises claims.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{NaiveDateTime, SecondsFormat, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use serde_json::json;

use super::outbound::{self, Outcome};
use super::outbox::{GIVEN_UP, PENDING, SKIPPED, SUCCEEDED, new_id};
use super::queries::{self, DeliveryRow, SubscriptionRow};
use super::{DISABLE_AFTER, retry_delay, viewer};
use crate::config::WebhookSettings;
use crate::crypto::DataKeys;
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_subscriptions};
use crate::db::{self, DbConnection, Pool};
use crate::incidents::Incident;

/// Deliveries claimed (and sent concurrently) per round.
const BATCH: i64 = 32;

/// The claim: due, unclaimed (or whose lease has passed) deliveries of active
/// subscriptions that no earlier pending event of the same incident holds back.
const CLAIM: &str = "UPDATE webhook_deliveries \
    SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1, updated_at = $3 \
    WHERE id IN ( \
        SELECT d.id FROM webhook_deliveries d \
        JOIN webhook_subscriptions s ON s.id = d.subscription_id \
        WHERE d.state = 'pending' AND d.next_attempt_at <= $3 \
          AND (d.claimed_until IS NULL OR d.claimed_until < $3) \
          AND NOT s.paused AND s.disabled_at IS NULL \
          AND NOT EXISTS ( \
              SELECT 1 FROM webhook_deliveries e \
              WHERE e.subscription_id = d.subscription_id AND e.incident_id = d.incident_id \
                AND e.state = 'pending' AND e.position < d.position) \
        ORDER BY d.next_attempt_at, d.id \
        LIMIT $4 LOCKING) \
    RETURNING *";

/// Claims up to `limit` due deliveries for `worker` until `now + lease`.
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    lease: Duration,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let now = db::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    match conn {
        DbConnection::Postgres(c) => {
            diesel::sql_query(CLAIM.replace("LOCKING", "FOR UPDATE OF d SKIP LOCKED"))
                .bind::<Text, _>(worker)
                .bind::<Timestamp, _>(until)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(c)
        }
        DbConnection::Sqlite(c) => {
            diesel::sql_query(CLAIM.replace("LOCKING", "").replace('$', "?"))
                .bind::<Text, _>(worker)
                .bind::<Timestamp, _>(until)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(c)
        }
    }
}

/// A request ready to send, or why the event is not sent.
pub enum Prepared {
    Send {
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    Skip(String),
}

fn secret_context(subscription: &str) -> String {
    format!("webhook_secret:{subscription}")
}

/// Seals a signing secret for a subscription: `(text, key id)`.
pub fn seal_secret(keys: &DataKeys, subscription: &str, secret: &str) -> (String, String) {
    let sealed = keys.seal(&secret_context(subscription), secret);
    (sealed.text, sealed.key_id)
}

/// The secrets that sign now: the current one, and the previous one during its overlap.
fn signing_secrets(keys: &DataKeys, sub: &SubscriptionRow) -> Result<Vec<String>, String> {
    let context = secret_context(&sub.id);
    let open = |text: &str, key: &str| {
        keys.open(&context, Some(key), text)
            .map_err(|e| format!("cannot open the signing secret: {e}"))
    };
    let mut secrets = vec![open(&sub.secret, &sub.secret_key_id)?];
    if let (Some(text), Some(key), Some(until)) = (
        &sub.previous_secret,
        &sub.previous_secret_key_id,
        sub.previous_expires_at,
    ) && until > db::now()
    {
        secrets.push(open(text, key)?);
    }
    Ok(secrets)
}

/// Builds the request as the subscription sees the incident now.
pub fn prepare(
    conn: &mut DbConnection,
    keys: &DataKeys,
    delivery: &DeliveryRow,
) -> Result<Prepared, String> {
    let Some((sub, owner)) =
        queries::find_with_owner(conn, &delivery.subscription_id).map_err(|e| e.to_string())?
    else {
        return Ok(Prepared::Skip("the subscription was deleted".into()));
    };
    let actor = match viewer(&sub, &owner) {
        Ok(actor) => actor,
        Err(why) => return Ok(Prepared::Skip(why)),
    };
    let data = match &delivery.incident_id {
        Some(incident_id) => {
            match crate::incidents::queries::find(conn, incident_id).map_err(|e| e.to_string())? {
                Some((row, base)) if actor.sees(&row) => {
                    let incident =
                        Incident::view(row, base, &actor, keys).map_err(|e| e.to_string())?;
                    let mut change = json!({
                        "position": delivery.position,
                        "kind": delivery.change_kind,
                        "version": delivery.version,
                    });
                    if let Some(from) = &delivery.from_status {
                        change["from"] = json!(from);
                    }
                    if let Some(to) = &delivery.to_status {
                        change["to"] = json!(to);
                    }
                    json!({"incident_id": incident_id, "change": change, "incident": incident})
                }
                _ => {
                    return Ok(Prepared::Skip(
                        "the subscription no longer sees the incident".into(),
                    ));
                }
            }
        }
        None => json!({"subscription_id": sub.id}),
    };
    let body = serde_json::to_vec(&json!({
        "type": delivery.event_type,
        "timestamp": delivery.occurred_at.and_utc().to_rfc3339_opts(SecondsFormat::Micros, true),
        "data": data,
    }))
    .map_err(|e| e.to_string())?;
    let msg_id = format!("msg_{}", delivery.id);
    let timestamp = Utc::now().timestamp();
    let signature =
        super::signing::header(&signing_secrets(keys, &sub)?, &msg_id, timestamp, &body)?;
    Ok(Prepared::Send {
        url: sub.url,
        headers: vec![
            ("webhook-id", msg_id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        body,
    })
}

/// Records an attempt (or a skip) and what follows: success, a retry at its
/// time, or the end; a give-up after `DISABLE_AFTER` failures in a row
/// disables the subscription.
pub fn finish(
    conn: &mut DbConnection,
    worker: &str,
    delivery: &DeliveryRow,
    result: Result<&Outcome, &str>,
    settings: &WebhookSettings,
) -> QueryResult<()> {
    db::in_transaction(conn, |conn| {
        let now = db::now();
        let skipped = Outcome::default();
        let outcome = result.unwrap_or(&skipped);
        let retry = || {
            let delay = retry_delay(delivery.attempts, settings.retry_scale)?;
            let wait = delay.max(outcome.retry_after.unwrap_or_default());
            Some(now + chrono::Duration::from_std(wait).ok()?)
        };
        let (state, logged, next) = match result {
            Err(_) => (SKIPPED, SKIPPED, now),
            Ok(o) if o.succeeded() => (SUCCEEDED, SUCCEEDED, now),
            Ok(o) => match o.retryable().then(retry).flatten() {
                Some(at) => (PENDING, "failed", at),
                None => (GIVEN_UP, GIVEN_UP, now),
            },
        };
        let ours = diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(&delivery.id))
                .filter(webhook_deliveries::claimed_by.eq(worker)),
        )
        .set((
            webhook_deliveries::state.eq(state),
            webhook_deliveries::next_attempt_at.eq(next),
            webhook_deliveries::claimed_by.eq(None::<String>),
            webhook_deliveries::claimed_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?
            == 1;
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::id.eq(new_id()),
                webhook_attempts::delivery_id.eq(&delivery.id),
                webhook_attempts::subscription_id.eq(&delivery.subscription_id),
                webhook_attempts::attempt.eq(delivery.attempts),
                webhook_attempts::at.eq(now),
                webhook_attempts::outcome.eq(logged),
                webhook_attempts::response_status.eq(outcome.status.map(i32::from)),
                webhook_attempts::latency_ms.eq(result.is_ok().then_some(outcome.latency_ms)),
                webhook_attempts::error.eq(match result {
                    Err(why) => Some(why.to_owned()),
                    Ok(o) => o.error.clone(),
                }),
                webhook_attempts::response_excerpt.eq(&outcome.excerpt),
            ))
            .execute(conn)?;
        if !ours {
            tracing::warn!(delivery = %delivery.id, "webhook lease lost before the outcome was recorded");
            return Ok(());
        }
        let sub = webhook_subscriptions::table.find(&delivery.subscription_id);
        match state {
            SUCCEEDED => {
                diesel::update(sub)
                    .set(webhook_subscriptions::failure_streak.eq(0))
                    .execute(conn)?;
            }
            PENDING | GIVEN_UP => {
                diesel::update(sub)
                    .set(
                        webhook_subscriptions::failure_streak
                            .eq(webhook_subscriptions::failure_streak + 1),
                    )
                    .execute(conn)?;
                let streak: i32 = sub
                    .select(webhook_subscriptions::failure_streak)
                    .first(conn)?;
                if state == GIVEN_UP && streak >= DISABLE_AFTER {
                    let last = match (outcome.status, &outcome.error) {
                        (Some(status), _) => format!("HTTP {status}"),
                        (None, Some(error)) => error.clone(),
                        (None, None) => "no answer".into(),
                    };
                    let reason = format!(
                        "disabled after {streak} consecutive failed attempts; event {} was given up \
                         after {} attempts (last: {last}). Send paused=false to enable it again.",
                        delivery.id, delivery.attempts
                    );
                    diesel::update(sub.filter(webhook_subscriptions::disabled_at.is_null()))
                        .set((
                            webhook_subscriptions::disabled_at.eq(Some(now)),
                            webhook_subscriptions::disabled_reason.eq(Some(reason)),
                        ))
                        .execute(conn)?;
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// Delivers in rounds until told to stop.
pub struct Worker {
    pool: Pool,
    keys: DataKeys,
    settings: WebhookSettings,
    id: String,
    client: reqwest::Client,
}

impl Worker {
    pub fn new(pool: Pool, keys: DataKeys, settings: WebhookSettings) -> Self {
        Self {
            client: outbound::client(&settings),
            id: format!("worker-{}", uuid::Uuid::new_v4()),
            pool,
            keys,
            settings,
        }
    }

    /// One round: claim, prepare, send concurrently, record. Returns the
    /// number of deliveries claimed.
    pub async fn round(&self) -> Result<usize, String> {
        let mut conn = self.pool.get().map_err(|e| e.to_string())?;
        let claimed =
            claim(&mut conn, &self.id, self.settings.lease, BATCH).map_err(|e| e.to_string())?;
        let count = claimed.len();
        let mut sending = tokio::task::JoinSet::new();
        for delivery in claimed {
            match prepare(&mut conn, &self.keys, &delivery) {
                Ok(Prepared::Skip(why)) => {
                    finish(&mut conn, &self.id, &delivery, Err(&why), &self.settings)
                        .map_err(|e| e.to_string())?;
                }
                Ok(Prepared::Send { url, headers, body }) => {
                    let client = self.client.clone();
                    let allow_private = self.settings.allow_private;
                    sending.spawn(async move {
                        let outcome =
                            outbound::post(&client, &url, headers, body, allow_private).await;
                        (delivery, outcome)
                    });
                }
                // The claim lapses and the delivery is tried again after the lease.
                Err(e) => {
                    tracing::error!(delivery = %delivery.id, error = %e, "cannot prepare a webhook")
                }
            }
        }
        // No connection is held while requests are in flight.
        drop(conn);
        while let Some(joined) = sending.join_next().await {
            let (delivery, outcome) = joined.map_err(|e| e.to_string())?;
            let mut conn = self.pool.get().map_err(|e| e.to_string())?;
            finish(&mut conn, &self.id, &delivery, Ok(&outcome), &self.settings)
                .map_err(|e| e.to_string())?;
        }
        Ok(count)
    }

    /// Runs rounds until `stop` is set; the round in progress is finished
    /// (its requests answered or timed out, its outcomes recorded) first.
    pub async fn run(self, stop: Arc<AtomicBool>) {
        tracing::info!(worker = %self.id, "webhook worker started");
        while !stop.load(Ordering::SeqCst) {
            match self.round().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "webhook round failed"),
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
        tracing::info!(worker = %self.id, "webhook worker stopped");
    }
}

/// A worker on a thread of its own. Dropping the `Stopper` (kept in the
/// application state) tells it to stop; `stop_and_wait` also waits for it.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// Stops the worker when the application that started it is dropped.
pub struct Stopper(Arc<AtomicBool>);

impl Drop for Stopper {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Handle {
    pub fn stop_and_wait(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.join().is_err() {
            tracing::error!("the webhook worker panicked");
        }
    }
}

/// Starts a worker on its own thread (with its own runtime).
pub fn spawn(
    pool: Pool,
    keys: DataKeys,
    settings: WebhookSettings,
) -> std::io::Result<(Handle, Stopper)> {
    let stop = Arc::new(AtomicBool::new(false));
    let worker = Worker::new(pool, keys, settings);
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("webhook-worker".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(worker.run(flag)),
                Err(e) => tracing::error!(error = %e, "cannot start the webhook worker"),
            }
        })?;
    Ok((
        Handle {
            stop: stop.clone(),
            thread,
        },
        Stopper(stop),
    ))
}
