//! The one error type of the API, rendered as RFC 9457 problem details.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

pub use crate::validation::{FieldError, Invalid};

/// An RFC 9457 problem details document: every error the API returns has this shape.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    #[schema(example = "urn:basewatch:problem:validation-error")]
    pub problem_type: String,
    #[schema(example = "Unprocessable Content")]
    pub title: String,
    #[schema(example = 422)]
    pub status: u16,
    /// What went wrong with this request, in words meant for the person calling the API.
    #[schema(example = "the request body has 1 invalid field")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, also sent as the `x-request-id` header; quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Each failing input, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: Option<String>) -> Self {
        Self {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail,
            request_id: None,
            errors: None,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// 401: the caller did not prove who they are; the text says what to send.
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed here; allowed: {}", allowed_list(.allow))]
    MethodNotAllowed { method: Method, allow: Vec<Method> },
    #[error("{0}")]
    Conflict(String),
    /// 412: the `If-Match` version is not the current one.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 428: a change that must say which version it applies to did not.
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 408: the request body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{}", validation_summary(.0))]
    Validation(Vec<FieldError>),
    /// 429: too many failed sign-ins; `Retry-After` says when to try again.
    #[error("too many failed sign-ins; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    /// 429: the caller (or every caller) has as many of something in progress
    /// as the server takes at once; `Retry-After` says when to try again.
    #[error("{detail}")]
    Throttled { detail: String, retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// 503: the database was too busy with other changes (a serialization
    /// failure, a deadlock, a lock that timed out); `Retry-After` says when.
    #[error("the database was busy with other changes; try again shortly")]
    Contended { retry_after: u64 },
    /// 503: the database connection died under the request; the pool closes it.
    #[error("the database connection was lost; try again shortly")]
    ConnectionLost,
    #[error("internal error: {0}")]
    Internal(BoxError),
}

fn allowed_list(allow: &[Method]) -> String {
    allow
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn validation_summary(errors: &[FieldError]) -> String {
    match errors.len() {
        1 => "the request has 1 invalid field".into(),
        n => format!("the request has {n} invalid fields"),
    }
}

impl ApiError {
    pub fn internal(e: impl Into<BoxError>) -> Self {
        Self::Internal(e.into())
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    fn slug(&self) -> Option<&'static str> {
        match self {
            Self::Validation(_) => Some("validation-error"),
            Self::Unauthorized(_) => Some("unauthorized"),
            _ => None,
        }
    }

    /// The problem document for this error. Internal details never leave the server.
    pub fn problem(&self, request_id: Option<&str>) -> Problem {
        let status = self.status_code();
        let detail = match self {
            Self::Internal(_) => {
                "an unexpected error occurred; it has been logged under the request id".into()
            }
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, Some(detail));
        if let Some(slug) = self.slug() {
            problem.problem_type = format!("urn:basewatch:problem:{slug}");
        }
        if let Self::Validation(errors) = self {
            problem.errors = Some(errors.clone());
        }
        problem.request_id = request_id.map(str::to_owned);
        problem
    }

    pub fn render(&self, request_id: Option<&str>) -> HttpResponse {
        let mut response = problem_response(&self.problem(request_id));
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"basewatch\""),
                );
            }
            Self::TooManyRequests { retry_after }
            | Self::Throttled { retry_after, .. }
            | Self::Contended { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Self::MethodNotAllowed { allow, .. } => {
                if let Ok(value) = HeaderValue::from_str(&allowed_list(allow)) {
                    headers.insert(header::ALLOW, value);
                }
            }
            _ => {}
        }
        response
    }
}

pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type(PROBLEM_JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(serde_json::to_string(problem).unwrap_or_default())
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } | Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Contended { .. } | Self::ConnectionLost => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        // The request-id middleware renders it again with the id; this is the fallback.
        self.render(None)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        crate::db::StoreError::from(e).into()
    }
}

/// How long a client should wait before retrying a change that met contention.
const CONTENTION_RETRY_AFTER: u64 = 1;

impl From<crate::db::StoreError> for ApiError {
    fn from(e: crate::db::StoreError) -> Self {
        use crate::db::StoreError;
        match e {
            StoreError::NotFound => Self::NotFound("not found".into()),
            StoreError::UniqueViolation(_) => {
                Self::Conflict("a record with the same unique value already exists".into())
            }
            // Unless it died during COMMIT nothing was written; either way a re-send
            // is safe, as writes that create records carry client-generated ids.
            StoreError::ConnectionLost(why) => {
                tracing::warn!(error = why, "lost the database connection");
                Self::ConnectionLost
            }
            // Nothing was written: the transaction was rolled back whole.
            StoreError::Contention(why) => {
                tracing::warn!(error = why, "database contention");
                Self::Contended {
                    retry_after: CONTENTION_RETRY_AFTER,
                }
            }
            StoreError::Unreachable(_) => {
                Self::Unavailable("the database is not reachable; try again shortly".into())
            }
            other => Self::internal(other),
        }
    }
}

impl crate::db::Failure for ApiError {
    fn connection_lost(&self) -> bool {
        matches!(self, Self::ConnectionLost)
    }
}

impl From<Invalid> for ApiError {
    fn from(Invalid(errors): Invalid) -> Self {
        Self::Validation(errors)
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut fields = Vec::new();
        flatten_validation(&errors, "", &mut fields);
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        Self::Validation(fields)
    }
}

fn flatten_validation(
    errors: &validator::ValidationErrors,
    prefix: &str,
    out: &mut Vec<FieldError>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|e| {
                let message = e
                    .message
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| format!("is invalid ({})", e.code));
                FieldError::new(path.clone(), message)
            })),
            ValidationErrorsKind::Struct(inner) => flatten_validation(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_validation(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

impl From<crate::domain_error::DomainError> for ApiError {
    fn from(e: crate::domain_error::DomainError) -> Self {
        use crate::domain_error::DomainError;
        match e {
            DomainError::NotFound(what) => Self::NotFound(what),
            DomainError::Forbidden(why) => Self::Forbidden(why),
            DomainError::Conflict(why) => Self::Conflict(why),
            DomainError::Invalid(invalid) => invalid.into(),
            DomainError::BadQuery(why) => Self::BadRequest(why),
            DomainError::Store(e) => e.into(),
            DomainError::Corrupt(why) => Self::internal(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::StoreError;
    use diesel::result::{DatabaseErrorKind as Kind, Error};

    fn db(kind: Kind) -> Error {
        Error::DatabaseError(kind, Box::new("x".to_owned()))
    }

    #[test]
    fn storage_failures_get_their_statuses_here() {
        let status = |e: ApiError| e.status_code();
        assert!(matches!(
            ApiError::from(db(Kind::ClosedConnection)),
            ApiError::ConnectionLost
        ));
        assert_eq!(
            status(db(Kind::UniqueViolation).into()),
            StatusCode::CONFLICT
        );
        assert_eq!(status(StoreError::NotFound.into()), StatusCode::NOT_FOUND);
        assert_eq!(
            status(StoreError::Unreachable("timed out".into()).into()),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(StoreError::Crashed("panicked".into()).into()),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status(db(Kind::CheckViolation).into()),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// A serialization failure or a deadlock rolled the whole transaction back:
    /// the client is told to send it again, after a moment, rather than that
    /// the server failed.
    #[test]
    fn contention_answers_503_with_retry_after() {
        for contended in [
            db(Kind::SerializationFailure),
            Error::DatabaseError(Kind::Unknown, Box::new("database is locked".to_owned())),
            Error::DatabaseError(Kind::Unknown, Box::new("deadlock detected".to_owned())),
            Error::DatabaseError(
                Kind::Unknown,
                Box::new("canceling statement due to lock timeout".to_owned()),
            ),
        ] {
            let e = ApiError::from(contended);
            assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
            let response = e.render(Some("req-1"));
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
            let problem = e.problem(Some("req-1"));
            assert_eq!(
                problem.detail.as_deref(),
                Some("the database was busy with other changes; try again shortly")
            );
        }
    }
}
