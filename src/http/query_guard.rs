//! One check for every query string, before any extractor reads it.

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::ApiError;

/// How much of a parameter's name a problem repeats.
const MAX_NAME_CHARS: usize = 64;

/// Refuses, with a 400 naming the parameter, a query string that carries in
/// any name or value
/// - a NUL character (`%00`): no parameter of Basewatch has a use for one and
///   PostgreSQL cannot bind one in `text` (it answered 500 to
///   `/audit?action=%00`);
/// - percent-encoded bytes that are not UTF-8 (`%FF`): the query extractor
///   would read them as U+FFFD, and keep `?filename=%FF.pdf` as another name
///   than the one sent.
///
/// Every route, whatever its extractor, is covered here once, the same on both
/// backends.
pub async fn refuse_unreadable_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if let Some(refused) = unreadable(req.query_string()) {
        return Ok(req.error_response(refused));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn unreadable(query: &str) -> Option<ApiError> {
    if let Some(name) = parameter_with_nul(query) {
        return Some(ApiError::BadRequest(format!(
            "query parameter `{name}` must not contain a NUL character (%00)"
        )));
    }
    not_utf8(query).map(ApiError::BadRequest)
}

fn shown(name: &str) -> String {
    name.chars()
        .take(MAX_NAME_CHARS)
        .map(|c| {
            if c == '\0' {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}

/// The (decoded) name of the first parameter whose name or value decodes to a
/// NUL character, decoded as the query extractor decodes it.
fn parameter_with_nul(query: &str) -> Option<String> {
    // Only `%00` decodes to NUL: a raw NUL never gets past the HTTP parser.
    if !query.contains("%00") {
        return None;
    }
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| shown(&name))
}

/// Why the first name or value that is not UTF-8 once percent-decoded is refused.
fn not_utf8(query: &str) -> Option<String> {
    // The query string itself is text: only an escaped byte can be no character.
    if !query.contains('%') {
        return None;
    }
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = match String::from_utf8(percent_decoded(name)) {
            Ok(name) => name,
            Err(e) => {
                return Some(format!(
                    "query parameter names must be UTF-8 once percent-decoded; `{}` is not",
                    shown(&String::from_utf8_lossy(e.as_bytes()))
                ));
            }
        };
        if std::str::from_utf8(&percent_decoded(value)).is_err() {
            return Some(format!(
                "query parameter `{}` must be UTF-8 once percent-decoded",
                shown(&name)
            ));
        }
    }
    None
}

/// The bytes of a name or value once percent-decoded (`+` is a space to
/// `form_urlencoded`, which changes nothing of whether they are UTF-8).
fn percent_decoded(text: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_parameter_with_a_nul() {
        assert_eq!(
            parameter_with_nul("action=a%00b").as_deref(),
            Some("action")
        );
        assert_eq!(
            parameter_with_nul("limit=5&entity_id=%00").as_deref(),
            Some("entity_id")
        );
        assert_eq!(parameter_with_nul("%00x=1").as_deref(), Some("\u{fffd}x"));
        assert_eq!(parameter_with_nul("a%2Bb=%00").as_deref(), Some("a+b"));
        assert_eq!(
            parameter_with_nul("action=a%2500"),
            None,
            "%25 is a percent sign"
        );
        assert_eq!(parameter_with_nul("action=%01&x=%0"), None);
        assert_eq!(parameter_with_nul(""), None);
    }

    #[test]
    fn decodes_names_as_forms_do() {
        assert_eq!(parameter_with_nul("a+b%20c=%00").as_deref(), Some("a b c"));
        assert_eq!(parameter_with_nul("%e2%82%ac=%00").as_deref(), Some("€"));
    }

    #[test]
    fn names_the_parameter_that_is_not_utf8() {
        let detail = |query| not_utf8(query).expect("refused");
        assert_eq!(
            detail("filename=%FF.png"),
            "query parameter `filename` must be UTF-8 once percent-decoded"
        );
        assert!(detail("limit=5&filename=a%C3+b").starts_with("query parameter `filename`"));
        assert!(detail("filename=%ED%A0%80").starts_with("query parameter `filename`"));
        assert!(detail("%FEa=1").contains("`\u{fffd}a` is not"));
        for readable in [
            "filename=%C3%81%zz%2",
            "a=%",
            "a=b+c",
            "",
            "%e2%82%ac=%EF%BF%BD",
        ] {
            assert_eq!(not_utf8(readable), None, "{readable}");
        }
        assert_eq!(percent_decoded("%C3%81+%zz%2"), "Á+%zz%2".as_bytes());
    }
}
