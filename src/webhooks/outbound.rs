//! Outbound requests to subscribers' endpoints, and what they may reach.
//!
//! A target is refused when it is not https (unless private targets are
//! allowed, for tests and scripts) or when its address is loopback, private,
//! link-local (the cloud metadata address 169.254.169.254 among them),
//! unspecified, multicast, carrier-grade NAT or reserved, IPv4 inside IPv6
//! included. It is checked when a subscription is saved, and again at every
//! connection: the client resolves names through `Guarded`, which drops such
//! addresses, so a name that resolves elsewhere later (DNS rebinding) cannot
//! reach inside. No proxy, no redirects, short timeouts, a capped body.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::WebhookSettings;

/// Response bytes read at most; the log keeps a shorter excerpt.
pub const BODY_CAP: usize = 4096;
pub const EXCERPT_CHARS: usize = 256;
const MAX_URL_LEN: usize = 2000;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Why an address may not be a webhook target, if it may not.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (cloud metadata among them)")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast, broadcast or reserved address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || ip.is_documentation()
        || (a == 192 && b == 88 && ip.octets()[2] == 99)
    {
        Some("a reserved or documentation address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // Forms that carry an IPv4 address a gateway may translate to: NAT64
    // (64:ff9b::/96 and the local-use 64:ff9b:1::/48) and SIIT (::ffff:0:0/96)
    // in their last 32 bits, 6to4 (2002::/16) in the 32 bits after the prefix.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
        || segments[..3] == [0x64, 0xff9b, 1]
        || segments[..6] == [0, 0, 0, 0, 0xffff, 0]
    {
        let [.., hi, lo] = segments;
        return refused_v4(embedded(hi, lo)).or(Some("an address translated to IPv4"));
    }
    if segments[0] == 0x2002 {
        return refused_v4(embedded(segments[1], segments[2]))
            .or(Some("a 6to4 address (relayed to IPv4)"));
    }
    if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        return Some("a documentation address");
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() || segments[..6] == [0; 6] {
        Some("an unspecified or IPv4-compatible address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        Some("a link-local address")
    } else {
        None
    }
}

/// Checks a target URL as written (scheme, credentials, a literal address);
/// `resolved` then checks where its name points.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("is longer than {MAX_URL_LEN} characters"));
    }
    // The URL parser would drop these silently and deliver elsewhere than written.
    if raw
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Err("must not hold spaces, control characters or backslashes".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("is not an absolute URL ({e})"))?;
    if url.port() == Some(0) {
        return Err("names port 0".into());
    }
    // `https:///x` is read as host `x`: the host must be the one written.
    let written = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if !raw.to_ascii_lowercase().starts_with(&written) {
        return Err(format!("is not written as it would be read ({url})"));
    }
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err("must use https".into()),
        other => return Err(format!("must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; authenticate the request by its signature".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    match url.host() {
        None => Err("has no host".into()),
        Some(_) if allow_private => Ok(url),
        Some(url::Host::Ipv4(ip)) => literal(IpAddr::V4(ip)).map(|()| url),
        Some(url::Host::Ipv6(ip)) => literal(IpAddr::V6(ip)).map(|()| url),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                Err("names a loopback address (localhost)".into())
            } else {
                Ok(url)
            }
        }
    }
}

fn literal(ip: IpAddr) -> Result<(), String> {
    match refused(ip) {
        Some(why) => Err(format!(
            "names {why} ({ip}); webhooks reach public addresses only"
        )),
        None => Ok(()),
    }
}

/// The URL's name resolved now: refused when any address it resolves to is
/// (a name that does not resolve yet is checked again at connection time).
pub async fn resolved(url: &Url, allow_private: bool) -> Result<(), String> {
    let Some(url::Host::Domain(name)) = url.host() else {
        return Ok(());
    };
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(addrs) = tokio::net::lookup_host((name, port)).await else {
        return Ok(());
    };
    for addr in addrs {
        if let Some(why) = refused(addr.ip()) {
            return Err(format!(
                "resolves to {why} ({}); webhooks reach public addresses only",
                addr.ip()
            ));
        }
    }
    Ok(())
}

/// Resolves names for the client, dropping every address `refused` names.
struct Guarded;

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| refused(a.ip()).is_none())
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address (refused)").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The client the worker sends with.
pub fn client(settings: &WebhookSettings) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.response_timeout)
        .user_agent(concat!("Basewatch-Webhooks/", env!("CARGO_PKG_VERSION")));
    if !settings.allow_private {
        builder = builder.dns_resolver(Arc::new(Guarded));
    }
    builder.build().expect("the webhook client builds")
}

/// What one request came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    pub retry_after: Option<Duration>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Timeouts, connection errors, 429 and 5xx are worth another attempt;
    /// any other answer is final.
    pub fn retryable(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s == 429 || s >= 500,
        }
    }
}

/// POSTs the body with the given headers; a literal address in the URL is
/// checked here, since it never passes through the resolver.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    allow_private: bool,
) -> Outcome {
    let started = Instant::now();
    let finish = |mut outcome: Outcome| {
        outcome.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        outcome
    };
    let failed = |error: String| Outcome {
        error: Some(error),
        ..Outcome::default()
    };
    if let Err(e) = check_url(url, allow_private) {
        return finish(failed(format!("the target {e}")));
    }
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => return finish(failed(describe(&e))),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after);
    let mut bytes = Vec::new();
    let mut error = None;
    while bytes.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                error = Some(describe(&e));
                break;
            }
        }
    }
    bytes.truncate(BODY_CAP);
    let excerpt: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| *c != '\0')
        .take(EXCERPT_CHARS)
        .collect();
    finish(Outcome {
        status: Some(status),
        error,
        excerpt: (!excerpt.is_empty()).then_some(excerpt),
        retry_after,
        ..Outcome::default()
    })
}

/// An error with its causes, which name what failed (the resolver's refusal).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

/// `Retry-After` in seconds or as an HTTP date, capped at a day.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
            "64:ff9b:1::a00:1",
            "::ffff:0:7f00:1",
            "2002:7f00:1::",
            "2002:a00:1::",
            "2001:db8::1",
            "203.0.113.1",
            "192.88.99.1",
        ] {
            assert!(refused(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(refused(ip.parse().unwrap()).is_none(), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_as_written() {
        for bad in [
            "http://example.org/hook",
            "ftp://example.org/hook",
            "https://user:pw@example.org/hook",
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/hook",
            "https://api.localhost./hook",
            "https://2130706433/hook",
            "not a url",
            "https://example.com/\r\nX: y",
            "https://a\r\nb.example/",
            " https://example.com/",
            "https://example.com/ ",
            "https:///x",
            "https://example.com\\@127.0.0.1/",
            "https://example.com:0/",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://example.org/hook", false).is_ok());
        assert!(check_url("https://Example.ORG:8443/Hook?a=1", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/hook", true).is_ok());
    }

    #[test]
    fn retry_after_in_seconds_or_a_date() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
