//! The client address used by IP rules: the peer address, or, when the peer is a trusted
//! proxy, the right-most address of `X-Forwarded-For` that is not itself a trusted proxy.

use std::net::IpAddr;

use gatehouse_config::model::IpNetwork;
use http::HeaderMap;

use crate::headers::X_FORWARDED_FOR;

/// Returns the client address for `peer` and the request's headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .map_while(|hop| hop.parse::<IpAddr>().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|hop| !is_trusted(*hop, trusted))
        .unwrap_or(peer)
}

fn is_trusted(ip: IpAddr, trusted: &[IpNetwork]) -> bool {
    trusted.iter().any(|network| network.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn network(text: &str, prefix: u8) -> IpNetwork {
        IpNetwork {
            address: text.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn untrusted_peer_ignores_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_static("198.51.100.1"),
        );
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(peer, &headers, &[network("127.0.0.1", 32)]), peer);
    }

    #[test]
    fn trusted_peer_uses_rightmost_untrusted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_static("1.1.1.1, 198.51.100.1, 10.0.0.5"),
        );
        let trusted = [network("127.0.0.1", 32), network("10.0.0.0", 8)];
        assert_eq!(
            resolve("127.0.0.1".parse().unwrap(), &headers, &trusted),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn garbage_hop_stops_the_walk() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR.clone(),
            HeaderValue::from_static("not-an-ip"),
        );
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(resolve(peer, &headers, &[network("127.0.0.1", 32)]), peer);
    }
}
