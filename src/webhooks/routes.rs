//! /api/v1/webhooks: admins manage every subscription (choosing its
//! organisation and role); a service account with `webhooks:manage` manages
//! the subscriptions it created, which see what it sees. Anyone else: 403; a
//! subscription the caller does not manage: 404.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::outbox::{self, PENDING, Redeliver};
use super::queries::{self, Changes, SubscriptionRow};
use super::signing::new_secret;
use super::worker::seal_secret;
use super::{
    AttemptStatus, CreateWebhookRequest, CreatedSubscription, DeliveryAttempt, Disabled, EventType,
    Queued, QueuedEvent, RedeliverRequest, RotateSecretRequest, RotatedSecret, Subscription,
    UpdateWebhookRequest, join_events, outbound, split_events,
};
use crate::audit::{self, Action, Entity};
use crate::auth::actor::ActorKind;
use crate::auth::{Actor, Permission};
use crate::db::{self, DbConnection};
use crate::domain::{OrganisationId, OrganisationKind, Role};
use crate::error::ApiError;
use crate::http::{Cursor, Page, PageQuery, ValidJson};
use crate::state::AppState;
use crate::users::{check_placement, organisation_kind};

const DEFAULT_OVERLAP_SECONDS: u32 = 86_400;

fn view(row: SubscriptionRow) -> Result<Subscription, ApiError> {
    Ok(Subscription {
        role: row.role.parse().map_err(ApiError::internal)?,
        events: split_events(&row.events),
        disabled: match (row.disabled_at, row.disabled_reason) {
            (Some(at), reason) => Some(Disabled {
                at: at.and_utc(),
                reason: reason.unwrap_or_default(),
            }),
            _ => None,
        },
        previous_secret_expires_at: row
            .previous_expires_at
            .filter(|t| *t > db::now())
            .map(|t| t.and_utc()),
        id: row.id,
        organisation_id: row.organisation_id,
        url: row.url,
        description: row.description,
        paused: row.paused,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    })
}

/// People need the admin role; a service account's scope was checked by the extractor.
fn may_manage(actor: &Actor) -> Result<(), ApiError> {
    match actor.kind {
        ActorKind::ServiceAccount => Ok(()),
        ActorKind::Person if actor.may(Permission::Administer) => Ok(()),
        ActorKind::Person => Err(ApiError::Forbidden(
            "webhooks are managed by admins and by service accounts with webhooks:manage".into(),
        )),
    }
}

/// A subscription the caller manages (admins: any; service accounts: their
/// own); any other id answers 404.
fn managed(conn: &mut DbConnection, actor: &Actor, id: &str) -> Result<SubscriptionRow, ApiError> {
    let missing = || ApiError::not_found("webhook");
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(missing());
    }
    match queries::find(conn, id)? {
        Some(row) if actor.kind == ActorKind::Person || actor.is(&row.owner_id) => Ok(row),
        _ => Err(missing()),
    }
}

/// Checks a target as written and where its name resolves now.
async fn checked_url(raw: &str, allow_private: bool) -> Result<String, ApiError> {
    let invalid = |why: String| ApiError::invalid("url", format!("the URL {why}"));
    let url = outbound::check_url(raw, allow_private).map_err(invalid)?;
    outbound::resolved(&url, allow_private)
        .await
        .map_err(invalid)?;
    Ok(raw.to_owned())
}

/// Whose view the payloads take: a service account's own; for an admin, the
/// organisation and role asked for (a monitor's view, which holds only its
/// own reports, is refused).
fn placement(
    conn: &mut DbConnection,
    actor: &Actor,
    organisation: Option<&str>,
    role: Option<Role>,
) -> Result<(String, Role), ApiError> {
    if actor.kind == ActorKind::ServiceAccount {
        if organisation.is_some_and(|o| o != actor.organisation_id.as_str())
            || role.is_some_and(|r| r != actor.role)
        {
            return Err(ApiError::Forbidden(
                "a service account subscribes for its own organisation, with its own role".into(),
            ));
        }
        return Ok((actor.organisation_id.as_str().to_owned(), actor.role));
    }
    let organisation = match organisation {
        Some(o) => OrganisationId::parse(o)
            .map_err(|_| ApiError::invalid("organisation_id", "must be a UUID"))?,
        None => actor.organisation_id.clone(),
    };
    let kind = organisation_kind(conn, &organisation)?;
    let role = role.unwrap_or(match kind {
        OrganisationKind::OversightOffice => Role::Analyst,
        _ => Role::Partner,
    });
    if role == Role::Monitor {
        return Err(ApiError::invalid(
            "role",
            "a monitor's view holds only its own reports; choose partner, analyst, reviewer or admin",
        ));
    }
    check_placement(role, kind)?;
    Ok((organisation.as_str().to_owned(), role))
}

/// Create a webhook subscription.
///
/// The answer is the only one that shows the signing secret (besides a
/// rotation). The URL must be https to a public address: loopback, private,
/// link-local and metadata addresses are refused (422 naming `url`), here and
/// again when each request connects.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedSubscription,
            headers(("Location" = String, description = "The new subscription's address"))),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    ValidJson(req): ValidJson<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    may_manage(&actor)?;
    let url = checked_url(&req.url, state.settings.webhooks.allow_private).await?;
    let secret = new_secret();
    let keys = state.settings.data_keys.clone();
    let plain = secret.clone();
    let created = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let (organisation_id, role) =
            placement(conn, &actor, req.organisation_id.as_deref(), req.role)?;
        let id = uuid::Uuid::new_v4().to_string();
        let (sealed, key_id) = seal_secret(&keys, &id, &plain);
        let now = db::now();
        let row = SubscriptionRow {
            id: id.clone(),
            organisation_id,
            role: role.as_str().to_owned(),
            owner_id: actor.id.as_str().to_owned(),
            url,
            events: join_events(&req.events),
            description: req.description.filter(|d| !d.trim().is_empty()),
            secret: sealed,
            secret_key_id: key_id,
            previous_secret: None,
            previous_secret_key_id: None,
            previous_expires_at: None,
            paused: false,
            disabled_at: None,
            disabled_reason: None,
            failure_streak: 0,
            created_at: now,
            updated_at: now,
        };
        queries::insert(conn, &row)?;
        audit::Entry::new(Action::WebhookCreated)
            .by(&actor)
            .on(Entity::Webhook, &id)
            .details(json!({
                "organisation_id": row.organisation_id, "role": row.role,
                "url": row.url, "events": row.events,
            }))
            .write(conn)?;
        view(row)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}", created.id)))
        .json(CreatedSubscription {
            subscription: created,
            secret,
        }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WebhookListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// Admins: only this organisation's subscriptions.
    #[param(format = Uuid)]
    pub organisation_id: Option<String>,
}

/// List webhook subscriptions, oldest first: every one for admins, a service
/// account's own for it.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    security(("bearer" = [])),
    params(WebhookListQuery),
    responses(
        (status = 200, description = "A page of subscriptions", body = Page<Subscription>),
        (status = 400, response = crate::openapi::BadRequest),
        crate::openapi::AdminOnly,
    )
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    actor: Actor,
    query: crate::http::Query<WebhookListQuery>,
) -> Result<web::Json<Page<Subscription>>, ApiError> {
    may_manage(&actor)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let organisation =
        crate::http::query_uuid(query.organisation_id.as_deref(), "organisation_id")?;
    let rows = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        let owner = (actor.kind == ActorKind::ServiceAccount).then(|| actor.id.as_str().to_owned());
        Ok(queries::list(
            conn,
            owner.as_deref(),
            organisation.as_deref(),
            cursor.as_ref().map(|c| c.0.as_str()),
            limit,
        )?)
    })
    .await?;
    let items = rows.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(items, limit, |s| {
        Cursor::encode(&s.id)
    })))
}

/// One webhook subscription (never its secret).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "get_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = Subscription),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<web::Json<Subscription>, ApiError> {
    may_manage(&actor)?;
    let row =
        db::run::<_, ApiError, _>(&state.pool, move |conn| managed(conn, &actor, &id)).await?;
    view(row).map(web::Json)
}

/// Change a subscription's URL, events or description; pause or resume it.
///
/// `paused: false` also enables a subscription the service disabled after
/// repeated failures; the events queued meanwhile are then delivered.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "update_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "Updated", body = Subscription),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    ValidJson(req): ValidJson<UpdateWebhookRequest>,
) -> Result<web::Json<Subscription>, ApiError> {
    may_manage(&actor)?;
    let url = match &req.url {
        Some(raw) => Some(checked_url(raw, state.settings.webhooks.allow_private).await?),
        None => None,
    };
    let updated = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let row = managed(conn, &actor, &id)?;
        let resume = req.paused == Some(false);
        let changes = Changes {
            url,
            events: req.events.as_deref().map(join_events),
            description: req
                .description
                .map(|d| Some(d).filter(|d| !d.trim().is_empty())),
            paused: req.paused,
            disabled_at: resume.then_some(None),
            disabled_reason: resume.then_some(None),
            failure_streak: resume.then_some(0),
            updated_at: Some(db::now()),
            ..Changes::default()
        };
        queries::update(conn, &row.id, &changes)?;
        audit::Entry::new(Action::WebhookUpdated)
            .by(&actor)
            .on(Entity::Webhook, &row.id)
            .details(json!({
                "url": changes.url, "events": changes.events, "paused": changes.paused,
                "enabled_again": resume && row.disabled_at.is_some(),
            }))
            .write(conn)?;
        queries::find(conn, &row.id)?.ok_or_else(|| ApiError::internal("webhook vanished"))
    })
    .await?;
    view(updated).map(web::Json)
}

/// Delete a subscription, its queued events and its delivery log.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_manage(&actor)?;
    db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let row = managed(conn, &actor, &id)?;
        queries::delete(conn, &row.id)?;
        audit::Entry::new(Action::WebhookDeleted)
            .by(&actor)
            .on(Entity::Webhook, &row.id)
            .write(conn)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace the signing secret.
///
/// During the overlap (default a day, `0` for none) requests carry two
/// signatures, by the new and by the old secret, so the receiver can switch
/// at its pace. The answer is the only one that shows the new secret.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id")),
    request_body(content = Option<RotateSecretRequest>, description = "Optional; `{}` takes the default overlap"),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<RotatedSecret>, ApiError> {
    may_manage(&actor)?;
    // No body, or `null`, takes the defaults.
    let req: RotateSecretRequest = if body.is_empty() || body.trim_ascii() == b"null" {
        RotateSecretRequest::default()
    } else {
        crate::http::parse(&body)?
    };
    validator::Validate::validate(&req).map_err(ApiError::from)?;
    let overlap = req.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    let secret = new_secret();
    let plain = secret.clone();
    let keys = state.settings.data_keys.clone();
    let expires = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let row = managed(conn, &actor, &id)?;
        let (sealed, key_id) = seal_secret(&keys, &row.id, &plain);
        let now = db::now();
        let expires = (overlap > 0).then(|| now + chrono::Duration::seconds(i64::from(overlap)));
        queries::update(
            conn,
            &row.id,
            &Changes {
                secret: Some(sealed),
                secret_key_id: Some(key_id),
                previous_secret: Some(expires.map(|_| row.secret.clone())),
                previous_secret_key_id: Some(expires.map(|_| row.secret_key_id.clone())),
                previous_expires_at: Some(expires),
                updated_at: Some(now),
                ..Changes::default()
            },
        )?;
        audit::Entry::new(Action::WebhookSecretRotated)
            .by(&actor)
            .on(Entity::Webhook, &row.id)
            .details(json!({"overlap_seconds": overlap}))
            .write(conn)?;
        Ok(expires)
    })
    .await?;
    Ok(web::Json(RotatedSecret {
        secret,
        previous_expires_at: expires.map(|t| t.and_utc()),
    }))
}

/// Send a `ping` event (queued like any other; delivered once the
/// subscription is active).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "ping_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id")),
    responses(
        (status = 202, description = "Queued", body = QueuedEvent),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[post("/webhooks/{id}/ping")]
pub async fn ping_webhook(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    may_manage(&actor)?;
    let event_id = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let row = managed(conn, &actor, &id)?;
        Ok(outbox::ping(conn, &row.id)?)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(QueuedEvent { event_id }))
}

/// The delivery log, newest first: events waiting for an attempt (on the
/// first page), then every attempt with its outcome, response status,
/// latency and the start of the response body.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id"), PageQuery),
    responses(
        (status = 200, description = "A page of the log", body = Page<DeliveryAttempt>),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::AdminOnly,
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    query: crate::http::Query<PageQuery>,
) -> Result<web::Json<Page<DeliveryAttempt>>, ApiError> {
    may_manage(&actor)?;
    let page = query.into_inner();
    let (limit, cursor) = (page.limit()?, page.cursor()?);
    let (pending, mut attempts) = db::run::<_, ApiError, _>(&state.pool, move |conn| {
        let row = managed(conn, &actor, &id)?;
        let pending = match cursor {
            None => queries::pending(conn, &row.id)?,
            Some(_) => Vec::new(),
        };
        let attempts =
            queries::attempts(conn, &row.id, cursor.as_ref().map(|c| c.0.as_str()), limit)?;
        Ok((pending, attempts))
    })
    .await?;
    let more = attempts.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    attempts.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| attempts.last().map(|(a, _)| Cursor::encode(&a.id)))
        .flatten();
    let event_type = |raw: &str| {
        EventType::parse(raw).ok_or_else(|| ApiError::internal(format!("unknown event {raw}")))
    };
    let mut items = Vec::with_capacity(pending.len() + attempts.len());
    for d in pending {
        debug_assert_eq!(d.state, PENDING);
        items.push(DeliveryAttempt {
            event_type: event_type(&d.event_type)?,
            event_id: d.id,
            incident_id: d.incident_id,
            attempt: d.attempts + 1,
            at: d.next_attempt_at.and_utc(),
            status: AttemptStatus::Pending,
            response_status: None,
            latency_ms: None,
            error: None,
            response_excerpt: None,
        });
    }
    for (a, d) in attempts {
        items.push(DeliveryAttempt {
            event_type: event_type(&d.event_type)?,
            event_id: d.id,
            incident_id: d.incident_id,
            attempt: a.attempt,
            at: a.at.and_utc(),
            status: match a.outcome.as_str() {
                "succeeded" => AttemptStatus::Succeeded,
                "failed" => AttemptStatus::Failed,
                "given_up" => AttemptStatus::GivenUp,
                "skipped" => AttemptStatus::Skipped,
                other => return Err(ApiError::internal(format!("unknown outcome {other}"))),
            },
            response_status: a.response_status,
            latency_ms: a.latency_ms,
            error: a.error,
            response_excerpt: a.response_excerpt,
        });
    }
    Ok(web::Json(Page { items, next_cursor }))
}

/// Deliver again one event (`event_id`) or every event created since a time
/// (`since`), with the same `webhook-id` and a fresh retry schedule. An event
/// still waiting for an attempt is left as it is (not counted).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "redeliver_webhook_events",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The subscription's id")),
    request_body = RedeliverRequest,
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 404, response = crate::openapi::NotFound),
        crate::openapi::BodyErrors,
        crate::openapi::AdminOnly,
    )
)]
#[post("/webhooks/{id}/redeliver")]
pub async fn redeliver_webhook_events(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    ValidJson(req): ValidJson<RedeliverRequest>,
) -> Result<HttpResponse, ApiError> {
    may_manage(&actor)?;
    let what = match (req.event_id.clone(), req.since) {
        (Some(event), None) => Redeliver::One(event),
        (None, Some(since)) if since <= Utc::now() => {
            Redeliver::Since(db::truncate(since.naive_utc()))
        }
        (None, Some(_)) => return Err(ApiError::invalid("since", "must not be in the future")),
        _ => {
            return Err(ApiError::invalid(
                "event_id",
                "send exactly one of event_id and since",
            ));
        }
    };
    let queued = db::transaction::<_, ApiError, _>(&state.pool, move |conn| {
        let row = managed(conn, &actor, &id)?;
        let details = json!({"event_id": req.event_id, "since": req.since});
        let queued =
            outbox::redeliver(conn, &row.id, what)?.ok_or_else(|| ApiError::not_found("event"))?;
        audit::Entry::new(Action::WebhookRedelivered)
            .by(&actor)
            .on(Entity::Webhook, &row.id)
            .details(json!({"request": details, "queued": queued}))
            .write(conn)?;
        Ok(queued)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Queued {
        queued: i64::try_from(queued).unwrap_or(i64::MAX),
    }))
}
