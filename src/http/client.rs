//! Who is calling, as far as the network can tell: the address the sign-in
//! throttle and the refusal tallies count.

use std::net::{IpAddr, SocketAddr};

use actix_web::HttpRequest;
use actix_web::http::header;

/// The peer's address, or behind `trusted_hops` proxies of ours
/// (`BASEWATCH_TRUST_PROXY`) the address the outermost of them appended to
/// `X-Forwarded-For`: the `trusted_hops`-th entry from the right. Entries further
/// left were written by the client and prove nothing. A header too short or
/// with a malformed entry in the trusted part gives the peer's address.
///
/// An IPv6 client is counted by its /64 (one subscriber's network holds 2^64
/// addresses to rotate through), an IPv4-mapped one as IPv4. Always a parsed
/// address, never text the client chose.
pub fn client_address(req: &HttpRequest, trust_proxy: bool, trusted_hops: usize) -> String {
    let ip = trust_proxy
        .then(|| forwarded_for(req, trusted_hops))
        .flatten()
        .or_else(|| req.peer_addr().map(|a| a.ip()));
    match ip {
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{network}/64")
            }
        },
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".to_owned(),
    }
}

fn forwarded_for(req: &HttpRequest, trusted_hops: usize) -> Option<IpAddr> {
    // Several headers make one list, in order (RFC 9110, section 5.3). Split as
    // bytes: what the client wrote to the left (even bytes that are not text, as
    // proxies that add a header line of their own pass on) must not hide the
    // entry our proxy appended.
    let mut entries: Vec<&[u8]> = Vec::new();
    for value in req.headers().get_all(header::X_FORWARDED_FOR) {
        entries.extend(
            value
                .as_bytes()
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii),
        );
    }
    if trusted_hops == 0 || entries.len() < trusted_hops {
        return None;
    }
    // Every entry our proxies wrote must be an address; one that is not means
    // the chain is not what we were told it is.
    let trusted: Vec<IpAddr> = entries[entries.len() - trusted_hops..]
        .iter()
        .map(|entry| std::str::from_utf8(entry).ok().and_then(parse))
        .collect::<Option<_>>()?;
    trusted.first().copied()
}

/// `192.0.2.1`, `2001:db8::1`, or either with a port (`[2001:db8::1]:443`).
fn parse(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn address(headers: &[&str], trust: bool, hops: usize) -> String {
        let mut req = TestRequest::default().peer_addr("10.0.0.9:5555".parse().unwrap());
        for value in headers {
            req = req.append_header((header::X_FORWARDED_FOR, *value));
        }
        client_address(&req.to_http_request(), trust, hops)
    }

    #[test]
    fn the_entry_our_proxy_appended_is_the_client() {
        // The client wrote "1.1.1.1"; our proxy appended the address it saw.
        assert_eq!(address(&["1.1.1.1, 203.0.113.7"], true, 1), "203.0.113.7");
        assert_eq!(address(&["1.1.1.1", "203.0.113.7"], true, 1), "203.0.113.7");
        // Two proxies of ours: the outer one's entry is second from the right.
        assert_eq!(
            address(&["1.1.1.1, 203.0.113.7, 10.0.0.2"], true, 2),
            "203.0.113.7"
        );
        assert_eq!(address(&["[2001:db8::1]:443"], true, 1), "2001:db8::/64");
        assert_eq!(
            address(&["2001:db8:1:2:3:4:5:6"], true, 1),
            "2001:db8:1:2::/64"
        );
        assert_eq!(address(&["::ffff:192.0.2.9"], true, 1), "192.0.2.9");
        // Bytes that are not text, to the left of our proxy's entry, change nothing.
        let req = TestRequest::default()
            .peer_addr("10.0.0.9:5555".parse().unwrap())
            .append_header((
                header::X_FORWARDED_FOR,
                header::HeaderValue::from_bytes(b"\xff\xfe, 1.1.1.1").unwrap(),
            ))
            .append_header((header::X_FORWARDED_FOR, "203.0.113.7"))
            .to_http_request();
        assert_eq!(client_address(&req, true, 1), "203.0.113.7");
    }

    #[test]
    fn anything_else_is_the_peer() {
        assert_eq!(address(&["203.0.113.7"], false, 1), "10.0.0.9");
        assert_eq!(address(&[], true, 1), "10.0.0.9");
        assert_eq!(address(&["203.0.113.7"], true, 2), "10.0.0.9");
        for bad in ["not-an-ip", "1.1.1.1, ", "999.1.1.1", "unknown"] {
            assert_eq!(address(&[bad], true, 1), "10.0.0.9", "{bad:?}");
        }
        assert_eq!(address(&["1.1.1.1, bogus, 10.0.0.2"], true, 2), "10.0.0.9");
    }
}
