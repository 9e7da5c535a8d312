//! OAuth scopes and the one table that says which scope each operation needs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
// Named apart from the aggregates' `Scope` (utoipa keys schemas by name).
#[schema(as = OAuthScope)]
pub enum Scope {
    /// Report, edit and move incidents (as far as the role allows).
    #[serde(rename = "incidents:write")]
    IncidentsWrite,
    /// Read and list incidents and their history.
    #[serde(rename = "incidents:read")]
    IncidentsRead,
    /// Aggregates, analyses and partner releases.
    #[serde(rename = "stats:read")]
    StatsRead,
    /// Row-level exports.
    #[serde(rename = "exports:read")]
    ExportsRead,
    /// Webhook subscriptions.
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::IncidentsWrite,
        Scope::IncidentsRead,
        Scope::StatsRead,
        Scope::ExportsRead,
        Scope::WebhooksManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::IncidentsWrite => "incidents:write",
            Scope::IncidentsRead => "incidents:read",
            Scope::StatsRead => "stats:read",
            Scope::ExportsRead => "exports:read",
            Scope::WebhooksManage => "webhooks:manage",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scope::IncidentsWrite => "report, edit and move incidents, as far as the role allows",
            Scope::IncidentsRead => "read and list incidents and their history",
            Scope::StatsRead => "aggregates, analyses and partner releases",
            Scope::ExportsRead => "row-level exports",
            Scope::WebhooksManage => "webhook subscriptions",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| format!("unknown scope {s:?}"))
    }
}

/// Scopes as stored and as a token's `scope` claim: space-separated, sorted, once each.
pub fn join(scopes: &[Scope]) -> String {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The inverse of `join`; unknown names are an error.
pub fn split(text: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = text
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<Scope>, String>>()?;
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// What an operation asks of a service account's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Any valid token: reference data (missions, bases, deployments) that
    /// every report names.
    AnyScope,
    Scope(Scope),
    /// Not open to service accounts: administration and a person's own account.
    PeopleOnly,
}

/// The scope each operation needs, by method and route pattern.
pub fn required(method: &str, pattern: &str) -> Need {
    use Scope::*;
    let need = match (method, pattern) {
        ("POST", "/api/v1/incidents")
        | ("POST", "/api/v1/incidents/batch")
        | ("PATCH", "/api/v1/incidents/{id}")
        | ("POST", "/api/v1/incidents/{id}/transitions")
        | ("PUT", "/api/v1/incidents/{id}/assessment")
        | ("PUT", "/api/v1/incidents/{id}/attachments/{attachment_id}")
        | ("POST", "/api/v1/incidents/{id}/attachments")
        | ("DELETE", "/api/v1/incidents/{id}/attachments/{attachment_id}") => IncidentsWrite,
        ("GET", "/api/v1/incidents")
        | ("GET", "/api/v1/incidents/{id}")
        | ("GET", "/api/v1/incidents/{id}/history")
        | ("GET", "/api/v1/incidents/{id}/attachments")
        | ("GET", "/api/v1/incidents/{id}/attachments/{attachment_id}")
        | ("GET", "/api/v1/incidents/{id}/attachments/{attachment_id}/content")
        | ("GET", "/api/v1/changes") => IncidentsRead,
        ("GET", "/api/v1/stats/incidents")
        | ("GET", "/api/v1/analysis/deployment-effect")
        | ("GET", "/api/v1/releases") => StatsRead,
        ("GET", "/api/v1/exports/incidents") => ExportsRead,
        (_, p) if p == "/api/v1/webhooks" || p.starts_with("/api/v1/webhooks/") => WebhooksManage,
        ("GET", "/api/v1/missions")
        | ("GET", "/api/v1/missions/{id}")
        | ("GET", "/api/v1/missions/{id}/bases")
        | ("GET", "/api/v1/bases/{id}")
        | ("GET", "/api/v1/bases/{id}/deployments")
        | ("GET", "/api/v1/deployments/{id}") => return Need::AnyScope,
        _ => return Need::PeopleOnly,
    };
    Need::Scope(need)
}

/// Documents the OAuth 2.0 client credentials scheme and, on each operation
/// a service account may call, the scope it needs beside the bearer token.
pub fn document(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{
        ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityRequirement,
        SecurityScheme,
    };
    let scopes = Scopes::from_iter(Scope::ALL.map(|s| (s.as_str(), s.description())));
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "client_credentials",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    "/api/v1/oauth/token",
                    scopes,
                ))],
                "Service accounts: an access token from the client credentials grant. \
                 Its scopes narrow what the account's role allows.",
            )),
        );
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "At the token endpoint only: the service account's id and secret \
                         (RFC 6749 §2.3.1); or send client_id and client_secret in the form",
                    ))
                    .build(),
            ),
        );
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ] {
            let Some(op) = op else { continue };
            let needed: Vec<&str> = match required(method, path) {
                Need::PeopleOnly => continue,
                Need::AnyScope => vec![],
                Need::Scope(scope) => vec![scope.as_str()],
            };
            op.security
                .get_or_insert_with(Vec::new)
                .push(SecurityRequirement::new("client_credentials", needed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_sorted_and_once() {
        let text = join(&[Scope::StatsRead, Scope::IncidentsWrite, Scope::StatsRead]);
        assert_eq!(text, "incidents:write stats:read");
        assert_eq!(
            split(&text).unwrap(),
            vec![Scope::IncidentsWrite, Scope::StatsRead]
        );
        assert!(split("incidents:write admin").is_err());
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_value(scope).unwrap(),
                serde_json::json!(scope.as_str())
            );
        }
    }

    /// Every operation that needs a scope exists in the document (or is one of
    /// the routes announced for later), so a renamed route cannot silently
    /// fall to `PeopleOnly`.
    #[test]
    fn every_scoped_operation_is_a_route() {
        let doc = crate::startup::openapi_doc();
        let mut operations = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    operations.push((method, path.clone()));
                }
            }
        }
        let scoped = operations
            .iter()
            .filter(|(m, p)| required(m, p) != Need::PeopleOnly)
            .count();
        assert_eq!(scoped, 34, "{operations:?}");
        assert_eq!(required("GET", "/api/v1/users"), Need::PeopleOnly);
        assert_eq!(required("GET", "/api/v1/me"), Need::PeopleOnly);
        assert_eq!(
            required("POST", "/api/v1/service-accounts"),
            Need::PeopleOnly
        );
    }
}
