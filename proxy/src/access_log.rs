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
//! a quarter of the proxy's instructions per request. Here a line is formatted into a
//! buffer the thread reuses (the date and time to the second kept from the thread's last
//! line of the same second, integers with `itoa`, IPv4 addresses from a table, strings
//! copied as they are unless they hold a byte JSON escapes), ~2k instructions per line
//! (callgrind), then appended to the pending lines; a background thread writes those to
//! stdout every [`FLUSH_EVERY`] (sooner once [`FLUSH_AT`] bytes are waiting), so a
//! request never waits for stdout unless [`MAX_PENDING`] bytes are already waiting
//! (stdout blocked): then the request writes them itself, as before, rather than lose
//! lines. [`flush`] writes what is pending; `main` calls it after the server stops, and
//! a panic hook calls it before the process dies. Lines are written through
//! `std::io::stdout`'s lock, so they never interleave with other log lines.

use std::cell::{Cell, RefCell};
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

thread_local! {
    /// The line being formatted, reused (no allocation per line).
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    /// The date and time to the second of this thread's last line ("2026-12-01T22:02:33"),
    /// and the second it is for: lines of the same second share it.
    static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
}

impl Entry<'_> {
    /// Writes the line (when `RUST_LOG` allows it).
    pub fn write(&self) {
        if !enabled() {
            return;
        }
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                self.format(SystemTime::now(), &mut line);
                push(&line);
            }
            // Only if formatting a line could log one (it cannot): a buffer of its own.
            Err(_) => {
                let mut line = Vec::with_capacity(512);
                self.format(SystemTime::now(), &mut line);
                push(&line);
            }
        });
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
        millis(out, self.duration_ms);
        out.extend_from_slice(b",\"upstream\":\"");
        if let Some(addr) = self.upstream {
            socket_addr(out, addr);
        }
        out.extend_from_slice(b"\",\"upstream_ms\":");
        millis(out, self.upstream_ms);
        out.extend_from_slice(b",\"group\":");
        string(out, self.group);
        out.extend_from_slice(b",\"error\":");
        string(out, self.error.map_or("", Category::as_str));
        out.extend_from_slice(b"},\"target\":\"access\"}\n");
    }
}

/// A JSON string, quoted and escaped as `serde_json` does it. Most values (ids, hosts,
/// methods, plain paths) need no escape: they are copied as they are.
fn string(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether `bytes` holds a byte JSON escapes: a control byte (below 0x20), `"` or `\`.
/// Eight bytes at a time (the "has less than" and "has zero byte" word tricks), since
/// a byte at a time cost more than `serde_json`'s own escaping.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        if x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0
            || has_zero(x ^ (ONES * u64::from(b'"')))
            || has_zero(x ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Milliseconds to the microsecond, in fixed point (`1.500`, `0.042`): the shortest
/// round-trip float formatting cost more than the rest of the line's numbers together
/// (callgrind), and a clock's microseconds are all the precision there is.
fn millis(out: &mut Vec<u8>, ms: f64) {
    // Negative, NaN and infinite cannot come from a clock; written as 0 all the same.
    let micros = if ms.is_finite() && ms > 0.0 {
        (ms * 1000.0).round() as u64
    } else {
        0
    };
    number(out, micros / 1000);
    let frac = micros % 1000;
    out.extend_from_slice(&[
        b'.',
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

fn number(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// An IP address as `Display` writes it; IPv4 without the formatting machinery, built
/// on the stack and copied once (it is written three times per request: the access
/// line, `X-Forwarded-For` and `X-Real-IP`).
pub fn ip_addr(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Each octet's digits and a dot from a table, four bytes at a time; the last
            // dot is left out.
            let mut text = [0u8; 16];
            let mut len = 0;
            for octet in v4.octets() {
                let (digits, n) = OCTETS[usize::from(octet)];
                text[len..len + 4].copy_from_slice(&digits);
                len += n;
            }
            out.extend_from_slice(&text[..len - 1]);
        }
        IpAddr::V6(v6) => write!(out, "{v6}").expect("writing to a Vec cannot fail"),
    }
}

/// Each byte value's decimal digits followed by a dot, and how many of those bytes count.
const OCTETS: [([u8; 4], usize); 256] = {
    let mut table = [([0u8; 4], 0); 256];
    let mut i = 0;
    while i < 256 {
        let v = i as u8;
        table[i] = if v >= 100 {
            ([b'0' + v / 100, b'0' + v / 10 % 10, b'0' + v % 10, b'.'], 4)
        } else if v >= 10 {
            ([b'0' + v / 10, b'0' + v % 10, b'.', 0], 3)
        } else {
            ([b'0' + v, b'.', 0, 0], 2)
        };
        i += 1;
    }
    table
};

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
    let (cached, mut second) = SECOND.get();
    if cached != secs {
        second = date_time(secs);
        SECOND.set((secs, second));
    }
    let mut rest = *b".000000Z";
    let mut v = since.subsec_micros();
    for d in rest[1..7].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&second);
    out.extend_from_slice(&rest);
}

/// "YYYY-MM-DDTHH:MM:SS" for seconds since the epoch (years 0-9999; the clock says
/// 1970-...).
fn date_time(secs: u64) -> [u8; 19] {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut text = *b"0000-00-00T00:00:00";
    let year = year.clamp(0, 9999) as u64;
    for (i, v) in [
        (0, year / 100),
        (2, year % 100),
        (5, month),
        (8, day),
        (11, rem / 3600),
        (14, rem / 60 % 60),
        (17, rem % 60),
    ] {
        text[i] = b'0' + (v / 10) as u8;
        text[i + 1] = b'0' + (v % 10) as u8;
    }
    text
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
                r#""bytes":1234,"duration_ms":1.500,"upstream":"10.0.0.1:8080","#,
                r#""upstream_ms":0.000,"group":"canary","error":""},"target":"access"}"#,
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
    fn timestamps_follow_the_clock_within_a_second_and_across_seconds() {
        let at = |micros: u64| {
            let mut out = Vec::new();
            timestamp(
                SystemTime::UNIX_EPOCH + Duration::from_micros(micros),
                &mut out,
            );
            String::from_utf8(out).unwrap()
        };
        // 2026-12-01T22:02:33Z, then later in that second, the next ones, and back.
        let t = 1_796_162_553_000_000;
        assert_eq!(at(t), "2026-12-01T22:02:33.000000Z");
        assert_eq!(at(t + 999_999), "2026-12-01T22:02:33.999999Z");
        assert_eq!(at(t + 1_000_000), "2026-12-01T22:02:34.000000Z");
        assert_eq!(at(t + 86_400_000_000 + 7), "2026-12-02T22:02:33.000007Z");
        assert_eq!(at(t - 1), "2026-12-01T22:02:32.999999Z");
        assert_eq!(at(0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn ipv4_addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.0.2.10",
            "1.22.133.4",
            "99.100.101.199",
        ] {
            let mut out = Vec::new();
            ip_addr(&mut out, ip.parse().unwrap());
            assert_eq!(String::from_utf8(out).unwrap(), ip);
        }
    }

    #[test]
    fn every_byte_json_escapes_is_found_wherever_it_is() {
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for at in 0..20 {
                let mut s: String = "abcdefghijklmnopqrst".into();
                s.replace_range(at..=at, &special.to_string());
                assert!(needs_escape(s.as_bytes()), "{s:?}");
            }
        }
        for fine in [
            " ",
            "\u{7f}",
            "é",
            "☃",
            "~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
            "",
        ] {
            let s = fine.repeat(9);
            assert!(!needs_escape(s.as_bytes()), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_ipv4_address_is_written_as_display_writes_it(bits: u32) {
            let ip = IpAddr::V4(bits.into());
            let mut out = Vec::new();
            ip_addr(&mut out, ip);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }

        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(
            ascii in proptest::collection::vec(0u8..0x80, 0..24),
            any in proptest::collection::vec(proptest::char::any(), 0..8),
        ) {
            let mut s = String::from_utf8(ascii).unwrap();
            s.extend(any);
            let mut out = Vec::new();
            string(&mut out, &s);
            proptest::prop_assert_eq!(&out, &serde_json::to_vec(&s).unwrap());
            // Where the byte to escape is in a word of eight does not matter.
            let s = format!("0123456789abcdef{s}");
            let mut out = Vec::new();
            string(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn milliseconds_are_written_to_the_microsecond(micros in 0u64..10_000_000_000) {
            let mut out = Vec::new();
            millis(&mut out, micros as f64 / 1000.0);
            let text = String::from_utf8(out).unwrap();
            proptest::prop_assert_eq!(&text, &format!("{}.{:03}", micros / 1000, micros % 1000));
            let read: f64 = text.parse().unwrap();
            proptest::prop_assert!((read * 1000.0 - micros as f64).abs() < 0.5, "{}", text);
        }

        #[test]
        fn numbers_are_written_in_decimal(v: u64) {
            let mut out = Vec::new();
            number(&mut out, v);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
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
