//! One check for every query string, before any extractor reads it.

use actix_web::Error;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::error::ApiError;

/// How much of a parameter's name a problem repeats.
const MAX_NAME_CHARS: usize = 64;

/// Refuses a query string that carries a NUL character (`%00`) in any name or
/// value with a 400 naming the parameter. No parameter of Basewatch has a use
/// for one and PostgreSQL cannot bind one in `text` (it answered 500 to
/// `/audit?action=%00`), so every route, whatever its extractor, is covered
/// here once, the same on both backends.
pub async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if let Some(name) = parameter_with_nul(req.query_string()) {
        let refused = ApiError::BadRequest(format!(
            "query parameter `{name}` must not contain a NUL character (%00)"
        ));
        return Ok(req.error_response(refused));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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
        .map(|(name, _)| {
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
        })
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
}
