//! CIDR arithmetic on IPv4 networks (on the `ipnet` crate): parsing with AWS's rules and
//! Terraform's `cidrsubnet`.

use ipnet::Ipv4Net;

/// Parses `value` as an IPv4 network in CIDR notation whose host bits are zero.
pub fn parse_network(value: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = value
        .parse()
        .map_err(|_| format!("`{value}` is not an IPv4 CIDR block (like 10.0.0.0/16)"))?;
    if net.trunc() != net {
        return Err(format!(
            "`{value}` has host bits set; the network is {}",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Checks that `value` is a network whose prefix length is within `min..=max`
/// (AWS allows /16 to /28 for VPCs and subnets).
pub fn check_prefix(value: &str, min: u8, max: u8) -> Result<Ipv4Net, String> {
    let net = parse_network(value)?;
    if net.prefix_len() < min || net.prefix_len() > max {
        return Err(format!(
            "`{value}` has prefix /{}, AWS allows /{min} to /{max}",
            net.prefix_len()
        ));
    }
    Ok(net)
}

/// Terraform's `cidrsubnet(prefix, newbits, netnum)`: the `netnum`-th subnetwork of
/// `prefix` that is `newbits` longer.
pub fn cidrsubnet(prefix: &str, newbits: u8, netnum: u32) -> Result<Ipv4Net, String> {
    let net = parse_network(prefix)?;
    let len = net.prefix_len() + newbits;
    if len > 32 {
        return Err(format!("`{prefix}` cannot be split {newbits} bits further"));
    }
    let count = 1u64 << newbits;
    if u64::from(netnum) >= count {
        return Err(format!(
            "`{prefix}` split by {newbits} bits has {count} subnets; index {netnum} is out of range"
        ));
    }
    net.subnets(len)
        .map_err(|e| e.to_string())?
        .nth(netnum as usize)
        .ok_or_else(|| format!("`{prefix}` has no subnet {netnum}"))
}

/// Whether two networks share any address (for prefix blocks: one contains the other).
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrsubnet_matches_terraform() {
        assert_eq!(
            cidrsubnet("10.0.0.0/16", 4, 0).unwrap().to_string(),
            "10.0.0.0/20"
        );
        assert_eq!(
            cidrsubnet("10.0.0.0/16", 4, 10).unwrap().to_string(),
            "10.0.160.0/20"
        );
        assert_eq!(
            cidrsubnet("10.1.0.0/16", 4, 2).unwrap().to_string(),
            "10.1.32.0/20"
        );
        assert!(cidrsubnet("10.0.0.0/16", 4, 16).is_err());
    }

    #[test]
    fn host_bits_and_prefix_limits() {
        assert!(
            parse_network("10.0.0.1/16")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(parse_network("10.0.0/16").is_err());
        assert!(
            check_prefix("10.0.0.0/8", 16, 28)
                .unwrap_err()
                .contains("/16 to /28")
        );
        assert!(check_prefix("10.0.0.0/16", 16, 28).is_ok());
    }

    #[test]
    fn overlap_is_containment_either_way() {
        let net = |s: &str| parse_network(s).unwrap();
        assert!(overlaps(&net("10.0.0.0/16"), &net("10.0.16.0/20")));
        assert!(overlaps(&net("10.0.16.0/20"), &net("10.0.0.0/16")));
        assert!(!overlaps(&net("10.0.0.0/20"), &net("10.0.16.0/20")));
    }
}
