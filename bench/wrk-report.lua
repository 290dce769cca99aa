-- wrk reporter for bench/proxy.sh: one machine-readable line at the end of a run.
-- Latencies are wrk's (microseconds, measured per request on the connection; wrk is
-- closed-loop, so they do not include coordinated-omission correction).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status))
end
