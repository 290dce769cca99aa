//! Host matcher benchmark: lookup time per host, table build time and heap per pattern,
//! for tables of 1k, 100k and 1M mixed patterns (exact, `*`, `**`).
//!
//! Run: `taskset -c 1 cargo bench -p switchyard-shared --bench matcher` (pin to one core
//! so the other core's noise stays out). Criterion measures each lookup kind; after it,
//! a summary table prints build time, heap bytes per pattern (counted by a global
//! allocator wrapper: bytes held after the build minus before), and lookup
//! median / p99 over 200,000 single timed lookups of a random host mix.

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchyard_shared::{HostMatcher, HostPattern};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const SIZES: &[(usize, &str)] = &[(1_000, "1k"), (100_000, "100k"), (1_000_000, "1M")];

/// Deterministic pseudo-random numbers (xorshift), so every run sees the same tables.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` patterns over `n / 50` domains: 85% exact, 10% `*`, 5% `**`.
fn patterns(n: usize) -> Vec<String> {
    let domains = (n / 50).max(10);
    (0..n)
        .map(|i| {
            let d = i % domains;
            match i % 20 {
                0 => format!("**.svc{i}.dom{d}.example"),
                1 | 2 => format!("*.app{i}.dom{d}.example"),
                _ => format!("app{i}.dom{d}.example"),
            }
        })
        .collect()
}

/// Hosts that hit each kind of pattern, and hosts that miss.
struct Hosts {
    exact: Vec<String>,
    wildcard: Vec<String>,
    multi: Vec<String>,
    miss: Vec<String>,
    mixed: Vec<String>,
    /// Popularity like real traffic: Zipf (s = 1) over every pattern of the table.
    zipf: Vec<String>,
}

/// A host that matches pattern number `i` of [`patterns`].
fn host_for(i: usize, domains: usize) -> String {
    let d = i % domains;
    match i % 20 {
        0 => format!("a.b.svc{i}.dom{d}.example"),
        1 | 2 => format!("web.app{i}.dom{d}.example"),
        _ => format!("app{i}.dom{d}.example"),
    }
}

fn hosts(n: usize) -> Hosts {
    let domains = (n / 50).max(10);
    let mut rng = Rng(0x5eed ^ n as u64);
    let mut pick = |rem: &[usize]| loop {
        let i = rng.below(n);
        if rem.contains(&(i % 20)) {
            return i;
        }
    };
    let count = 10_000;
    let exact: Vec<String> = (0..count)
        .map(|_| {
            let i = pick(&[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
            format!("app{i}.dom{}.example", i % domains)
        })
        .collect();
    let wildcard: Vec<String> = (0..count)
        .map(|_| {
            let i = pick(&[1, 2]);
            format!("web.app{i}.dom{}.example", i % domains)
        })
        .collect();
    let multi: Vec<String> = (0..count)
        .map(|_| {
            let i = pick(&[0]);
            format!("a.b.svc{i}.dom{}.example", i % domains)
        })
        .collect();
    let miss: Vec<String> = (0..count)
        .map(|k| format!("nothing{k}.dom{}.example", k % domains))
        .collect();
    let mut mixed = Vec::with_capacity(count);
    for k in 0..count {
        mixed.push(match k % 10 {
            0..=6 => exact[k].clone(),
            7 => wildcard[k].clone(),
            8 => multi[k].clone(),
            _ => miss[k].clone(),
        });
    }
    // Zipf by inverse transform over the harmonic CDF; rank r is pattern (r * 7919) % n.
    let harmonic: Vec<f64> = (1..=n)
        .scan(0.0, |acc, r| {
            *acc += 1.0 / r as f64;
            Some(*acc)
        })
        .collect();
    let total = harmonic[n - 1];
    let zipf = (0..count)
        .map(|_| {
            let u = (rng.next() % 1_000_000_007) as f64 / 1_000_000_007.0 * total;
            let rank = harmonic.partition_point(|&h| h < u);
            host_for(rank * 7919 % n, domains)
        })
        .collect();
    Hosts {
        zipf,
        exact,
        wildcard,
        multi,
        miss,
        mixed,
    }
}

fn build(patterns: &[HostPattern]) -> HostMatcher<u32> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| (p.clone(), i as u32))
        .collect()
}

struct Summary {
    label: &'static str,
    build: Duration,
    heap_per_pattern: f64,
    uniform: (f64, f64),
    zipf: (f64, f64),
}

/// Median and 99th percentile of single lookups, each timed on its own: latency, not
/// throughput (a timed loop lets the CPU overlap the cache misses of consecutive lookups).
fn latency(matcher: &HostMatcher<u32>, hosts: &[String]) -> (f64, f64) {
    let mut samples = Vec::with_capacity(hosts.len() * 20);
    for round in 0..20 {
        for (k, h) in hosts.iter().enumerate() {
            let start = Instant::now();
            black_box(matcher.lookup(black_box(h)));
            let t = start.elapsed();
            if round > 0 || k > 1000 {
                samples.push(t.as_nanos() as f64);
            }
        }
    }
    samples.sort_by(f64::total_cmp);
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn summarise(
    n: usize,
    label: &'static str,
    matcher: &HostMatcher<u32>,
    parsed: &[HostPattern],
    hosts: &Hosts,
) -> Summary {
    // Build time: normalised patterns in, a ready matcher out.
    let start = Instant::now();
    let again = build(parsed);
    let build_time = start.elapsed();
    drop(again);

    // Heap: bytes held by a freshly built matcher.
    let region = Region::new(GLOBAL);
    let held = build(parsed);
    let stats = region.change();
    let heap = stats.bytes_allocated as f64 - stats.bytes_deallocated as f64;
    assert_eq!(held.len(), n);

    Summary {
        label,
        build: build_time,
        heap_per_pattern: heap / n as f64,
        uniform: latency(matcher, &hosts.mixed),
        zipf: latency(matcher, &hosts.zipf),
    }
}

const SUMMARY_ONLY: &str = "SWITCHYARD_BENCH_SUMMARY_ONLY";
const HUGE_PAGES: &str = "glibc.malloc.hugetlb=1";

/// `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) the bench runs
/// as a quick smoke test: the smallest table only, each benchmark once, no summary.
fn smoke_test() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn tables() -> impl Iterator<
    Item = (
        usize,
        &'static str,
        Vec<HostPattern>,
        HostMatcher<u32>,
        Hosts,
    ),
> {
    let sizes = if smoke_test() && std::env::var_os(SUMMARY_ONLY).is_none() {
        &SIZES[..1]
    } else {
        SIZES
    };
    sizes.iter().map(|&(n, label)| {
        let parsed: Vec<HostPattern> = patterns(n)
            .iter()
            .map(|p| HostPattern::parse(p).expect("bench patterns are valid"))
            .collect();
        let matcher = build(&parsed);
        let hosts = hosts(n);
        // Sanity: the host lists hit what they claim to.
        assert!(hosts.exact.iter().all(|h| matcher.lookup(h).is_some()));
        assert!(hosts.wildcard.iter().all(|h| matcher.lookup(h).is_some()));
        assert!(hosts.multi.iter().all(|h| matcher.lookup(h).is_some()));
        assert!(hosts.miss.iter().all(|h| matcher.lookup(h).is_none()));
        (n, label, parsed, matcher, hosts)
    })
}

/// Prints the summary table for the allocator settings this process runs with.
fn print_summary() {
    let summaries: Vec<Summary> = tables()
        .map(|(n, label, parsed, matcher, hosts)| summarise(n, label, &matcher, &parsed, &hosts))
        .collect();
    let mode = match std::env::var("GLIBC_TUNABLES") {
        Ok(t) if t.contains(HUGE_PAGES) => {
            "transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1)"
        }
        _ => "default 4 KiB pages",
    };
    println!();
    println!("host matcher summary, {mode}");
    println!(
        "  uniform: hosts drawn evenly from the whole table (70% exact, 10% *, 10% **, 10% miss)"
    );
    println!(
        "  zipf:    hosts drawn by popularity, Zipf s=1 over all patterns (like real traffic)"
    );
    println!(
        "{:>6} {:>10} {:>13} {:>13} {:>13} {:>13} {:>13}",
        "table", "build", "heap/pattern", "uniform p50", "uniform p99", "zipf p50", "zipf p99"
    );
    for s in &summaries {
        println!(
            "{:>6} {:>8.1}ms {:>11.0} B {:>10.0} ns {:>10.0} ns {:>10.0} ns {:>10.0} ns",
            s.label,
            s.build.as_secs_f64() * 1000.0,
            s.heap_per_pattern,
            s.uniform.0,
            s.uniform.1,
            s.zipf.0,
            s.zipf.1
        );
    }
    let first = &summaries[0];
    let last = &summaries[summaries.len() - 1];
    println!(
        "lookup p50 ratio {} / {}: uniform {:.2}, zipf {:.2} (1.00 = flat)",
        last.label,
        first.label,
        last.uniform.0 / first.uniform.0,
        last.zipf.0 / first.zipf.0
    );
}

fn main() {
    if std::env::var_os(SUMMARY_ONLY).is_some() {
        print_summary();
        return;
    }
    let mut criterion = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    for (_, label, _, matcher, hosts) in tables() {
        let mut group = criterion.benchmark_group(format!("lookup/{label}"));
        for (kind, list) in [
            ("exact", &hosts.exact),
            ("wildcard", &hosts.wildcard),
            ("double_wildcard", &hosts.multi),
            ("miss", &hosts.miss),
            ("mixed", &hosts.mixed),
        ] {
            group.bench_with_input(BenchmarkId::from_parameter(kind), list, |b, list| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % list.len();
                    black_box(matcher.lookup(black_box(&list[i])))
                })
            });
        }
        group.finish();
    }
    criterion.final_summary();
    if smoke_test() {
        return;
    }

    // The summary runs in child processes, once per allocator setting: the glibc
    // tunable that lets malloc use transparent huge pages only takes effect at start.
    let exe = std::env::current_exe().expect("the bench knows its own path");
    for tunables in [None, Some(HUGE_PAGES)] {
        let mut child = std::process::Command::new(&exe);
        child.env(SUMMARY_ONLY, "1");
        match tunables {
            Some(t) => child.env("GLIBC_TUNABLES", t),
            None => child.env_remove("GLIBC_TUNABLES"),
        };
        let status = child.status().expect("the summary child starts");
        assert!(status.success(), "summary child failed: {status}");
    }
    println!("(single lookups timed with Instant: p50 includes ~20-30 ns of timer overhead;");
    println!(" criterion's figures above are per lookup without it)");
}
