//! Logging and tracing set-up shared by the three services: JSON log lines on stdout
//! filtered by `RUST_LOG`, and — only when an OTLP endpoint is configured —
//! OpenTelemetry traces exported over OTLP/HTTP (protobuf) by a batch exporter.
//!
//! Each service's `main` calls [`init`] once with its binary's name (the traces'
//! `service.name`) and the value of its `--otlp-endpoint` flag, and keeps the returned
//! [`Telemetry`] alive until it exits: dropping it flushes the spans still queued and
//! shuts the exporter down.
//!
//! Where the endpoint comes from, first match wins:
//! 1. `--otlp-endpoint` / `SWITCHYARD_OTLP_ENDPOINT`: the receiver's base URL, e.g.
//!    `http://127.0.0.1:4318`; `/v1/traces` is appended to its path.
//! 2. `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL, used as it is.
//! 3. `OTEL_EXPORTER_OTLP_ENDPOINT`: a base URL, `/v1/traces` appended.
//!
//! With none of them set (or `OTEL_SDK_DISABLED=true`) tracing is off: no exporter, no
//! OpenTelemetry layer, no background thread, and the trace-only spans (target
//! [`TARGET`]) are disabled at their call sites, so creating one costs an atomic load.
//!
//! Trace-only spans are the ones the services create for traces (HTTP request, commit,
//! Redis transaction, order attempt); they use the target [`TARGET`] and never appear
//! in the log lines, which stay exactly as they were. The log layer sees every event and
//! every other span, filtered by `RUST_LOG` (default `info`) as before; the trace layer
//! sees the trace-only spans whatever `RUST_LOG` says, plus warnings and errors as span
//! events. The exporter's own settings (`OTEL_EXPORTER_OTLP_HEADERS`, `..._TIMEOUT`,
//! `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES`) are read by the OpenTelemetry SDK.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, Registry};

/// The target of trace-only spans: exported when tracing is on, never logged, disabled
/// (no cost) when tracing is off. `#[tracing::instrument(target = "switchyard_trace")]`
/// needs the literal, so it is spelled out there.
pub const TARGET: &str = "switchyard_trace";

/// The flag every service names its endpoint setting by, for error messages.
pub const FLAG: &str = "--otlp-endpoint";

/// The standard variable holding the full traces URL (used as given).
pub const TRACES_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The standard variable holding the base URL of all signals (`/v1/traces` appended).
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard switch that turns the SDK off whatever else is set.
pub const SDK_DISABLED_ENV: &str = "OTEL_SDK_DISABLED";
/// The protocol variables: only `http/protobuf` is spoken here.
pub const PROTOCOL_ENVS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
];

/// The path OTLP/HTTP receivers take traces on, appended to base URLs.
pub const TRACES_PATH: &str = "/v1/traces";

/// How long dropping [`Telemetry`] waits for the last spans to be sent.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// What is allowed, for every endpoint error.
const ALLOWED: &str = "write the OTLP/HTTP receiver's URL as http://HOST:PORT or \
                       https://HOST:PORT[/PATH] (e.g. http://127.0.0.1:4318), without \
                       credentials, query or fragment";

/// A base URL of an OTLP/HTTP receiver, checked: http or https, a host, no credentials
/// (send those with `OTEL_EXPORTER_OTLP_HEADERS`), no query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpEndpoint(url::Url);

impl OtlpEndpoint {
    /// The URL as given, normalised.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The traces URL: `/v1/traces` appended to the base URL's path.
    pub fn traces_url(&self) -> String {
        let base = self.0.as_str().trim_end_matches('/');
        format!("{base}{TRACES_PATH}")
    }
}

impl std::fmt::Display for OtlpEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an endpoint URL; the error says what is wrong and what is allowed (callers
/// add the setting's name and the value). Usable as a clap `value_parser`.
pub fn parse_endpoint(value: &str) -> Result<OtlpEndpoint, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("not a URL ({e}); {ALLOWED}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme \"{}\" is not allowed; {ALLOWED} (gRPC is not supported: use the \
             receiver's OTLP/HTTP port, usually 4318)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("no host; {ALLOWED}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "credentials in the URL are not allowed (they would be logged); send them \
             with OTEL_EXPORTER_OTLP_HEADERS; {ALLOWED}"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("a query or fragment is not allowed; {ALLOWED}"));
    }
    Ok(OtlpEndpoint(url))
}

/// Where traces go, once every setting has been looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The full URL spans are POSTed to.
    pub traces_url: String,
    /// The setting it came from (`--otlp-endpoint`, or an `OTEL_…` variable).
    pub source: &'static str,
}

/// Decides whether tracing is on and where spans go, from the flag and the standard
/// variables (see the module docs). `Ok(None)` is off. Errors name the setting, the
/// value and what is allowed.
pub fn resolve(flag: Option<&OtlpEndpoint>) -> Result<Option<Export>, String> {
    resolve_with(flag, |name| std::env::var(name).ok())
}

fn resolve_with(
    flag: Option<&OtlpEndpoint>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Export>, String> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    if set(SDK_DISABLED_ENV).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    let export = if let Some(endpoint) = flag {
        Export {
            traces_url: endpoint.traces_url(),
            source: FLAG,
        }
    } else if let Some(value) = set(TRACES_ENDPOINT_ENV) {
        let url = parse_endpoint(&value)
            .map_err(|e| format!("{TRACES_ENDPOINT_ENV} \"{value}\": {e}"))?;
        Export {
            traces_url: url.as_str().to_owned(),
            source: TRACES_ENDPOINT_ENV,
        }
    } else if let Some(value) = set(ENDPOINT_ENV) {
        let url = parse_endpoint(&value).map_err(|e| format!("{ENDPOINT_ENV} \"{value}\": {e}"))?;
        Export {
            traces_url: url.traces_url(),
            source: ENDPOINT_ENV,
        }
    } else {
        return Ok(None);
    };
    // The first protocol variable set is the one the SDK would use.
    if let Some((name, value)) = PROTOCOL_ENVS
        .iter()
        .find_map(|name| set(name).map(|v| (*name, v)))
        && value.trim() != "http/protobuf"
    {
        return Err(format!(
            "{name} \"{value}\": only \"http/protobuf\" is supported (OTLP over HTTP, \
             usually port 4318); unset it or set it to http/protobuf"
        ));
    }
    Ok(Some(export))
}

/// Keeps the trace exporter alive; dropping it sends the spans still queued (waiting at
/// most [`SHUTDOWN_TIMEOUT`]) and stops the exporter's thread. Inert when tracing is off.
#[must_use = "dropping it at once shuts tracing down"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    export: Option<Export>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Where spans go, when tracing is on.
    pub fn export(&self) -> Option<&Export> {
        self.export.as_ref()
    }

    /// Sends what is queued and stops the exporter now (also done on drop).
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            eprintln!("tracing: the last spans may not have been sent: {e}");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The log layer: JSON lines on stdout, `RUST_LOG` (default `info`) as the filter, and
/// never a trace-only span (so log lines look the same with tracing on or off).
pub fn log_layer<S>() -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let env_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt::layer()
        .json()
        .with_filter(env_filter.and(filter_fn(|meta| !is_trace_only(meta))))
}

fn is_trace_only(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == TARGET
}

/// What the trace layer sees: the trace-only spans, and warnings and errors (as span
/// events of the span they happen in), except the exporter's own.
fn trace_filter(meta: &tracing::Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.target() == TARGET
    } else {
        *meta.level() <= Level::WARN && !meta.target().starts_with("opentelemetry")
    }
}

/// Builds the exporter for `export` (no I/O yet: the batch thread connects when it
/// first sends) and the tracer provider naming the service.
fn provider(service: &'static str, export: &Export) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(export.traces_url.clone())
        .build()
        .map_err(|e| format!("{} \"{}\": {e}", export.source, export.traces_url))?;
    // The SDK's batch processor runs on a thread of its own and the exporter's client
    // is the blocking one: no async runtime needed (the proxy's main has none).
    let processor = BatchSpanProcessor::builder(exporter).build();
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource)
        .build())
}

/// Installs the global subscriber: the log layer always, the OTLP trace layer when an
/// endpoint is configured (see the module docs). `service` is the binary's name, the
/// `service.name` of its spans; `flag` the value of its `--otlp-endpoint`. Errors are
/// configuration errors (naming the setting, the value and what is allowed) or a
/// subscriber installed already.
pub fn init(service: &'static str, flag: Option<&OtlpEndpoint>) -> Result<Telemetry, String> {
    let export = resolve(flag)?;
    let registry = tracing_subscriber::registry().with(log_layer::<Registry>());
    let Some(export) = export else {
        registry
            .try_init()
            .map_err(|e| format!("installing the log subscriber: {e}"))?;
        return Ok(Telemetry {
            provider: None,
            export: None,
        });
    };
    let provider = provider(service, &export)?;
    let trace_layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_filter(filter_fn(trace_filter));
    if let Err(e) = registry.with(trace_layer).try_init() {
        let _ = provider.shutdown();
        return Err(format!("installing the log and trace subscriber: {e}"));
    }
    tracing::info!(
        endpoint = %export.traces_url,
        source = export.source,
        service,
        "exporting traces over OTLP/HTTP"
    );
    Ok(Telemetry {
        provider: Some(provider),
        export: Some(export),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn endpoints_are_checked() {
        let ok = parse_endpoint("http://127.0.0.1:4318").unwrap();
        assert_eq!(ok.traces_url(), "http://127.0.0.1:4318/v1/traces");
        let ok = parse_endpoint("https://collector.example.com/otlp/").unwrap();
        assert_eq!(
            ok.traces_url(),
            "https://collector.example.com/otlp/v1/traces"
        );
        for (bad, says) in [
            ("127.0.0.1:4318", "not a URL"),
            ("collector:4318", "scheme \"collector\""),
            ("localhost", "not a URL"),
            ("grpc://collector:4317", "gRPC is not supported"),
            ("http://user:secret@collector:4318", "credentials"),
            ("http://collector:4318/?a=b", "query"),
            ("", "not a URL"),
        ] {
            let err = parse_endpoint(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
            assert!(err.contains("http://HOST:PORT"), "{bad}: {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn off_unless_configured() {
        assert_eq!(resolve_with(None, env(&[])).unwrap(), None);
        assert_eq!(
            resolve_with(None, env(&[(ENDPOINT_ENV, ""), (TRACES_ENDPOINT_ENV, " ")])).unwrap(),
            None
        );
        let flag = parse_endpoint("http://127.0.0.1:1").unwrap();
        assert_eq!(
            resolve_with(Some(&flag), env(&[(SDK_DISABLED_ENV, "true")])).unwrap(),
            None
        );
    }

    #[test]
    fn flag_then_traces_variable_then_base_variable() {
        let flag = parse_endpoint("http://flag:4318").unwrap();
        let all = env(&[
            (ENDPOINT_ENV, "http://base:4318"),
            (TRACES_ENDPOINT_ENV, "http://traces:4318/custom"),
        ]);
        let e = resolve_with(Some(&flag), &all).unwrap().unwrap();
        assert_eq!(
            (e.traces_url.as_str(), e.source),
            ("http://flag:4318/v1/traces", FLAG)
        );
        let e = resolve_with(None, &all).unwrap().unwrap();
        assert_eq!(
            (e.traces_url.as_str(), e.source),
            ("http://traces:4318/custom", TRACES_ENDPOINT_ENV)
        );
        let e = resolve_with(None, env(&[(ENDPOINT_ENV, "http://base:4318")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (e.traces_url.as_str(), e.source),
            ("http://base:4318/v1/traces", ENDPOINT_ENV)
        );
    }

    #[test]
    fn bad_variables_are_named() {
        let err = resolve_with(None, env(&[(ENDPOINT_ENV, "collector:4318")])).unwrap_err();
        assert!(
            err.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT \"collector:4318\": "),
            "{err}"
        );
        let err = resolve_with(
            None,
            env(&[
                (ENDPOINT_ENV, "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_PROTOCOL \"grpc\": only \"http/protobuf\""),
            "{err}"
        );
        assert!(
            resolve_with(
                None,
                env(&[
                    (ENDPOINT_ENV, "http://c:4318"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ]),
            )
            .is_ok()
        );
    }

    /// With tracing off, trace-only spans are disabled at their call site (no cost),
    /// other spans still reach the log layer as before.
    #[test]
    fn trace_only_spans_cost_nothing_when_off() {
        let subscriber = tracing_subscriber::registry().with(log_layer());
        tracing::subscriber::with_default(subscriber, || {
            let trace_only = tracing::info_span!(target: TARGET, "trace only");
            assert!(trace_only.is_disabled());
            let logged = tracing::info_span!("request");
            assert!(!logged.is_disabled());
        });
    }

    /// With tracing on, trace-only spans exist (for the trace layer) but stay out of
    /// the log lines.
    #[test]
    fn trace_only_spans_are_not_logged() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let logs = tracing_subscriber::fmt::layer()
            .json()
            .with_writer(move || writer.clone())
            .with_filter(
                tracing_subscriber::filter::LevelFilter::INFO
                    .and(filter_fn(|meta| !is_trace_only(meta))),
            );
        let traces = tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_filter(filter_fn(trace_filter));
        let subscriber = tracing_subscriber::registry().with(logs).with(traces);
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", request_id = "r1");
            let _r = request.enter();
            let trace_only = tracing::info_span!(target: TARGET, "redis write", zones = 1);
            assert!(!trace_only.is_disabled());
            let _t = trace_only.enter();
            tracing::info!("inside");
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("\"request_id\":\"r1\""), "{out}");
        assert!(!out.contains("redis write"), "{out}");
    }
}
