//! The common flat configuration form, turned into zones.
//!
//! Many small setups describe their routing in two environment variables:
//!
//! ```text
//! DOMAINS=app1.com:app1,status.com
//! SERVICES=app1:app1:8080
//! ```
//!
//! `DOMAINS` lists `domain[:service]` entries, `SERVICES` lists `name:host:port` entries,
//! both comma-separated. [`FlatConfig::parse_env`] reads that form and
//! [`FlatConfig`]'s JSON shape is the equivalent document:
//!
//! ```json
//! {"domains": [{"domain": "app1.com", "service": "app1"}, {"domain": "status.com"}],
//!  "services": [{"name": "app1", "host": "app1", "port": 8080}]}
//! ```
//!
//! [`FlatConfig::to_zones`] validates the whole of it and reports every problem at once,
//! each with its entry number (`domains[3]`, `services[0].port`): empty entries are
//! skipped (and keep their number, so the numbers match what the user wrote), a domain
//! without a service becomes a zone with no backend (the proxy answers 503 "service not
//! configured"), ports must be 1–65535, and an unknown service is reported with the list
//! of the services that exist. The zones it returns have passed [`ZoneSpec::validate`],
//! with their hostnames normalised.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backend::UrlTemplate;
use crate::model::{BackendSpec, FieldError, UpstreamSpec, ZoneSpec};

/// One `domain[:service]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatDomain {
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// One `name:host:port` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatService {
    pub name: String,
    pub host: String,
    /// Kept wide so that 0 and 99999 reach validation and get a clear message.
    pub port: i64,
}

/// The flat form as a document. `None` entries stand for the empty entries of the
/// environment form (`a.com,,b.com`), so entry numbers stay those the user wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlatConfig {
    #[serde(default)]
    pub domains: Vec<Option<FlatDomain>>,
    #[serde(default)]
    pub services: Vec<Option<FlatService>>,
}

fn problem(field: String, problem: impl Into<String>) -> FieldError {
    FieldError {
        field,
        problem: problem.into(),
    }
}

impl FlatConfig {
    /// Parses the two variables' values. Never fails: an entry that does not have the
    /// right shape is kept as written and reported by [`FlatConfig::to_zones`].
    pub fn parse_env(domains: &str, services: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let split =
            |s: &str| -> Vec<String> { s.split(',').map(|e| e.trim().to_owned()).collect() };
        let domains = split(domains)
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                if entry.is_empty() {
                    return None;
                }
                let mut parts = entry.splitn(3, ':');
                let domain = parts.next().unwrap_or_default().trim().to_owned();
                let service = parts.next().map(|s| s.trim().to_owned());
                if parts.next().is_some() {
                    errors.push(problem(
                        format!("domains[{i}]"),
                        format!(
                            "\"{entry}\" has more than one ':'; write domain or domain:service"
                        ),
                    ));
                }
                Some(FlatDomain {
                    domain,
                    service: service.filter(|s| !s.is_empty()),
                })
            })
            .collect();
        let services = split(services)
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                if entry.is_empty() {
                    return None;
                }
                let parts: Vec<&str> = entry.split(':').map(str::trim).collect();
                let [name, host, port] = parts[..] else {
                    errors.push(problem(
                        format!("services[{i}]"),
                        format!("\"{entry}\" is not name:host:port (e.g. app1:app1:8080)"),
                    ));
                    return None;
                };
                let port = match port.parse::<i64>() {
                    Ok(p) => p,
                    Err(_) => {
                        errors.push(problem(
                            format!("services[{i}].port"),
                            format!("\"{port}\" is not a number; a port is 1-65535"),
                        ));
                        return None;
                    }
                };
                Some(FlatService {
                    name: name.to_owned(),
                    host: host.to_owned(),
                    port,
                })
            })
            .collect();
        if errors.is_empty() {
            Ok(Self { domains, services })
        } else {
            Err(errors)
        }
    }

    /// The zones this configuration describes, or every problem in it.
    pub fn to_zones(&self) -> Result<Vec<ZoneSpec>, Vec<FieldError>> {
        Ok(self
            .to_numbered_zones()?
            .into_iter()
            .map(|(_, z)| z)
            .collect())
    }

    /// Like [`FlatConfig::to_zones`], each zone with the number of the `domains` entry it
    /// came from (for messages about it later, e.g. "lies within no domain you may edit").
    pub fn to_numbered_zones(&self) -> Result<Vec<(usize, ZoneSpec)>, Vec<FieldError>> {
        let mut errors = Vec::new();
        // Name → URL, or None for a service that is itself invalid: domains using it are
        // not reported again (the service's own problem says what to fix).
        let mut services: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for (i, service) in self.services.iter().enumerate() {
            let Some(s) = service else { continue };
            let field = format!("services[{i}]");
            let before = errors.len();
            if s.name.is_empty() {
                errors.push(problem(
                    format!("{field}.name"),
                    "is empty; name the service",
                ));
            }
            if s.host.is_empty() {
                errors.push(problem(
                    format!("{field}.host"),
                    "is empty; give the host name or address the service listens on",
                ));
            }
            if !(1..=65535).contains(&s.port) {
                errors.push(problem(
                    format!("{field}.port"),
                    format!("{} is not a port; a port is 1-65535", s.port),
                ));
            }
            let url = (errors.len() == before).then(|| format!("http://{}:{}", s.host, s.port));
            if services.insert(s.name.as_str(), url).is_some() {
                errors.push(problem(
                    format!("{field}.name"),
                    format!("service \"{}\" is defined twice", s.name),
                ));
            }
        }
        let available = || {
            if services.is_empty() {
                "no services are defined".to_owned()
            } else {
                format!(
                    "available: {}",
                    services.keys().copied().collect::<Vec<_>>().join(", ")
                )
            }
        };
        let mut zones = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, domain) in self.domains.iter().enumerate() {
            let Some(d) = domain else { continue };
            let field = format!("domains[{i}]");
            let backend = match d.service.as_deref() {
                None => BackendSpec::None,
                Some(name) => match services.get(name) {
                    Some(None) => continue,
                    Some(Some(url)) => BackendSpec::Upstreams {
                        upstreams: vec![UpstreamSpec {
                            url: url.clone(),
                            weight: 1,
                        }],
                    },
                    None => {
                        errors.push(problem(
                            format!("{field}.service"),
                            format!("unknown service \"{name}\"; {}", available()),
                        ));
                        continue;
                    }
                },
            };
            let zone = ZoneSpec {
                hostname: d.domain.clone(),
                path_prefix: String::new(),
                backend,
                force_https: false,
                preserve_host: false,
                allow: Vec::new(),
                timeouts: Default::default(),
                policies: Default::default(),
                matching: Default::default(),
            };
            let no_named: BTreeMap<String, UrlTemplate> = BTreeMap::new();
            let valid = match zone.validate(&field, "", &no_named) {
                Ok(valid) => valid,
                Err(problems) => {
                    for p in problems.errors {
                        let inner = match p.field.as_str() {
                            "hostname" => format!("{field}.domain"),
                            other => format!("{field}.{other}"),
                        };
                        errors.push(problem(inner, p.problem));
                    }
                    continue;
                }
            };
            if let Some(&first) = seen.get(valid.host.as_str()) {
                errors.push(problem(
                    format!("{field}.domain"),
                    format!("\"{}\" is already listed as domains[{first}]", d.domain),
                ));
                continue;
            }
            seen.insert(valid.host.as_str().to_owned(), i);
            zones.push((
                i,
                ZoneSpec {
                    hostname: valid.host.as_str().to_owned(),
                    ..zone
                },
            ));
        }
        if errors.is_empty() {
            Ok(zones)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(domains: &str, services: &str) -> Vec<(String, String)> {
        let parsed = FlatConfig::parse_env(domains, services);
        let errs = match parsed {
            Err(e) => e,
            Ok(config) => config.to_zones().expect_err("should be refused"),
        };
        errs.into_iter().map(|e| (e.field, e.problem)).collect()
    }

    #[test]
    fn the_common_form_becomes_zones() {
        let config = FlatConfig::parse_env(
            "app1.com:app1, status.com,,www.app1.com:app1",
            "app1:app1:8080",
        )
        .expect("parses");
        let zones = config.to_zones().expect("valid");
        let summary: Vec<(String, BackendSpec)> =
            zones.into_iter().map(|z| (z.hostname, z.backend)).collect();
        let app1 = BackendSpec::Upstreams {
            upstreams: vec![UpstreamSpec {
                url: "http://app1:8080".into(),
                weight: 1,
            }],
        };
        assert_eq!(
            summary,
            vec![
                ("app1.com".into(), app1.clone()),
                ("status.com".into(), BackendSpec::None),
                ("www.app1.com".into(), app1),
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_entry_number() {
        let got = errors(
            "a.com:api,,b.com:web,bad_host!.com,a.com",
            "web:web:0,api2:api:99999,db:db:5432",
        );
        let want = [
            ("services[0].port", "0 is not a port; a port is 1-65535"),
            ("services[1].port", "99999 is not a port; a port is 1-65535"),
            (
                "domains[0].service",
                "unknown service \"api\"; available: api2, db, web",
            ),
        ];
        for (field, text) in want {
            assert!(
                got.iter().any(|(f, p)| f == field && p == text),
                "missing {field}: {text} in {got:?}"
            );
        }
        assert!(
            got.iter().any(|(f, _)| f == "domains[3].domain"),
            "the invalid hostname is reported: {got:?}"
        );
        // a.com at [4] duplicates nothing valid ([0] was refused), so it is accepted.
        assert!(
            !got.iter().any(|(f, _)| f.starts_with("domains[4]")),
            "{got:?}"
        );
        assert!(
            !got.iter().any(|(f, _)| f.starts_with("domains[2]")),
            "{got:?}"
        );
    }

    #[test]
    fn malformed_entries_are_named() {
        let got = errors("a.com:b:c", "web:8080,api:api:http");
        assert!(got.contains(&(
            "domains[0]".into(),
            "\"a.com:b:c\" has more than one ':'; write domain or domain:service".into()
        )));
        assert!(got.contains(&(
            "services[0]".into(),
            "\"web:8080\" is not name:host:port (e.g. app1:app1:8080)".into()
        )));
        assert!(got.contains(&(
            "services[1].port".into(),
            "\"http\" is not a number; a port is 1-65535".into()
        )));
    }

    #[test]
    fn duplicates_and_missing_services_are_refused() {
        let got = errors("a.com:web,A.com:web", "web:w:80,web:w2:81");
        assert!(got.contains(&(
            "services[1].name".into(),
            "service \"web\" is defined twice".into()
        )));
        assert!(got.contains(&(
            "domains[1].domain".into(),
            "\"A.com\" is already listed as domains[0]".into()
        )));
        let got = errors("a.com:web", "");
        assert_eq!(
            got,
            vec![(
                "domains[0].service".into(),
                "unknown service \"web\"; no services are defined".into()
            )]
        );
    }

    #[test]
    fn the_json_document_is_the_same_thing() {
        let doc: FlatConfig = serde_json::from_str(
            r#"{"domains":[{"domain":"app1.com","service":"app1"},null,{"domain":"status.com"}],
                "services":[{"name":"app1","host":"app1","port":8080}]}"#,
        )
        .expect("valid JSON");
        let env = FlatConfig::parse_env("app1.com:app1,,status.com", "app1:app1:8080").unwrap();
        assert_eq!(doc, env);
        assert_eq!(doc.to_zones().unwrap().len(), 2);
    }
}
