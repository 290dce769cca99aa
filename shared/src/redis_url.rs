//! The Redis URLs every service accepts, decided in one place.
//!
//! `--redis-url` of the proxy, the panel and the cert worker (and the proxy's
//! `--redis-read-url`) all go through [`config`], which [`crate::store::client_builder`]
//! calls, so the three services accept exactly the same forms:
//!
//! | form | meaning |
//! |---|---|
//! | `redis://[[user]:password@]host[:port][/db]` | one Redis, plain TCP (port 6379 by default) |
//! | `rediss://…` | the same over TLS, checked against the system's CA store |
//! | `redis-sentinel://[[user]:password@]host:port[,host:port…]/service[/db][?sentinelUsername=…&sentinelPassword=…]` | the primary of Sentinel service `service`, asked of the sentinels listed (port 26379 by default) |
//! | `redis-sentinel://host:port[/db]?sentinelServiceName=service&node=host:port…` | the same in fred's own form |
//! | `rediss-sentinel://…` | a Sentinel set with TLS to the sentinels and the servers |
//!
//! The credentials before `@` are the Redis servers'; the sentinels are asked without
//! credentials unless `sentinelPassword` (and `sentinelUsername`) give theirs. Anything
//! else — another scheme, an unknown query parameter, a Sentinel URL without a service
//! name — is refused with a message that never repeats the URL (it may hold a password).

use fred::prelude::Config;

/// The port of a sentinel given without one.
pub const SENTINEL_PORT: u16 = 26379;

/// Query parameters a Sentinel URL may carry.
const SENTINEL_PARAMS: [&str; 4] = [
    "sentinelServiceName",
    "node",
    "sentinelUsername",
    "sentinelPassword",
];

const FORMS: &str = "write redis://[user:password@]host:port[/db], rediss://… (TLS) or \
     redis-sentinel://[user:password@]host:port[,host:port…]/service (a Sentinel set)";

/// The client configuration of `url`, or why it is not a Redis URL Switchyard accepts.
pub fn config(url: &str) -> Result<Config, String> {
    let normalized = normalize(url)?;
    Config::from_url(&normalized).map_err(|e| format!("not a usable Redis URL: {}", e.details()))
}

/// `url` in fred's form (see the module docs), or why it is refused.
pub fn normalize(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("not a Redis URL; {FORMS}"));
    };
    if rest.contains('#') {
        return Err("a Redis URL has no #fragment".to_owned());
    }
    match scheme {
        "redis" | "rediss" => {
            if let Some((_, query)) = rest.split_once('?')
                && let Some((name, _)) = url::form_urlencoded::parse(query.as_bytes()).next()
            {
                return Err(format!(
                    "{scheme}:// takes no query parameters (found \"{name}\"); a Sentinel set is written redis-sentinel://host:port[,host:port…]/service"
                ));
            }
            Ok(url.to_owned())
        }
        "redis-sentinel" | "rediss-sentinel" => sentinel(scheme, rest),
        other => Err(format!("scheme \"{other}://\" is not supported; {FORMS}")),
    }
}

fn sentinel(scheme: &str, rest: &str) -> Result<String, String> {
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let mut sentinels: Vec<String> = Vec::new();
    let mut add = |host: &str| -> Result<(), String> {
        let host = host.trim();
        if host.is_empty() {
            return Err("a Sentinel URL names each sentinel as host:port; one is empty".into());
        }
        let has_port = match host.strip_prefix('[') {
            Some(v6) => v6.contains("]:"),
            None => host.contains(':'),
        };
        let host = if has_port {
            host.to_owned()
        } else {
            format!("{host}:{SENTINEL_PORT}")
        };
        if !sentinels.contains(&host) {
            sentinels.push(host);
        }
        Ok(())
    };
    for host in hosts.split(',') {
        add(host)?;
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_db = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (mut service, db) = match segments.as_slice() {
        [] => (None, None),
        [db] if is_db(db) => (None, Some(*db)),
        [name] => (Some((*name).to_owned()), None),
        [name, db] if is_db(db) => (Some((*name).to_owned()), Some(*db)),
        _ => {
            return Err(
                "the path of a Sentinel URL is /service or /service/db (e.g. /mymaster)".into(),
            );
        }
    };
    let mut credentials = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "sentinelServiceName" => match &service {
                Some(s) if *s != value => {
                    return Err(format!(
                        "the Sentinel service is named twice, \"{s}\" in the path and \"{value}\" in sentinelServiceName"
                    ));
                }
                _ => service = Some(value.into_owned()),
            },
            "node" => add(&value)?,
            "sentinelUsername" | "sentinelPassword" => {
                credentials.push((name.into_owned(), value.into_owned()))
            }
            other => {
                return Err(format!(
                    "unknown query parameter \"{other}\" in a Sentinel URL; known: {}",
                    SENTINEL_PARAMS.join(", ")
                ));
            }
        }
    }
    let service = service.filter(|s| !s.is_empty()).ok_or_else(|| {
        "a Sentinel URL names its service: redis-sentinel://host:port[,host:port…]/service (e.g. /mymaster)"
            .to_owned()
    })?;
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        out.push_str(userinfo);
        out.push('@');
    }
    out.push_str(&sentinels[0]);
    if let Some(db) = db {
        out.push('/');
        out.push_str(db);
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("sentinelServiceName", &service);
    for node in &sentinels[1..] {
        q.append_pair("node", node);
    }
    for (name, value) in &credentials {
        q.append_pair(name, value);
    }
    out.push('?');
    out.push_str(&q.finish());
    Ok(out)
}

/// `url` fit for a log line: the credentials before `@` become `***`, as does the value
/// of every query parameter whose name contains "password" (`sentinelPassword`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut out = match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let (query, fragment) = match query.find('#') {
            Some(i) => query.split_at(i),
            None => (query, ""),
        };
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}{fragment}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fred::types::config::ServerConfig;

    fn sentinels(config: &Config) -> (Vec<String>, String) {
        match &config.server {
            ServerConfig::Sentinel {
                hosts,
                service_name,
                ..
            } => {
                let mut hosts: Vec<String> = hosts.iter().map(|s| s.to_string()).collect();
                hosts.sort();
                (hosts, service_name.clone())
            }
            other => panic!("not a Sentinel configuration: {other:?}"),
        }
    }

    #[test]
    fn the_documented_sentinel_form_and_freds_form_mean_the_same() {
        let documented = config(
            "redis-sentinel://:data-secret@10.0.0.1:26379,10.0.0.2:26380,10.0.0.3/mymaster/2?sentinelPassword=s%26cret",
        )
        .unwrap();
        let fred = config(
            "redis-sentinel://:data-secret@10.0.0.1:26379/2?sentinelServiceName=mymaster&node=10.0.0.2:26380&node=10.0.0.3:26379&sentinelPassword=s%26cret",
        )
        .unwrap();
        for c in [&documented, &fred] {
            assert_eq!(
                sentinels(c),
                (
                    vec![
                        "10.0.0.1:26379".to_owned(),
                        "10.0.0.2:26380".to_owned(),
                        "10.0.0.3:26379".to_owned()
                    ],
                    "mymaster".to_owned()
                )
            );
            assert_eq!(c.password.as_deref(), Some("data-secret"));
            assert_eq!(c.database, Some(2));
            match &c.server {
                ServerConfig::Sentinel { password, .. } => {
                    assert_eq!(password.as_deref(), Some("s&cret"))
                }
                _ => unreachable!(),
            }
        }
        // Without a database and with one sentinel.
        let one = config("redis-sentinel://sentinel.internal/mymaster").unwrap();
        assert_eq!(
            sentinels(&one),
            (
                vec!["sentinel.internal:26379".to_owned()],
                "mymaster".to_owned()
            )
        );
        assert_eq!(one.database, None);
        assert!(one.tls.is_none());
    }

    #[test]
    fn plain_tls_and_auth_forms_are_accepted() {
        let plain = config("redis://127.0.0.1:6379/3").unwrap();
        assert!(plain.tls.is_none());
        assert_eq!(plain.database, Some(3));
        let auth = config("redis://switchyard:p%40ss@redis.internal:6380").unwrap();
        assert_eq!(auth.username.as_deref(), Some("switchyard"));
        assert_eq!(auth.password.as_deref(), Some("p@ss"));
        // rediss:// is TLS for real: fred without a TLS feature would connect in plain text.
        assert!(
            config("rediss://redis.internal:6380")
                .unwrap()
                .tls
                .is_some()
        );
        assert!(
            config("rediss-sentinel://s1:26379,s2:26379/mymaster")
                .unwrap()
                .tls
                .is_some()
        );
    }

    #[test]
    fn refusals_say_why_without_repeating_the_url() {
        for (url, why) in [
            ("http://x:6379", "scheme \"http://\" is not supported"),
            ("127.0.0.1:6379", "not a Redis URL"),
            ("redis-sentinel://:hunter2@s1:26379", "names its service"),
            (
                "redis-sentinel://:hunter2@s1:26379/mymaster?sentinelpassword=hunter2",
                "unknown query parameter \"sentinelpassword\"",
            ),
            (
                "redis-sentinel://:hunter2@s1:26379/a?sentinelServiceName=b",
                "named twice",
            ),
            (
                "redis-sentinel://:hunter2@s1:26379/a/b/c",
                "/service or /service/db",
            ),
            ("redis-sentinel://:hunter2@s1:26379,,s2/a", "one is empty"),
            (
                "redis://:hunter2@h:6379?sentinelServiceName=a",
                "takes no query parameters",
            ),
            ("redis://:hunter2@h:notaport", "not a usable Redis URL"),
        ] {
            let error = config(url).unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{url}: {error}");
        }
    }

    #[test]
    fn redaction_hides_every_password() {
        assert_eq!(
            redact("redis-sentinel://:d@s1:26379,s2:26379/m?sentinelPassword=x&node=s3:1"),
            "redis-sentinel://***@s1:26379,s2:26379/m?sentinelPassword=***&node=s3:1"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("postgres://u:secret@db:5432/x"),
            "postgres://***@db:5432/x"
        );
    }
}
