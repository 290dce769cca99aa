//! Backend URLs and named backend templates.
//!
//! A backend URL is an origin: `http` or `https`, a host, an optional port (1–65535),
//! nothing else — no credentials (they would end up in logs), no path, query or fragment.
//! A named backend is a URL template defined once and used by many zones; its
//! placeholders are rendered when a zone is written, never by the proxy.

use std::collections::BTreeMap;
use std::fmt;

/// Why a backend URL was refused; every message names the URL and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendUrlError {
    #[error("backend \"{url}\" has no scheme; write it as http://host:port or https://host:port")]
    NoScheme { url: String },
    #[error("backend \"{url}\" uses scheme \"{scheme}\"; only http and https are allowed")]
    Scheme { url: String, scheme: String },
    #[error("backend \"{url}\" has port {port}; ports must be 1–65535")]
    Port { url: String, port: String },
    #[error("backend \"{url}\" has no host")]
    NoHost { url: String },
    #[error(
        "backend \"{url}\" contains credentials; put only scheme, host and port in a backend URL"
    )]
    Credentials { url: String },
    #[error("backend \"{url}\" has a {part} \"{value}\"; give only scheme, host and port")]
    ExtraPart {
        url: String,
        part: &'static str,
        value: String,
    },
    #[error("backend \"{url}\" is not a valid URL: {reason}")]
    Invalid { url: String, reason: String },
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// A validated backend origin such as `http://10.0.0.5:8080`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendUrl {
    /// `scheme://host[:port]`, the port only when it is not the scheme's default. Kept
    /// as one boxed string, with the host found by its length: at a million zones with
    /// their own upstreams, a second string per URL is tens of megabytes.
    text: Box<str>,
    scheme: Scheme,
    /// Length of the host in `text` (it starts after `scheme://`).
    host_len: u16,
    port: u16,
}

impl BackendUrl {
    /// Parses and validates a backend URL.
    pub fn parse(input: &str) -> Result<Self, BackendUrlError> {
        let url = input.to_owned();
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(BackendUrlError::NoScheme { url });
        };
        let scheme_text = scheme;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => {
                return Err(BackendUrlError::Scheme {
                    url,
                    scheme: scheme.to_owned(),
                });
            }
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((_, after)) = authority.rsplit_once('@') {
            // Never repeat the credentials: messages end up in responses and logs.
            let url = format!("{scheme_text}://***@{after}");
            return Err(BackendUrlError::Credentials { url });
        }
        if let Some(port) = port_text(authority) {
            match port.parse::<u32>() {
                Ok(p) if (1..=65535).contains(&p) => {}
                _ => {
                    return Err(BackendUrlError::Port {
                        url,
                        port: port.to_owned(),
                    });
                }
            }
        }
        let parsed = url::Url::parse(input).map_err(|e| match e {
            url::ParseError::EmptyHost => BackendUrlError::NoHost { url: url.clone() },
            other => BackendUrlError::Invalid {
                url: url.clone(),
                reason: other.to_string(),
            },
        })?;
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h.to_owned(),
            _ => return Err(BackendUrlError::NoHost { url }),
        };
        let path = parsed.path();
        if !path.is_empty() && path != "/" {
            return Err(BackendUrlError::ExtraPart {
                url,
                part: "path",
                value: path.to_owned(),
            });
        }
        if let Some(q) = parsed.query() {
            return Err(BackendUrlError::ExtraPart {
                url,
                part: "query",
                value: q.to_owned(),
            });
        }
        if let Some(f) = parsed.fragment() {
            return Err(BackendUrlError::ExtraPart {
                url,
                part: "fragment",
                value: f.to_owned(),
            });
        }
        let port = parsed.port().unwrap_or(scheme.default_port());
        let text = match parsed.port() {
            Some(p) => format!("{}://{}:{p}", parsed.scheme(), host),
            None => format!("{}://{}", parsed.scheme(), host),
        };
        let host_len = u16::try_from(host.len()).map_err(|_| BackendUrlError::Invalid {
            url: url.clone(),
            reason: "the host name is too long".to_owned(),
        })?;
        Ok(Self {
            text: text.into_boxed_str(),
            scheme,
            host_len,
            port,
        })
    }

    /// The normalised text (`http://app:8080`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Where the host starts in `text`, which [`Self::parse`] always writes as
    /// `<scheme>://host[:port]` (read per request: no search).
    fn host_start(&self) -> usize {
        match self.scheme {
            Scheme::Http => "http://".len(),
            Scheme::Https => "https://".len(),
        }
    }

    /// `host[:port]`, the port only when it is not the scheme's default: what an
    /// upstream request's `Host` header says.
    pub fn authority(&self) -> &str {
        &self.text[self.host_start()..]
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host as written (a name, an IPv4 address or a bracketed IPv6 address).
    pub fn host(&self) -> &str {
        let start = self.host_start();
        &self.text[start..start + usize::from(self.host_len)]
    }

    /// The port, defaulted from the scheme.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The text after the last `:` of an authority, ignoring colons inside `[...]`.
fn port_text(authority: &str) -> Option<&str> {
    let after_brackets = match authority.rfind(']') {
        Some(i) => &authority[i + 1..],
        None => authority,
    };
    after_brackets.rsplit_once(':').map(|(_, port)| port)
}

impl fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for BackendUrl {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for BackendUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a named backend template or its rendering was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "template \"{template}\" must start with http:// or https:// (the scheme cannot be a placeholder)"
    )]
    Scheme { template: String },
    #[error("template \"{template}\" has an unclosed or stray brace at character {at}")]
    Brace { template: String, at: usize },
    #[error(
        "template \"{template}\" has placeholder {{{name}}}; names are lower-case letters, digits and _"
    )]
    BadName { template: String, name: String },
    #[error(
        "named backend \"{backend}\" needs parameter \"{name}\"; give it in the zone's template parameters"
    )]
    MissingParam { backend: String, name: String },
    #[error(
        "named backend \"{backend}\" has no parameter \"{name}\"; it uses: {}", list_or_none(.used)
    )]
    UnknownParam {
        backend: String,
        name: String,
        used: Vec<String>,
    },
    #[error(
        "named backend \"{backend}\" uses {{first_label}} but the zone \"{host}\" starts with a wildcard"
    )]
    WildcardLabel { backend: String, host: String },
    #[error(
        "named backend \"{backend}\" renders to an invalid backend for zone \"{host}\": {source}"
    )]
    Rendered {
        backend: String,
        host: String,
        source: BackendUrlError,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "no parameters".to_owned()
    } else {
        items.join(", ")
    }
}

/// Placeholders every template may use without the zone giving them.
pub const BUILTIN_PLACEHOLDERS: &[&str] = &["host", "first_label"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Placeholder(String),
}

/// A named backend's URL template, e.g. `http://{first_label}.internal:{port}`.
///
/// `{host}` is the zone's hostname, `{first_label}` its first label; every other
/// placeholder is a parameter the zone must give. `{{` and `}}` stand for braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    text: String,
    pieces: Vec<Piece>,
}

impl UrlTemplate {
    /// Parses a template, checking its syntax and scheme.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let lower = template.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(TemplateError::Scheme {
                template: template.to_owned(),
            });
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = template.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let rest = &template[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(TemplateError::Brace {
                            template: template.to_owned(),
                            at: i,
                        });
                    };
                    let name = &rest[..end];
                    let valid = !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                    if !valid {
                        return Err(TemplateError::BadName {
                            template: template.to_owned(),
                            name: name.to_owned(),
                        });
                    }
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Placeholder(name.to_owned()));
                    for _ in 0..=end {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(TemplateError::Brace {
                        template: template.to_owned(),
                        at: i,
                    });
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Self {
            text: template.to_owned(),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameters a zone must give (placeholders other than the built-in ones).
    pub fn parameters(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Placeholder(n) if !BUILTIN_PLACEHOLDERS.contains(&n.as_str()) => {
                    Some(n.clone())
                }
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Renders the template for a zone and validates the result as a backend URL.
    ///
    /// `backend` is the template's name, used in messages; `host` the zone's normalised
    /// hostname pattern.
    pub fn render(
        &self,
        backend: &str,
        host: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<BackendUrl, TemplateError> {
        let used = self.parameters();
        if let Some(unknown) = params.keys().find(|k| !used.contains(k)) {
            return Err(TemplateError::UnknownParam {
                backend: backend.to_owned(),
                name: unknown.clone(),
                used,
            });
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Placeholder(name) if name == "host" => out.push_str(host),
                Piece::Placeholder(name) if name == "first_label" => {
                    let first = host.split('.').next().unwrap_or_default();
                    if first.starts_with('*') {
                        return Err(TemplateError::WildcardLabel {
                            backend: backend.to_owned(),
                            host: host.to_owned(),
                        });
                    }
                    out.push_str(first);
                }
                Piece::Placeholder(name) => match params.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(TemplateError::MissingParam {
                            backend: backend.to_owned(),
                            name: name.clone(),
                        });
                    }
                },
            }
        }
        BackendUrl::parse(&out).map_err(|source| TemplateError::Rendered {
            backend: backend.to_owned(),
            host: host.to_owned(),
            source,
        })
    }
}

impl serde::Serialize for UrlTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for UrlTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_backend_urls_are_normalised() {
        let cases = [
            ("http://app:8080", "http://app:8080", 8080),
            ("HTTP://App:8080/", "http://app:8080", 8080),
            ("https://api.internal", "https://api.internal", 443),
            ("http://10.0.0.5", "http://10.0.0.5", 80),
            ("http://[::1]:9000", "http://[::1]:9000", 9000),
        ];
        for (input, text, port) in cases {
            let url = BackendUrl::parse(input).unwrap();
            assert_eq!(url.as_str(), text);
            assert_eq!(url.port(), port);
        }
    }

    #[test]
    fn bad_backend_urls_name_the_problem() {
        let cases = [
            (
                "http://app:99999",
                "backend \"http://app:99999\" has port 99999; ports must be 1–65535",
            ),
            ("http://app:0", "has port 0; ports must be 1–65535"),
            ("http://[::1]:70000", "has port 70000"),
            (
                "ftp://app",
                "uses scheme \"ftp\"; only http and https are allowed",
            ),
            ("app:8080", "has no scheme"),
            ("http://", "has no host"),
            (
                "http://user:secret@app",
                "backend \"http://***@app\" contains credentials",
            ),
            ("http://app/v1", "has a path \"/v1\""),
            ("http://app?x=1", "has a query \"x=1\""),
            ("http://ap p", "is not a valid URL"),
        ];
        for (input, want) in cases {
            let msg = BackendUrl::parse(input).expect_err(input).to_string();
            assert!(
                msg.contains(want),
                "{input}: {msg:?} should contain {want:?}"
            );
            assert!(!msg.contains("secret"), "{msg:?} leaks a credential");
        }
    }

    #[test]
    fn templates_render_with_builtins_and_parameters() {
        let t = UrlTemplate::parse("http://{first_label}.svc:{port}").unwrap();
        assert_eq!(t.parameters(), vec!["port".to_owned()]);
        let params = BTreeMap::from([("port".to_owned(), "8080".to_owned())]);
        let url = t.render("web", "shop.example.com", &params).unwrap();
        assert_eq!(url.as_str(), "http://shop.svc:8080");
        let t = UrlTemplate::parse("http://{host}:{{8080}}").unwrap();
        assert_eq!(t.parameters(), Vec::<String>::new());
        let msg = t
            .render("x", "a.b", &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("\"http://a.b:{8080}\""), "{msg}");
    }

    #[test]
    fn template_errors_name_the_problem() {
        let t = UrlTemplate::parse("http://{first_label}.svc:{port}").unwrap();
        let none = BTreeMap::new();
        let cases: Vec<(Result<BackendUrl, TemplateError>, &str)> = vec![
            (
                t.render("web", "shop.example.com", &none),
                "named backend \"web\" needs parameter \"port\"",
            ),
            (
                t.render(
                    "web",
                    "shop.example.com",
                    &BTreeMap::from([("port".into(), "99999".into())]),
                ),
                "has port 99999; ports must be 1–65535",
            ),
            (
                t.render(
                    "web",
                    "shop.example.com",
                    &BTreeMap::from([("prot".into(), "1".into())]),
                ),
                "has no parameter \"prot\"; it uses: port",
            ),
            (
                t.render(
                    "web",
                    "*.example.com",
                    &BTreeMap::from([("port".into(), "80".into())]),
                ),
                "uses {first_label} but the zone \"*.example.com\" starts with a wildcard",
            ),
        ];
        for (result, want) in cases {
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains(want), "{msg:?} should contain {want:?}");
        }
        let syntax = [
            ("ftp://{host}", "must start with http:// or https://"),
            ("{scheme}://x", "must start with http:// or https://"),
            ("http://{host", "unclosed or stray brace"),
            ("http://host}", "unclosed or stray brace"),
            ("http://{Host}", "has placeholder {Host}"),
        ];
        for (template, want) in syntax {
            let msg = UrlTemplate::parse(template).unwrap_err().to_string();
            assert!(
                msg.contains(want),
                "{template}: {msg:?} should contain {want:?}"
            );
        }
    }
}
