//! The SSRF guard of outbound calls (SPEC §7): which addresses a `call_webhook` may reach.
//!
//! [`is_forbidden`] says whether an address is internal (loopback, private, link-local, cloud
//! metadata, carrier-grade NAT, multicast, reserved); [`SsrfGuard`] adds the exceptions of
//! `outbound.allow_private_networks`. The guard is enforced at two points, because either alone
//! can be bypassed:
//!
//! - [`SsrfGuard::check_url`] before a call: only `http` and `https`, and a literal IP host is
//!   checked directly, since reqwest connects to a literal without asking any resolver.
//! - [`GuardedResolver`], the resolver the outbound client uses for every host name: it looks
//!   the name up once, refuses it if any address is forbidden, and hands the client exactly the
//!   addresses it checked, so no second lookup (DNS rebinding) can swap in an internal address.
//!
//! IPv6 forms that carry an IPv4 address (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
//! `64:ff9b::/96`, 6to4 `2002::/16`, Teredo `2001::/32`) are judged by the IPv4 address inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Refuses internal addresses unless a configured range allows them.
#[derive(Debug, Clone, Default)]
pub struct SsrfGuard {
    allowed: Vec<IpNet>,
}

impl SsrfGuard {
    /// A guard allowing the given CIDR ranges (a bare address means that one address).
    ///
    /// The error names the bad entry as `outbound.allow_private_networks[i]`.
    pub fn new<S: AsRef<str>>(allow_private_networks: &[S]) -> Result<SsrfGuard, String> {
        let mut allowed = Vec::with_capacity(allow_private_networks.len());
        for (i, entry) in allow_private_networks.iter().enumerate() {
            let entry = entry.as_ref().trim();
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(e) => entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!(
                        "outbound.allow_private_networks[{i}]: {entry:?} is not a CIDR range \
                         like \"10.0.0.0/8\" ({e})"
                    )
                })?,
            };
            allowed.push(net);
        }
        Ok(SsrfGuard { allowed })
    }

    /// The ranges this guard allows although they are internal.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// Refuses `ip` when it is forbidden and no allowed range covers it.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        if !is_forbidden(ip) || self.allows(ip) {
            return Ok(());
        }
        Err(format!(
            "{ip} is a loopback, private, link-local or reserved address and no \
             outbound.allow_private_networks range covers it"
        ))
    }

    /// Refuses a URL whose scheme is not `http` or `https`, or whose host is a literal IP
    /// address that [`SsrfGuard::check`] refuses; host names are left to [`GuardedResolver`].
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(format!(
                    "scheme {other:?} is not allowed; use http or https"
                ))
            }
        }
        let Some(host) = url.host_str() else {
            return Err("the URL has no host".to_owned());
        };

        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match literal.parse::<IpAddr>() {
            Ok(ip) => self.check(ip),
            Err(_) => Ok(()),
        }
    }

    /// Resolves `host` once and returns its addresses, or refuses it when any is forbidden.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, String> {
        let found = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;

        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in found {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }

        for addr in &addrs {
            if let Err(why) = self.check(addr.ip()) {
                log::debug!(host, address:% = addr.ip(); "outbound host refused by the SSRF guard");
                return Err(format!("{host} resolves to a forbidden address: {why}"));
            }
        }
        Ok(addrs)
    }

    /// Whether an allowed range covers `ip` or the IPv4 address it carries.
    fn allows(&self, ip: IpAddr) -> bool {
        let inner = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|net| net.contains(&ip) || inner.is_some_and(|v4| net.contains(&v4)))
    }
}

/// A reqwest DNS resolver that lets the client connect only to addresses the guard accepted.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    /// The guard that judges every resolved address.
    pub guard: Arc<SsrfGuard>,
}

impl GuardedResolver {
    /// A resolver enforcing `guard`.
    pub fn new(guard: Arc<SsrfGuard>) -> GuardedResolver {
        GuardedResolver { guard }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.guard);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = guard.resolve(&host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is internal or reserved, allowances aside.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

/// IPv4: everything but ordinary public unicast.
fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // 0.0.0.0/8, "this network", includes 0.0.0.0
        || ip.is_loopback() // 127.0.0.0/8
        || ip.is_private() // 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16
        || ip.is_link_local() // 169.254.0.0/16, includes metadata 169.254.169.254
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10, carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, IETF protocol assignments
        || ip.is_documentation() // 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15, benchmarking
        || ip.is_multicast() // 224.0.0.0/4
        || a >= 240 // 240.0.0.0/4 reserved, includes broadcast 255.255.255.255
}

/// IPv6: loopback, unspecified, local, multicast and reserved ranges, and any IPv4 carried
/// inside judged as IPv4.
fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_forbidden_v4(v4);
    }
    let s = ip.segments();
    ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10, old site-local
        || ip.is_multicast() // ff00::/8
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32, documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // 64:ff9b:1::/48, local NAT64
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64, discard
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        // ::a.b.c.d (compatible, includes :: and ::1), ::ffff:a.b.c.d (mapped) and
        // ::ffff:0:a.b.c.d (translated).
        [0, 0, 0, 0, 0, 0, _, _]
        | [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low), // NAT64 well-known prefix
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))), // 6to4
        [0x2001, 0, ..] => Some(!low), // Teredo: the client address, bits inverted
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        match s.parse() {
            Ok(ip) => ip,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn guard(allowed: &[&str]) -> SsrfGuard {
        match SsrfGuard::new(allowed) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    fn url(s: &str) -> Url {
        match Url::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn assert_forbidden(addresses: &[&str]) {
        for a in addresses {
            assert!(is_forbidden(ip(a)), "{a} should be forbidden");
        }
    }

    #[test]
    fn ipv4_internal_ranges_are_forbidden() {
        assert_forbidden(&["127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255"]);
        assert_forbidden(&[
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "192.168.255.255",
        ]);
        assert_forbidden(&["169.254.0.1", "169.254.169.254", "0.0.0.0", "0.1.2.3"]);
        assert_forbidden(&[
            "100.64.0.1",
            "100.127.255.255",
            "255.255.255.255",
            "240.0.0.1",
        ]);
        assert_forbidden(&["224.0.0.1", "239.255.255.250", "192.0.0.8", "198.18.0.1"]);
        assert_forbidden(&["192.0.2.1", "198.51.100.7", "203.0.113.9", "198.19.255.255"]);
    }

    #[test]
    fn ipv4_public_addresses_are_allowed() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
        ] {
            assert!(!is_forbidden(ip(a)), "{a} should be allowed");
        }
        for a in [
            "100.128.0.1",
            "169.253.0.1",
            "192.167.1.1",
            "198.20.0.1",
            "223.255.255.254",
        ] {
            assert!(!is_forbidden(ip(a)), "{a} should be allowed");
        }
    }

    #[test]
    fn ipv6_internal_ranges_are_forbidden() {
        assert_forbidden(&["::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1"]);
        assert_forbidden(&["fec0::1", "ff02::1", "ff05::2", "2001:db8::1", "100::1"]);
        assert_forbidden(&["64:ff9b:1::1"]);
    }

    #[test]
    fn ipv6_public_addresses_are_allowed() {
        for a in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "2001:4860:4860::8888",
        ] {
            assert!(!is_forbidden(ip(a)), "{a} should be allowed");
        }
    }

    #[test]
    fn ipv6_forms_carrying_ipv4_are_judged_as_ipv4() {
        assert_forbidden(&[
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
        ]);
        assert_forbidden(&["::127.0.0.1", "::ffff:0:192.168.1.1", "64:ff9b::10.0.0.1"]);
        assert_forbidden(&["64:ff9b::7f00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1"]);
        // Teredo with client 127.0.0.1 (stored inverted as 80ff:fffe).
        assert_forbidden(&["2001:0:4136:e378:8000:63bf:80ff:fffe"]);
        for a in [
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "::8.8.8.8",
        ] {
            assert!(!is_forbidden(ip(a)), "{a} should be allowed");
        }
    }

    #[test]
    fn allowances_cover_only_their_ranges() {
        let g = guard(&["127.0.0.0/8"]);
        assert!(g.check(ip("127.0.0.1")).is_ok());
        assert!(g.check(ip("127.3.2.1")).is_ok());
        assert!(g.check(ip("::ffff:127.0.0.1")).is_ok());
        assert!(g.check(ip("10.0.0.1")).is_err());
        assert!(g.check(ip("::1")).is_err());
        assert!(g.check(ip("169.254.169.254")).is_err());
        assert!(g.check(ip("8.8.8.8")).is_ok());

        let none = SsrfGuard::default();
        let refusal = none.check(ip("127.0.0.1")).err().unwrap_or_default();
        assert!(refusal.contains("127.0.0.1"), "{refusal}");
        assert!(none.check(ip("93.184.216.34")).is_ok());

        let single = guard(&["10.1.2.3", "fd00::/8"]);
        assert!(single.check(ip("10.1.2.3")).is_ok());
        assert!(single.check(ip("10.1.2.4")).is_err());
        assert!(single.check(ip("fd00::5")).is_ok());
    }

    #[test]
    fn a_bad_range_is_named_by_its_index() {
        let err = SsrfGuard::new(&["127.0.0.0/8", "10.0.0.0/33"]).err();
        let err = err.unwrap_or_default();
        assert!(
            err.starts_with("outbound.allow_private_networks[1]: "),
            "{err}"
        );
        assert!(SsrfGuard::new(&["not-a-range"]).is_err());
        assert!(SsrfGuard::new::<&str>(&[]).is_ok());
    }

    #[test]
    fn urls_need_http_and_a_checked_literal_host() {
        let g = SsrfGuard::default();
        assert!(g.check_url(&url("https://hooks.example.com/x")).is_ok());
        assert!(g.check_url(&url("http://8.8.8.8:8080/x")).is_ok());
        assert!(g.check_url(&url("http://[2606:4700:4700::1111]/")).is_ok());
        for refused in [
            "ftp://8.8.8.8/x",
            "file:///etc/passwd",
            "http://127.0.0.1:9090/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0/",
            "https://10.0.0.1/",
        ] {
            assert!(
                g.check_url(&url(refused)).is_err(),
                "{refused} should be refused"
            );
        }
        let dev = guard(&["127.0.0.0/8"]);
        assert!(dev.check_url(&url("http://127.0.0.1:9090/hook")).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_localhost_without_an_allowance() {
        let resolver = GuardedResolver::new(Arc::new(SsrfGuard::default()));
        let Ok(name) = "localhost".parse::<Name>() else {
            panic!("bad name");
        };
        match Resolve::resolve(&resolver, name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => assert!(e.to_string().contains("forbidden address"), "{e}"),
        }
    }

    #[tokio::test]
    async fn the_resolver_returns_the_checked_loopback_address_when_allowed() {
        let allowed = guard(&["127.0.0.0/8", "::1/128"]);
        let resolver = GuardedResolver::new(Arc::new(allowed));
        let Ok(name) = "localhost".parse::<Name>() else {
            panic!("bad name");
        };
        let addrs: Vec<SocketAddr> = match Resolve::resolve(&resolver, name).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().any(|a| a.ip() == ip("127.0.0.1")), "{addrs:?}");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
