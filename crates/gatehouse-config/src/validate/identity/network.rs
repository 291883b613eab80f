//! Parsing of IP networks in CIDR form (`10.0.0.0/8`, `2001:db8::/32`) and of single
//! addresses, which stand for a /32 or /128 network.

use std::net::IpAddr;

use crate::model::IpNetwork;
use crate::validate::report::Problem;

const NETWORK_HELP: &str =
    "write an IPv4 or IPv6 network such as 10.0.0.0/8 or 2001:db8::/32, or a single address";

/// Parses a network in CIDR form or a single address. Host bits after the prefix must be
/// zero, and IPv4-mapped IPv6 networks must be written in IPv4 form, because client
/// addresses are compared as IPv4 when they are IPv4-mapped.
pub(crate) fn parse_network(text: &str) -> Result<IpNetwork, Problem> {
    let (address_text, prefix_text) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address: IpAddr = address_text.parse().map_err(|_| {
        Problem::new(
            format!("invalid IP address {address_text:?} in network {text:?}"),
            NETWORK_HELP,
        )
    })?;
    let max_prefix = if address.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max_prefix,
        Some(prefix_text) => match prefix_text.parse::<u8>() {
            Ok(prefix) if prefix <= max_prefix => prefix,
            _ => {
                let family = if address.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(Problem::new(
                    format!("invalid prefix length {prefix_text:?} in network {text:?}"),
                    format!("write a prefix length from 0 to {max_prefix} for an {family} network"),
                ));
            }
        },
    };
    if let IpAddr::V6(v6) = address {
        if let Some(v4) = v6.to_ipv4_mapped() {
            let help = match prefix_text {
                None => format!("write it in IPv4 form: {v4}"),
                Some(_) if prefix >= 96 => format!("write it in IPv4 form: {v4}/{}", prefix - 96),
                Some(_) => "write the IPv4 network in IPv4 form, such as 10.0.0.0/8".to_string(),
            };
            return Err(Problem::new(
                format!("network {text:?} is an IPv4-mapped IPv6 address"),
                help,
            ));
        }
    }
    let network = IpNetwork { address, prefix };
    let masked = network_address(network);
    if masked != address {
        return Err(Problem::new(
            format!("network {text:?} has host bits set after the /{prefix} prefix"),
            format!("write the network address {masked}/{prefix}, or {address}/{max_prefix} for the single address"),
        ));
    }
    Ok(network)
}

/// Returns the address with every bit after the prefix cleared.
fn network_address(network: IpNetwork) -> IpAddr {
    let prefix = u32::from(network.prefix);
    match network.address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(text: &str) -> IpNetwork {
        parse_network(text).unwrap_or_else(|problem| panic!("{text}: {}", problem.message))
    }

    #[test]
    fn cidr_and_single_addresses() {
        assert_eq!(network("10.0.0.0/8").prefix, 8);
        assert_eq!(network("192.0.2.7").prefix, 32);
        assert_eq!(network("2001:db8::/32").prefix, 32);
        assert_eq!(network("::1").prefix, 128);
        assert_eq!(network("0.0.0.0/0").prefix, 0);
    }

    #[test]
    fn host_bits_rejected_with_network_address() {
        let problem = parse_network("10.0.0.1/8").expect_err("host bits");
        assert!(problem.message.contains("host bits"), "{}", problem.message);
        assert!(problem.help.contains("10.0.0.0/8"), "{}", problem.help);
        let problem = parse_network("2001:db8::1/32").expect_err("host bits");
        assert!(problem.help.contains("2001:db8::/32"), "{}", problem.help);
    }

    #[test]
    fn prefix_out_of_range() {
        let problem = parse_network("10.0.0.0/33").expect_err("prefix");
        assert!(problem.help.contains("0 to 32"), "{}", problem.help);
        assert!(parse_network("::/129").is_err());
        assert!(parse_network("10.0.0.0/x").is_err());
        assert!(parse_network("10.0.0.0/").is_err());
    }

    #[test]
    fn invalid_address() {
        assert!(parse_network("10.0.0.256").is_err());
        assert!(parse_network("example.com/8").is_err());
    }

    #[test]
    fn mapped_address_suggests_ipv4() {
        let problem = parse_network("::ffff:10.0.0.0/104").expect_err("mapped");
        assert!(problem.help.contains("10.0.0.0/8"), "{}", problem.help);
    }
}
