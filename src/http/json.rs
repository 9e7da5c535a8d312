use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use validator::Validate;

use crate::error::{ApiError, FieldError, Invalid};

/// A JSON request body, parsed and then validated.
///
/// Every failure is specific: no or wrong content type (415), too large (413),
/// not JSON (400), JSON of the wrong shape or values (422, naming each field).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = check_content_type(req);
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            content_type?;
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::BadRequest(format!("could not read the request body: {e}"))
                }
            })?;
            let value: T = parse(&bytes)?;
            value.validate().map_err(ApiError::from)?;
            Ok(ValidJson(value))
        })
    }
}

/// A JSON object taken as it is, for bodies whose fields are checked one by one
/// (incidents: client ids, server-owned fields, merge patches).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

impl Validate for JsonObject {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

/// The body size limit, registered as app data beside actix's `PayloadConfig`
/// (which keeps its own copy private) so that a 413 can say what the limit is.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    match req.mime_type() {
        Ok(Some(mime))
            if mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json")) =>
        {
            Ok(())
        }
        Ok(Some(mime)) => Err(ApiError::UnsupportedMediaType(format!(
            "the body must be application/json, not {mime}"
        ))),
        Ok(None) => Err(ApiError::UnsupportedMediaType(
            "the body must be application/json; set the Content-Type header".into(),
        )),
        Err(_) => Err(ApiError::UnsupportedMediaType(
            "the Content-Type header is not a valid media type".into(),
        )),
    }
}

/// Parses JSON in two steps, so that broken JSON (400) and JSON of the wrong
/// shape (422, naming the field at fault) can never be confused.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    if depth(&value) > MAX_DEPTH {
        return Err(ApiError::BadRequest(format!(
            "the JSON is nested more than {MAX_DEPTH} levels deep; no Basewatch body needs more than 4"
        )));
    }
    if let Some(field) = nul_in(&value) {
        return Err(ApiError::Validation(vec![FieldError::new(
            field,
            "must not contain a NUL character (U+0000)",
        )]));
    }
    // Every body Basewatch takes is an object; serde would also fill a struct from
    // an array of its fields in order (`[null, null]`), which no client means.
    if !value.is_object() {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    serde_path_to_error::deserialize(value).map_err(|e| json_error(e).into())
}

/// The path (`comment`, `victims.nationalities[1]`) of the first string, or
/// object key, holding a NUL character. No text Basewatch keeps has one, and
/// PostgreSQL cannot store one in `text`: refused here, for every body, before
/// any handler runs, so both backends answer the same 422.
fn nul_in(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                // A key is named as sent, shortened and with its NUL made visible.
                path.extend(key.chars().take(MAX_KEY_CHARS).map(|c| match c {
                    '\0' => char::REPLACEMENT_CHARACTER,
                    c => c,
                }));
                let found = key.contains('\0') || walk(item, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then(|| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }
    })
}

/// How much of an object key a problem repeats.
const MAX_KEY_CHARS: usize = 64;

/// Deepest nesting a body may have (serde_json stops at 128 on its own).
pub const MAX_DEPTH: usize = 16;

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A body that does not deserialise, as the field at fault and why.
pub fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> Invalid {
    let path = e.path().to_string();
    let message = strip_position(&e.into_inner().to_string());
    let field = field_of(&path, &message);
    Invalid::field(field, message)
}

/// serde appends " at line 1 column 17"; the field name says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// serde reports a missing field at its parent; name the field itself.
fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (named, parent.is_empty()) {
        (Some(name), true) => name.to_owned(),
        (Some(name), false) => format!("{parent}.{name}"),
        (None, true) => "body".to_owned(),
        (None, false) => parent.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Login {
        #[allow(dead_code)]
        email: String,
        #[allow(dead_code)]
        age: u8,
    }

    fn errors(body: &str) -> Vec<FieldError> {
        match parse::<Login>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_missing_field() {
        assert_eq!(errors(r#"{"age": 3}"#)[0].field, "email");
    }

    #[test]
    fn names_the_field_of_the_wrong_type() {
        let e = &errors(r#"{"email": "a@b.c", "age": "x"}"#)[0];
        assert_eq!(e.field, "age");
        assert!(!e.message.contains("line"), "{}", e.message);
    }

    #[test]
    fn names_unknown_fields() {
        let e = &errors(r#"{"email": "a@b.c", "age": 3, "role": "admin"}"#)[0];
        assert_eq!(e.field, "role");
        assert!(e.message.contains("unknown field `role`"), "{}", e.message);
    }

    #[test]
    fn names_the_string_holding_a_nul() {
        let e = &errors("{\"email\": \"a\\u0000@b.c\", \"age\": 3}")[0];
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("email", "must not contain a NUL character (U+0000)")
        );
        let nul = |body: &str| nul_in(&serde_json::from_str(body).unwrap());
        assert_eq!(
            nul(r#"{"a": {"b": ["x", "y\u0000"]}}"#).as_deref(),
            Some("a.b[1]")
        );
        assert_eq!(
            nul(r#"{"a": [{"c": 1}, {"d\u0000": 1}]}"#).as_deref(),
            Some("a[1].d\u{fffd}")
        );
        assert_eq!(nul(r#""\u0000""#).as_deref(), Some("body"));
        assert_eq!(nul(r#"{"a": "x", "b": ["\u0001", 0]}"#), None);
    }

    #[test]
    fn lone_surrogates_are_malformed_json() {
        assert!(matches!(
            parse::<Login>(br#"{"email": "\ud800", "age": 3}"#),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        assert!(matches!(
            parse::<Login>(b"{\"email\":"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse::<Login>(br#"{"email": "a@b.c", "age": 3} {}"#),
            Err(ApiError::BadRequest(_))
        ));
    }
}
