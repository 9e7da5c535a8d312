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
/// NUL character.
fn parameter_with_nul(query: &str) -> Option<String> {
    // Only `%00` decodes to NUL: a raw NUL never gets past the HTTP parser.
    if !query.contains("%00") {
        return None;
    }
    query
        .split('&')
        .find(|pair| pair.contains("%00"))
        .map(|pair| {
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let name = String::from_utf8_lossy(&percent_decode(name)).into_owned();
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

/// `application/x-www-form-urlencoded` decoding, as the query extractor does it.
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
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
    fn decodes_as_forms_do() {
        assert_eq!(percent_decode("a+b%20c%2"), b"a b c%2");
        assert_eq!(percent_decode("%e2%82%ac"), "€".as_bytes());
    }
}
