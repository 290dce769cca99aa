//! The access log: one JSON line per request on stdout, formatted by hand and written in
//! batches.
//!
//! Each line has the shape of the other log lines (`tracing_subscriber`'s JSON format):
//! `{"timestamp":…,"level":"INFO","fields":{request_id, client_ip, host, zone, method,
//! path, status, bytes, duration_ms, upstream, upstream_ms, group, error},"target":"access"}`
//! (`group`: the split group the request went to, empty when its route has no split),
//! and `RUST_LOG` decides whether it is written, as for any `access` event at INFO.
//!
//! Why not a `tracing` event: formatting one through `tracing_subscriber`'s JSON layer
//! (a map of `serde_json` values per event) and writing it with one `write` per line was
//! a quarter of the proxy's instructions per request. Here a line is written into a
//! buffer in a few hundred instructions, and a background thread writes the buffer to
//! stdout every [`FLUSH_EVERY`] (sooner once [`FLUSH_AT`] bytes are waiting), so a
//! request never waits for stdout unless [`MAX_PENDING`] bytes are already waiting
//! (stdout blocked): then the request writes them itself, as before, rather than lose
//! lines. [`flush`] writes what is pending; `main` calls it after the server stops, and
//! a panic hook calls it before the process dies. Lines are written through
//! `std::io::stdout`'s lock, so they never interleave with other log lines.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, SystemTime};

use crate::decide::Category;

/// Longest time a line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Pending bytes that wake the writer thread before [`FLUSH_EVERY`].
pub const FLUSH_AT: usize = 64 * 1024;
/// Pending bytes beyond which a request writes the buffer itself (stdout is not keeping
/// up); nothing is dropped.
pub const MAX_PENDING: usize = 8 * 1024 * 1024;

struct Sink {
    pending: Mutex<Vec<u8>>,
    wake: Condvar,
    /// Held while writing to stdout, taken before the buffer is swapped out, so batches
    /// reach stdout in the order they were filled.
    writing: Mutex<Vec<u8>>,
}

static SINK: Sink = Sink {
    pending: Mutex::new(Vec::new()),
    wake: Condvar::new(),
    writing: Mutex::new(Vec::new()),
};
static START: Once = Once::new();

/// Whether access lines are written (`RUST_LOG` allows `access` at INFO).
pub fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Appends one finished line (ending in `\n`).
fn push(line: &[u8]) {
    START.call_once(start_writer);
    let len = {
        let mut pending = SINK.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(line);
        pending.len()
    };
    if len >= MAX_PENDING {
        flush();
    } else if len >= FLUSH_AT && len - line.len() < FLUSH_AT {
        SINK.wake.notify_one();
    }
}

/// Writes every pending line to stdout now.
pub fn flush() {
    let batch = SINK.writing.lock().unwrap_or_else(|e| e.into_inner());
    let pending = SINK.pending.lock().unwrap_or_else(|e| e.into_inner());
    write_out(batch, pending);
}

/// [`flush`] for the panic hook: skipped if this thread already holds a lock (the panic
/// happened while writing), rather than deadlock.
fn flush_on_panic() {
    let Ok(batch) = SINK.writing.try_lock() else {
        return;
    };
    let Ok(pending) = SINK.pending.try_lock() else {
        return;
    };
    write_out(batch, pending);
}

fn write_out(mut batch: MutexGuard<'_, Vec<u8>>, mut pending: MutexGuard<'_, Vec<u8>>) {
    std::mem::swap(&mut *pending, &mut *batch);
    drop(pending);
    if batch.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(&batch).and_then(|()| out.flush()) {
        drop(out);
        eprintln!("switchyard-proxy: cannot write the access log: {e}");
    }
    batch.clear();
    // Do not keep a burst's worth of memory for ever.
    if batch.capacity() > 4 * FLUSH_AT {
        batch.shrink_to(FLUSH_AT);
    }
}

fn start_writer() {
    let spawned = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(|| {
            loop {
                {
                    let pending = SINK.pending.lock().unwrap_or_else(|e| e.into_inner());
                    let _unused = SINK
                        .wake
                        .wait_timeout_while(pending, FLUSH_EVERY, |p| p.len() < FLUSH_AT)
                        .unwrap_or_else(|e| e.into_inner());
                }
                flush();
            }
        });
    if let Err(e) = spawned {
        // Without the thread lines are still written: by `flush` at exit, and by
        // requests once MAX_PENDING is reached.
        eprintln!("switchyard-proxy: cannot start the access log writer: {e}");
    }
    // Lines still pending when a panic ends the process are written first.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        flush_on_panic();
        previous(info);
    }));
}

/// What one access line says.
pub struct Entry<'a> {
    pub request_id: &'a str,
    pub client_ip: Option<IpAddr>,
    pub host: &'a str,
    pub zone: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: usize,
    pub duration_ms: f64,
    pub upstream: Option<SocketAddr>,
    pub upstream_ms: f64,
    /// The route's split group the request went to ("" without a split).
    pub group: &'a str,
    pub error: Option<Category>,
}

impl Entry<'_> {
    /// Writes the line (when `RUST_LOG` allows it).
    pub fn write(&self) {
        if !enabled() {
            return;
        }
        let mut line = Vec::with_capacity(384);
        self.format(SystemTime::now(), &mut line);
        push(&line);
    }

    /// The JSON line, `\n` included.
    pub fn format(&self, now: SystemTime, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(now, out);
        out.extend_from_slice(b"\",\"level\":\"INFO\",\"fields\":{\"request_id\":");
        string(out, self.request_id);
        out.extend_from_slice(b",\"client_ip\":\"");
        if let Some(ip) = self.client_ip {
            ip_addr(out, ip);
        }
        out.extend_from_slice(b"\",\"host\":");
        string(out, self.host);
        out.extend_from_slice(b",\"zone\":");
        string(out, self.zone);
        out.extend_from_slice(b",\"method\":");
        string(out, self.method);
        out.extend_from_slice(b",\"path\":");
        string(out, self.path);
        out.extend_from_slice(b",\"status\":");
        number(out, u64::from(self.status));
        out.extend_from_slice(b",\"bytes\":");
        number(out, self.bytes as u64);
        out.extend_from_slice(b",\"duration_ms\":");
        float(out, self.duration_ms);
        out.extend_from_slice(b",\"upstream\":\"");
        if let Some(addr) = self.upstream {
            socket_addr(out, addr);
        }
        out.extend_from_slice(b"\",\"upstream_ms\":");
        float(out, self.upstream_ms);
        out.extend_from_slice(b",\"group\":");
        string(out, self.group);
        out.extend_from_slice(b",\"error\":");
        string(out, self.error.map_or("", Category::as_str));
        out.extend_from_slice(b"},\"target\":\"access\"}\n");
    }
}

/// A JSON string, quoted and escaped.
fn string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// A float as `serde_json` writes it (`0.0`, `1.25`; `null` for NaN/infinity).
fn float(out: &mut Vec<u8>, v: f64) {
    serde_json::to_writer(&mut *out, &v).expect("writing to a Vec cannot fail");
}

fn number(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// An IP address as `Display` writes it; IPv4 without the formatting machinery.
pub fn ip_addr(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            number(out, a.into());
            out.push(b'.');
            number(out, b.into());
            out.push(b'.');
            number(out, c.into());
            out.push(b'.');
            number(out, d.into());
        }
        IpAddr::V6(v6) => write!(out, "{v6}").expect("writing to a Vec cannot fail"),
    }
}

fn socket_addr(out: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            ip_addr(out, IpAddr::V4(*v4.ip()));
            out.push(b':');
            number(out, v4.port().into());
        }
        SocketAddr::V6(_) => write!(out, "{addr}").expect("writing to a Vec cannot fail"),
    }
}

/// RFC 3339 in UTC with microseconds, as `tracing_subscriber` writes it.
fn timestamp(now: SystemTime, out: &mut Vec<u8>) {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let two = |out: &mut Vec<u8>, v: u64| {
        out.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8])
    };
    number(out, year as u64);
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
    out.push(b'T');
    two(out, rem / 3600);
    out.push(b':');
    two(out, rem / 60 % 60);
    out.push(b':');
    two(out, rem % 60);
    out.push(b'.');
    let micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut v = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>() -> Entry<'a> {
        Entry {
            request_id: "abc\"1",
            client_ip: Some("192.0.2.10".parse().unwrap()),
            host: "shop.example.com",
            zone: "*.example.com",
            method: "GET",
            path: "/a\\b",
            status: 200,
            bytes: 1234,
            duration_ms: 1.5,
            upstream: Some("10.0.0.1:8080".parse().unwrap()),
            upstream_ms: 0.0,
            group: "canary",
            error: None,
        }
    }

    #[test]
    fn a_line_is_json_with_every_field() {
        let mut out = Vec::new();
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_162_553_000_042);
        entry().format(at, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        assert_eq!(
            text,
            concat!(
                r#"{"timestamp":"2026-12-01T22:02:33.000042Z","level":"INFO","fields":{"#,
                r#""request_id":"abc\"1","client_ip":"192.0.2.10","host":"shop.example.com","#,
                r#""zone":"*.example.com","method":"GET","path":"/a\\b","status":200,"#,
                r#""bytes":1234,"duration_ms":1.5,"upstream":"10.0.0.1:8080","#,
                r#""upstream_ms":0.0,"group":"canary","error":""},"target":"access"}"#,
                "\n"
            )
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["fields"]["request_id"], "abc\"1");
        assert_eq!(v["target"], "access");
    }

    #[test]
    fn missing_addresses_are_empty_and_ipv6_is_written_as_display() {
        let mut e = entry();
        e.client_ip = Some("2001:db8::1".parse().unwrap());
        e.upstream = None;
        let mut out = Vec::new();
        e.format(SystemTime::UNIX_EPOCH, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(v["fields"]["client_ip"], "2001:db8::1");
        assert_eq!(v["fields"]["upstream"], "");
        e.client_ip = None;
        e.upstream = Some("[2001:db8::2]:443".parse().unwrap());
        out.clear();
        e.format(SystemTime::UNIX_EPOCH, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["fields"]["client_ip"], "");
        assert_eq!(v["fields"]["upstream"], "[2001:db8::2]:443");
    }

    #[test]
    fn dates_match_the_calendar() {
        for (days, ymd) in [
            (0, (1970, 1, 1)),
            (59, (1970, 3, 1)),
            (11_016, (2000, 2, 29)),
            (20_788, (2026, 12, 1)),
            (-1, (1969, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), ymd, "day {days}");
        }
    }
}
