//! `DATABASE_URL` in libpq's URI form, host lists included:
//!
//! ```text
//! postgres[ql]://[user[:password]@]host[:port][,host[:port]…][/database][?param=value&…]
//! ```
//!
//! Each host has its own port (5432 when none is given), IPv6 addresses go in brackets
//! (`[::1]:5432`). `target_session_attrs` says which host is acceptable — `any` (libpq's
//! default), `read-write` (not a standby, and `default_transaction_read_only` off) or
//! `primary` (not a standby); libpq's `read-only`, `standby` and `prefer-standby` are
//! refused, since both services write. Everything else (user, password, database,
//! `sslmode`, `application_name`, `options`, …) is passed to sqlx unchanged, once per
//! host.
//!
//! Errors name the part of the URL that is wrong and the value, except the user
//! information: a password is never printed, nor is the URL as a whole.

use std::str::FromStr as _;

use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::postgres::PgConnectOptions;

/// The port libpq and sqlx use when a host has none.
pub const DEFAULT_PORT: u16 = 5432;

/// The libpq parameter choosing among hosts; read here, never passed on (sqlx would
/// ignore it with a warning).
pub const TARGET_SESSION_ATTRS: &str = "target_session_attrs";

/// Which server a session may use (`target_session_attrs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    /// Any server that accepts the connection (libpq's default).
    Any,
    /// A server that takes writes: not in recovery, `transaction_read_only` off.
    ReadWrite,
    /// A server not in recovery (a primary), whatever its default read-only setting.
    Primary,
}

impl TargetSessionAttrs {
    /// The value as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::Primary => "primary",
        }
    }

    /// Whether a server in this state is acceptable.
    pub fn accepts(self, in_recovery: bool, read_only: bool) -> bool {
        match self {
            TargetSessionAttrs::Any => true,
            TargetSessionAttrs::ReadWrite => !in_recovery && !read_only,
            TargetSessionAttrs::Primary => !in_recovery,
        }
    }
}

/// One entry of the host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// As written: a name, an IPv4 address, `[IPv6]`, or a percent-encoded socket
    /// directory; empty when the URL gives none (sqlx's default, or a `host` parameter).
    pub host: String,
    /// `None`: [`DEFAULT_PORT`] (or a `port` parameter of a single-host URL).
    pub port: Option<u16>,
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.is_empty() {
            "(default host)"
        } else {
            &self.host
        };
        write!(f, "{host}:{}", self.port.unwrap_or(DEFAULT_PORT))
    }
}

/// A malformed `DATABASE_URL`: which part, and why. Never holds the user information.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct UrlError {
    /// `scheme`, `user information`, `host`, `port`, `target_session_attrs`, `query`.
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> UrlError {
    UrlError {
        field,
        message: message.into(),
    }
}

/// The shape every message points to.
const FORM: &str =
    "expected postgres://[user[:password]@]host[:port][,host[:port]…][/database][?param=value…]";

/// A parsed `DATABASE_URL`. Its `Debug` and [`DatabaseUrl::redacted`] hide the user
/// information and a `password` parameter.
#[derive(Clone)]
pub struct DatabaseUrl {
    scheme: String,
    /// `user[:password]` as written (percent-encoded), without the `@`.
    userinfo: Option<String>,
    hosts: Vec<Host>,
    /// `/database` as written (may be empty).
    path: String,
    /// The query's pairs as written, without `target_session_attrs`.
    query: Vec<String>,
    target: TargetSessionAttrs,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseUrl {
    /// Parses and checks the URL, including what sqlx will make of each host's URL.
    pub fn parse(url: &str) -> Result<DatabaseUrl, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("scheme", format!("not a URL: {FORM}")))?;
        if !matches!(
            scheme.to_ascii_lowercase().as_str(),
            "postgres" | "postgresql"
        ) {
            return Err(err(
                "scheme",
                format!("\"{scheme}\" is not postgres or postgresql: {FORM}"),
            ));
        }
        // Like every URL parser: the authority ends at the first `/`, `?` or `#`, and
        // the user information at its last `@`.
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(at) => (Some(authority[..at].to_owned()), &authority[at + 1..]),
            None => (None, authority),
        };
        if let Some(info) = &userinfo
            && (info.is_empty() || info.starts_with(':'))
        {
            return Err(err(
                "user information",
                "the part before `@` has no user name (the value is not shown: it may hold a password)",
            ));
        }
        let tail = tail.split_once('#').map_or(tail, |(before, _)| before);
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let hosts = parse_hosts(host_list)?;

        let mut target = TargetSessionAttrs::Any;
        let mut pairs = Vec::new();
        let mut seen_target = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == TARGET_SESSION_ATTRS {
                if seen_target {
                    return Err(err(
                        "target_session_attrs",
                        "given more than once; give it once: any, read-write or primary",
                    ));
                }
                seen_target = true;
                target = match value {
                    "any" => TargetSessionAttrs::Any,
                    "read-write" => TargetSessionAttrs::ReadWrite,
                    "primary" => TargetSessionAttrs::Primary,
                    "read-only" | "standby" | "prefer-standby" => {
                        return Err(err(
                            "target_session_attrs",
                            format!(
                                "\"{value}\" would pick a standby, which cannot take the writes Switchyard makes; allowed: any, read-write, primary"
                            ),
                        ));
                    }
                    other => {
                        return Err(err(
                            "target_session_attrs",
                            format!("\"{other}\" is not one of: any, read-write, primary"),
                        ));
                    }
                };
                continue;
            }
            if hosts.len() > 1 && matches!(key, "host" | "hostaddr" | "port") {
                return Err(err(
                    "query",
                    format!(
                        "`{key}` with a host list: sqlx would use it for every host; give each host and port in the list instead"
                    ),
                ));
            }
            pairs.push(pair.to_owned());
        }
        let parsed = DatabaseUrl {
            scheme: scheme.to_owned(),
            userinfo,
            hosts,
            path: path.to_owned(),
            query: pairs,
            target,
        };
        // What sqlx makes of each host's URL: the rest of the checks (host syntax,
        // sslmode values, …), with the host named and the URL never printed.
        parsed.connect_options()?;
        Ok(parsed)
    }

    /// The hosts, in the order they are tried.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    pub fn target_session_attrs(&self) -> TargetSessionAttrs {
        self.target
    }

    /// The URL with the user information and any `password` parameter replaced by
    /// `***`: safe for logs and error messages.
    pub fn redacted(&self) -> String {
        let mut out = format!("{}://", self.scheme);
        if self.userinfo.is_some() {
            out.push_str("***@");
        }
        let hosts: Vec<String> = self.hosts.iter().map(host_text).collect();
        out.push_str(&hosts.join(","));
        out.push_str(&self.path);
        let mut query: Vec<String> = self
            .query
            .iter()
            .map(|p| match p.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => p.clone(),
            })
            .collect();
        if self.target != TargetSessionAttrs::Any {
            query.push(format!("{TARGET_SESSION_ATTRS}={}", self.target.as_str()));
        }
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        out
    }

    /// The single-host URL sqlx gets for `host`: this URL with one host and without
    /// `target_session_attrs`.
    fn host_url(&self, host: &Host) -> String {
        let mut out = format!("{}://", self.scheme);
        if let Some(info) = &self.userinfo {
            out.push_str(info);
            out.push('@');
        }
        out.push_str(&host_text(host));
        out.push_str(&self.path);
        if !self.query.is_empty() {
            out.push('?');
            out.push_str(&self.query.join("&"));
        }
        out
    }

    /// sqlx's options for each host, in order, with statement logging off (statements
    /// carry values, and the services log their own events).
    pub fn connect_options(&self) -> Result<Vec<(Host, PgConnectOptions)>, UrlError> {
        self.hosts
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let options = PgConnectOptions::from_str(&self.host_url(host)).map_err(|e| {
                    let which = if self.hosts.len() > 1 {
                        format!("host {} of {} ({host})", i + 1, self.hosts.len())
                    } else {
                        format!("host {host}")
                    };
                    // sqlx's configuration errors name the problem, never the URL.
                    err("host", format!("{which}: {}", sqlx_reason(&e)))
                })?;
                // sqlx takes `url.host_str()`, which keeps an IPv6 address's brackets;
                // the socket address wants it bare.
                let options = match host.host.strip_prefix('[') {
                    Some(v6) => options.host(v6.trim_end_matches(']')),
                    None => options,
                };
                Ok((host.clone(), options.disable_statement_logging()))
            })
            .collect()
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatabaseUrl::parse(s)
    }
}

/// sqlx's reason without its "error with configuration:" prefix.
fn sqlx_reason(e: &sea_orm::sqlx::Error) -> String {
    match e {
        sea_orm::sqlx::Error::Configuration(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

fn host_text(host: &Host) -> String {
    match host.port {
        Some(port) => format!("{}:{port}", host.host),
        None => host.host.clone(),
    }
}

fn parse_hosts(list: &str) -> Result<Vec<Host>, UrlError> {
    if !list.contains(',') {
        return Ok(vec![parse_host(list, 1, 1)?]);
    }
    let entries: Vec<&str> = list.split(',').collect();
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            if entry.is_empty() {
                return Err(err(
                    "host",
                    format!(
                        "entry {} of the host list {list:?} is empty; list hosts as host1:port1,host2:port2",
                        i + 1
                    ),
                ));
            }
            parse_host(entry, i + 1, entries.len())
        })
        .collect()
}

fn parse_host(entry: &str, n: usize, of: usize) -> Result<Host, UrlError> {
    let which = if of > 1 {
        format!("host {n} of {of}")
    } else {
        "host".to_owned()
    };
    let (host, port) = if let Some(inner) = entry.strip_prefix('[') {
        let close = inner.find(']').ok_or_else(|| {
            err(
                "host",
                format!("{which} {entry:?}: an IPv6 address needs its closing `]`"),
            )
        })?;
        let after = &inner[close + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| {
                err(
                    "host",
                    format!("{which} {entry:?}: expected `:port` after `]`"),
                )
            })?),
        };
        (&entry[..close + 2], port)
    } else {
        match entry.matches(':').count() {
            0 => (entry, None),
            1 => {
                let (h, p) = entry.split_once(':').expect("one colon");
                (h, Some(p))
            }
            _ => {
                return Err(err(
                    "host",
                    format!("{which} {entry:?}: an IPv6 address goes in brackets, e.g. [::1]:5432"),
                ));
            }
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(port),
            _ => {
                return Err(err(
                    "port",
                    format!("{which} {host:?}: port {p:?} is not a port number (1-65535)"),
                ));
            }
        },
    };
    if host.is_empty() && (of > 1 || port.is_some()) {
        return Err(err("host", format!("{which}: a port without a host name")));
    }
    Ok(Host {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(url: &str) -> Vec<String> {
        DatabaseUrl::parse(url)
            .unwrap()
            .hosts()
            .iter()
            .map(|h| h.to_string())
            .collect()
    }

    #[test]
    fn a_host_list_is_tried_in_order_with_each_port() {
        let url = DatabaseUrl::parse(
            "postgres://sy:s3cret@db1:5432,db2:5433,[::1]:6432,db4/switchyard?target_session_attrs=read-write&sslmode=disable",
        )
        .unwrap();
        let listed: Vec<String> = url.hosts().iter().map(|h| h.to_string()).collect();
        assert_eq!(listed, ["db1:5432", "db2:5433", "[::1]:6432", "db4:5432"]);
        assert_eq!(url.target_session_attrs(), TargetSessionAttrs::ReadWrite);
        let options = url.connect_options().unwrap();
        assert_eq!(options.len(), 4);
        assert_eq!(options[1].1.get_host(), "db2");
        assert_eq!(options[1].1.get_port(), 5433);
        assert_eq!(options[2].1.get_host(), "::1");
        assert_eq!(options[3].1.get_port(), DEFAULT_PORT);
        for (_, o) in &options {
            assert_eq!(o.get_username(), "sy");
            assert_eq!(o.get_database(), Some("switchyard"));
        }
    }

    #[test]
    fn a_single_host_url_is_passed_through() {
        let url = DatabaseUrl::parse("postgresql://postgres@127.0.0.1:5432/x").unwrap();
        assert_eq!(url.target_session_attrs(), TargetSessionAttrs::Any);
        assert_eq!(
            hosts("postgres://postgres@127.0.0.1:5432/x"),
            ["127.0.0.1:5432"]
        );
        // No host at all: sqlx's defaults and parameters, as before.
        let url = DatabaseUrl::parse("postgres:///x?host=/run/postgresql&port=5433").unwrap();
        let options = url.connect_options().unwrap();
        assert_eq!(options[0].1.get_port(), 5433);
        assert_eq!(url.target_session_attrs(), TargetSessionAttrs::Any);
    }

    #[test]
    fn target_session_attrs_values() {
        for (value, target) in [
            ("any", TargetSessionAttrs::Any),
            ("read-write", TargetSessionAttrs::ReadWrite),
            ("primary", TargetSessionAttrs::Primary),
        ] {
            let url =
                DatabaseUrl::parse(&format!("postgres://u@a,b/x?target_session_attrs={value}"))
                    .unwrap();
            assert_eq!(url.target_session_attrs(), target);
        }
        assert!(TargetSessionAttrs::ReadWrite.accepts(false, false));
        assert!(!TargetSessionAttrs::ReadWrite.accepts(false, true));
        assert!(!TargetSessionAttrs::ReadWrite.accepts(true, false));
        assert!(TargetSessionAttrs::Primary.accepts(false, true));
        assert!(!TargetSessionAttrs::Primary.accepts(true, false));
        assert!(TargetSessionAttrs::Any.accepts(true, true));
    }

    #[test]
    fn malformed_urls_name_the_field_and_never_the_password() {
        let secret = "hunter2-secret";
        for (url, field, says) in [
            ("mysql://u:PW@h/x", "scheme", "\"mysql\" is not postgres"),
            ("u:PW@h/x", "scheme", "not a URL"),
            (
                "postgres://u:PW@h:99999/x",
                "port",
                "\"99999\" is not a port",
            ),
            ("postgres://u:PW@h:0/x", "port", "\"0\""),
            ("postgres://u:PW@a:5432,b:x1/x", "port", "host 2 of 2 \"b\""),
            ("postgres://u:PW@a,,b/x", "host", "entry 2 of the host list"),
            ("postgres://u:PW@a,/x", "host", "entry 2"),
            ("postgres://u:PW@::1:5432/x", "host", "in brackets"),
            ("postgres://u:PW@[::1/x", "host", "closing `]`"),
            ("postgres://u:PW@[::1]5432/x", "host", "`:port` after `]`"),
            ("postgres://u:PW@a,:5433/x", "host", "a port without a host"),
            ("postgres://:PW@a/x", "user information", "no user name"),
            (
                "postgres://u:PW@a,b/x?target_session_attrs=standby",
                "target_session_attrs",
                "\"standby\" would pick a standby",
            ),
            (
                "postgres://u:PW@a,b/x?target_session_attrs=rw",
                "target_session_attrs",
                "\"rw\" is not one of: any, read-write, primary",
            ),
            (
                "postgres://u:PW@a/x?target_session_attrs=any&target_session_attrs=primary",
                "target_session_attrs",
                "more than once",
            ),
            (
                "postgres://u:PW@a,b/x?port=5433",
                "query",
                "`port` with a host list",
            ),
            (
                "postgres://u:PW@a,b/x?sslmode=sometimes",
                "host",
                "host 1 of 2 (a:5432)",
            ),
            ("postgres://u:PW@a b/x", "host", "host a b:5432"),
        ] {
            let url = url.replace("PW", secret);
            let e = DatabaseUrl::parse(&url).unwrap_err();
            assert_eq!(e.field, field, "{url}: {e}");
            let text = e.to_string();
            assert!(text.contains(says), "{url}: {text:?} lacks {says:?}");
            assert!(!text.contains(secret), "{url}: the password leaked: {text}");
        }
    }

    #[test]
    fn redacted_hides_credentials_only() {
        let url = DatabaseUrl::parse(
            "postgres://sy:pw@db1:5432,db2:5433/switchyard?password=other&sslmode=require&target_session_attrs=primary",
        )
        .unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://***@db1:5432,db2:5433/switchyard?password=***&sslmode=require&target_session_attrs=primary"
        );
        assert_eq!(format!("{url:?}"), url.redacted());
        // The password still reaches sqlx.
        let options = url.connect_options().unwrap();
        assert_eq!(options.len(), 2);
    }
}
