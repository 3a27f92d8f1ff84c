//! Who a request counts against.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use poem::Request;

/// The client a budget belongs to: an IPv4 address, or an IPv6 /64.
///
/// An IPv6 subscriber usually holds a whole /64, so keying on the full address would give
/// one client 2^64 budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn from_ip(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let network = u128::from(v6) & !(u128::MAX >> 64);
                    IpAddr::V6(Ipv6Addr::from(network))
                }
            },
        };
        Self(ip)
    }

    /// The peer address, or with `trust_proxy_headers` the first `x-forwarded-for` hop
    /// when it parses.
    pub fn of_request(req: &Request, trust_proxy_headers: bool) -> Self {
        let peer = req.remote_addr().as_socket_addr().map(SocketAddr::ip);
        Self::resolve(peer, req.header("x-forwarded-for"), trust_proxy_headers)
    }

    /// A peer that is not an IP socket (never the case over TCP) shares one budget with
    /// every other such peer.
    fn resolve(
        peer: Option<IpAddr>,
        forwarded_for: Option<&str>,
        trust_proxy_headers: bool,
    ) -> Self {
        let forwarded = forwarded_for
            .filter(|_| trust_proxy_headers)
            .and_then(first_hop);
        Self::from_ip(
            forwarded
                .or(peer)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        )
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The left-most address of an `x-forwarded-for` value: the original client, as the proxy
/// saw it. Some proxies append a port; it is ignored.
fn first_hop(forwarded_for: &str) -> Option<IpAddr> {
    let hop = forwarded_for.split(',').next()?.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::from_ip(ip.parse().unwrap())
    }

    fn resolve(peer: &str, forwarded_for: Option<&str>, trust: bool) -> ClientKey {
        ClientKey::resolve(Some(peer.parse().unwrap()), forwarded_for, trust)
    }

    #[test]
    fn the_peer_address_is_the_key_and_a_forwarded_header_is_ignored_by_default() {
        let client = resolve("203.0.113.7", Some("198.51.100.1"), false);
        assert_eq!(client, key("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_header_gives_its_first_hop() {
        let cases = [
            ("198.51.100.1", "198.51.100.1"),
            (" 198.51.100.1 , 10.0.0.1", "198.51.100.1"),
            ("198.51.100.1:4711, 10.0.0.1", "198.51.100.1"),
            ("[2001:db8::1]:4711", "2001:db8::"),
        ];
        for (header, expected) in cases {
            assert_eq!(
                resolve("10.0.0.1", Some(header), true),
                key(expected),
                "{header}"
            );
        }
    }

    #[test]
    fn an_unparsable_or_missing_forwarded_header_falls_back_to_the_peer() {
        for header in [Some("unknown"), Some(""), None] {
            assert_eq!(
                resolve("10.0.0.1", header, true),
                key("10.0.0.1"),
                "{header:?}"
            );
        }
    }

    #[test]
    fn a_peer_without_an_ip_address_shares_the_unspecified_budget() {
        assert_eq!(ClientKey::resolve(None, None, false), key("0.0.0.0"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("2001:db8:1:2:aaaa::1").to_string(), "2001:db8:1:2::");
    }
}
