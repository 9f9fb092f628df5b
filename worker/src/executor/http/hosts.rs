//! Which hosts `http.request` may call: the allow-list
//! `executors.http.allow_hosts` (hosts or `*.domain`, matched against the
//! host as written in the URL), or, when it is empty, every host but
//! link-local and cloud-metadata addresses. The same check guards each
//! redirect, and with an empty list the resolver drops link-local addresses
//! a name resolves to, so no DNS name leads to the metadata service either.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Names of cloud metadata services, refused when the list is empty.
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// Why a host was refused: the reqwest error chain carries it out of the
/// redirect policy and the resolver.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    /// `api.example.com`, `10.0.0.5`, `::1`.
    Exact(String),
    /// `*.example.com`, kept as `.example.com`: any subdomain, not the domain.
    Subdomains(String),
}

/// The allow-list of one worker.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostPolicy {
    rules: Vec<Rule>,
}

impl HostPolicy {
    /// Parses a comma list (`api.example.com, *.internal.example`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let host = normalize(entry);
            let invalid = |why: &str| format!("allow_hosts entry {entry:?} {why}");
            if host.contains(['/', ' ', '@']) {
                return Err(invalid("must be a host name, not a URL"));
            }
            match host.strip_prefix("*.") {
                Some(domain) if !domain.is_empty() && !domain.contains('*') => {
                    rules.push(Rule::Subdomains(format!(".{domain}")));
                }
                _ if host.contains('*') => {
                    return Err(invalid("may only use `*.` at its start"));
                }
                _ => rules.push(Rule::Exact(host)),
            }
        }
        Ok(Self { rules })
    }

    /// An empty list: every host but link-local and metadata ones.
    pub fn is_open(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `url` may be called, else why not.
    pub fn check(&self, url: &Url) -> Result<(), Refused> {
        let Some(host) = url.host_str().map(normalize) else {
            return Err(Refused(format!("the URL {url} names no host")));
        };
        if self.is_open() {
            let forbidden = match host.parse::<IpAddr>() {
                Ok(ip) => is_link_local_or_metadata(ip),
                Err(_) => METADATA_NAMES.contains(&host.as_str()),
            };
            return if forbidden {
                Err(Refused(format!(
                    "host {host} is a link-local or cloud-metadata address, which http.request never calls unless executors.http.allow_hosts lists it"
                )))
            } else {
                Ok(())
            };
        }
        let allowed = self.rules.iter().any(|rule| match rule {
            Rule::Exact(exact) => *exact == host,
            Rule::Subdomains(suffix) => host.ends_with(suffix.as_str()),
        });
        if allowed {
            Ok(())
        } else {
            Err(Refused(format!(
                "host {host} is not in executors.http.allow_hosts"
            )))
        }
    }

    /// The client's redirect policy: at most [`MAX_REDIRECTS`], each to a
    /// host this policy allows.
    pub fn redirects(self: &Arc<Self>) -> reqwest::redirect::Policy {
        let policy = Arc::clone(self);
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                let error = Refused(format!("more than {MAX_REDIRECTS} redirects"));
                return attempt.error(error);
            }
            match policy.check(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(Refused(format!("redirect refused: {refused}"))),
            }
        })
    }
}

/// Lower case, no brackets around IPv6, no trailing dot.
fn normalize(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// 169.254.0.0/16 (with 169.254.169.254), fe80::/10, AWS's fd00:ec2::254,
/// and the same behind an IPv4-mapped IPv6 address.
pub fn is_link_local_or_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => {
                (v6.segments()[0] & 0xffc0) == 0xfe80
                    || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
            }
        },
    }
}

/// The system resolver without link-local and metadata addresses (used
/// when the allow-list is empty).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(guarded_lookup(name.as_str().to_owned()))
    }
}

async fn guarded_lookup(host: String) -> Result<Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    let kept: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|addr| !is_link_local_or_metadata(addr.ip()))
        .collect();
    if kept.is_empty() && !found.is_empty() {
        return Err(Box::new(Refused(format!(
            "host {host} resolves only to link-local or cloud-metadata addresses"
        ))));
    }
    Ok(Box::new(kept.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(list: &str, url: &str) -> bool {
        let policy = HostPolicy::parse(list).expect("a valid list");
        let url = Url::parse(url).expect("a valid URL");
        policy.check(&url).is_ok()
    }

    #[test]
    fn listed_hosts_and_subdomains_pass_and_others_do_not() {
        let list = "api.example.com, *.internal.example";
        assert!(check(list, "https://api.example.com/x"));
        assert!(check(list, "https://API.Example.com./x"));
        assert!(check(list, "http://a.internal.example:8080/"));
        assert!(check(list, "http://a.b.internal.example/"));
        assert!(!check(list, "http://internal.example/"));
        assert!(!check(list, "http://evilinternal.example/"));
        assert!(!check(list, "http://example.com/"));
        assert!(!check(list, "http://api.example.com.evil.net/"));
        assert!(check("::1, 127.0.0.1", "http://[::1]:80/"));
        assert!(check("169.254.169.254", "http://169.254.169.254/latest"));
    }

    #[test]
    fn an_empty_list_refuses_link_local_and_metadata_hosts_only() {
        assert!(check("", "https://example.com/"));
        assert!(check("", "http://127.0.0.1:8080/"));
        assert!(check("", "http://10.1.2.3/"));
        for refused in [
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.1.1/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[fd00:ec2::254]/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://metadata/",
        ] {
            assert!(!check("", refused), "{refused} passed");
        }
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in ["http://x.com", "a*.com", "*.", "*.*.com", "a b"] {
            assert!(HostPolicy::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(HostPolicy::parse(" , ").map(|p| p.is_open()), Ok(true));
    }
}
