//! The OpenAPI document: its frame here, its paths and schemas collected from
//! the handlers' `#[utoipa::path]` as routes are registered (see `routes`).

use serde_json::{Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use crate::error::{FieldError, Problem};
use crate::incidents::content::IncidentContent;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Basewatch API",
        description = "Reporting and oversight of suspected human trafficking around military and \
                       peacekeeping bases. Every error is an RFC 9457 problem document \
                       (`application/problem+json`) carrying the request id, except at \
                       POST /api/v1/oauth/token, whose errors RFC 6749 §5.2 fixes.",
        license(name = "AGPL-3.0-only", identifier = "AGPL-3.0-only"),
    ),
    components(
        schemas(Problem, FieldError),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
            UnsupportedMediaType, ValidationFailed, Unavailable, InternalError, PreconditionFailed,
            PreconditionRequired, TooManyRequests, UploadsBusy, RequestTimeout
        )
    ),
    tags(
        (name = "auth", description = "Sign in, refresh and sign out"),
        (name = "organisations", description = "Organisations (admin only)"),
        (name = "users", description = "User accounts (admin only)"),
        (name = "service-accounts", description = "Service accounts of partner systems and their client secrets (admin only)"),
        (name = "reference data", description = "Missions, bases and deployments: admins write, everyone signed in reads"),
        (name = "incidents", description = "Reports, their review and their history"),
        (name = "analysis", description = "Aggregates, exports and the deployment-effect analysis"),
        (name = "audit", description = "The append-only audit log (admin only)"),
        (name = "webhooks", description = "Signed event deliveries to partner systems (admins, and service accounts with webhooks:manage)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
    modifiers(&SecurityAndCommonResponses)
)]
struct Frame;

pub fn frame() -> utoipa::openapi::OpenApi {
    Frame::openapi()
}

/// Adds the bearer security scheme.
struct SecurityAndCommonResponses;

impl Modify for SecurityAndCommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "BASEWATCH_METRICS_TOKEN, for GET /metrics only; not a user's token",
                    ))
                    .build(),
            ),
        );
    }
}

/// Every operation can fail unexpectedly: documents the 500 once, for all, after
/// the paths are collected, rather than in every handler.
pub fn add_common_responses(openapi: &mut utoipa::openapi::OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("500".into())
                .or_insert_with(|| {
                    RefOr::Ref(utoipa::openapi::Ref::from_response_name("InternalError"))
                });
        }
    }
}

macro_rules! problem_response {
    ($name:ident, $description:literal) => {
        #[derive(ToResponse)]
        #[response(description = $description, content_type = "application/problem+json")]
        #[allow(dead_code)]
        pub struct $name(Problem);
    };
}

problem_response!(
    BadRequest,
    "The request is malformed: broken JSON, a bad query parameter or cursor."
);
problem_response!(
    Unauthorized,
    "No valid credentials: the access token is missing, expired, revoked or forged."
);
problem_response!(Forbidden, "The caller's role may not do this.");
problem_response!(
    NotFound,
    "No such resource, or not one the caller may know of."
);
problem_response!(
    Conflict,
    "The request conflicts with stored data (e.g. a duplicate email)."
);
problem_response!(
    PayloadTooLarge,
    "The body is larger than the configured limit (1 MiB by default)."
);
problem_response!(
    RequestTimeout,
    "The body did not arrive within the request timeout (BASEWATCH_REQUEST_TIMEOUT)."
);
problem_response!(
    UnsupportedMediaType,
    "The body is not sent as application/json."
);
problem_response!(
    ValidationFailed,
    "The body is well-formed JSON but some fields are invalid; `errors` lists each."
);
problem_response!(
    PreconditionFailed,
    "The incident changed since it was read: `If-Match` names an old version. Read it again."
);
problem_response!(
    PreconditionRequired,
    "The change must say which version it applies to: send `If-Match` with the ETag you read."
);
problem_response!(Unavailable, "The database cannot be reached.");

/// 429 from the sign-in throttle.
#[derive(ToResponse)]
#[response(
    description = "Too many failed sign-ins for this account or from this address; wait for `Retry-After` seconds.",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds until a sign-in is accepted again"))
)]
#[allow(dead_code)]
pub struct TooManyRequests(Problem);

/// 429 from the upload limits.
#[derive(ToResponse)]
#[response(
    description = "The account, or the server, has as many uploads arriving as it takes at once \
                   (BASEWATCH_UPLOADS_PER_ACCOUNT, BASEWATCH_UPLOADS_AT_ONCE); wait for `Retry-After` seconds.",
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before the next upload"))
)]
#[allow(dead_code)]
pub struct UploadsBusy(Problem);
problem_response!(
    InternalError,
    "An unexpected error; its details are logged under the request id."
);

/// A group of the problem answers above, for `responses(...)` of `#[utoipa::path]`.
macro_rules! response_group {
    ($(#[$doc:meta])* $name:ident: $($status:literal => $response:ident),+) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::Response>> {
                [$(($status, stringify!($response))),+]
                    .into_iter()
                    .map(|(status, name)| {
                        (status.to_owned(), RefOr::Ref(utoipa::openapi::Ref::from_response_name(name)))
                    })
                    .collect()
            }
        }
    };
}

response_group!(
    /// What a JSON request body can be refused for.
    BodyErrors: "400" => BadRequest, "413" => PayloadTooLarge, "415" => UnsupportedMediaType, "422" => ValidationFailed
);
response_group!(
    /// What an attachment upload (raw or a form) can be refused for.
    UploadRefusals: "400" => BadRequest, "403" => Forbidden, "404" => NotFound,
        "408" => RequestTimeout, "409" => Conflict, "413" => PayloadTooLarge,
        "415" => UnsupportedMediaType, "422" => ValidationFailed, "429" => UploadsBusy
);
response_group!(
    /// Any operation that needs a signed-in caller and the database.
    SignedIn: "401" => Unauthorized, "503" => Unavailable
);
response_group!(
    /// Operations for admins only.
    AdminOnly: "401" => Unauthorized, "403" => Forbidden, "503" => Unavailable
);
response_group!(
    /// Changes that must name the version they apply to.
    Versioned: "412" => PreconditionFailed, "428" => PreconditionRequired
);

/// The body of a merge patch on an incident: every content field optional,
/// `null` clearing the optional ones. Derived from the content schema so the
/// two cannot drift apart.
pub struct IncidentPatch;

impl ToSchema for IncidentPatch {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("IncidentPatch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push((
            IncidentContent::name().into_owned(),
            IncidentContent::schema(),
        ));
        IncidentContent::schemas(schemas);
    }
}

impl utoipa::__dev::ComposeSchema for IncidentPatch {
    fn compose(
        _generics: Vec<RefOr<utoipa::openapi::schema::Schema>>,
    ) -> RefOr<utoipa::openapi::schema::Schema> {
        let mut schema =
            serde_json::to_value(IncidentContent::schema()).expect("a schema serialises");
        let required: Vec<Value> = schema
            .as_object_mut()
            .and_then(|o| o.remove("required"))
            .and_then(|r| r.as_array().cloned())
            .unwrap_or_default();
        schema["description"] = Value::from(
            "Changes to an incident's content (JSON merge patch, RFC 7396): the fields sent \
             replace the stored ones, `null` clears an optional field, absent fields stay.",
        );
        if let Some(properties) = schema["properties"].as_object_mut() {
            for (name, property) in properties.iter_mut() {
                if !required.contains(&Value::from(name.as_str())) && !nullable(property) {
                    *property = json!({"oneOf": [property.take(), {"type": "null"}]});
                }
            }
        }
        serde_json::from_value(schema).expect("the patch schema is a schema")
    }
}

fn nullable(property: &Value) -> bool {
    let null = Value::from("null");
    property["type"] == null
        || property["type"]
            .as_array()
            .is_some_and(|t| t.contains(&null))
        || property["oneOf"]
            .as_array()
            .is_some_and(|items| items.iter().any(|item| item["type"] == null))
}
