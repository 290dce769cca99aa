import { describe, expect, it } from "vitest";
import { certificateNames, isInFlight, summarizeCertificate } from "./certificate";
import type { CertificateView } from "./types";

const NOW = Date.parse("2026-06-01T00:00:00Z");
const base: CertificateView = {
  id: "c1",
  domain_id: "d1",
  names: ["*.example.com", "example.com"],
  status: "pending",
  attempts: 0,
  next_attempt_at: "2026-06-01T00:05:00Z",
  updated_at: "2026-06-01T00:00:00Z",
};

describe("summarizeCertificate", () => {
  it("says a per-host domain's wildcard is not ordered, or kept until it expires, never pending", () => {
    const pending = summarizeCertificate(base, NOW, "per_host");
    expect(pending.label).toBe("Not ordered");
    expect(pending.lines[0]).toMatch(/Each zone hostname gets its own certificate by HTTP-01/);
    expect(summarizeCertificate(null, NOW, "per_host").label).toBe("Not ordered");
    const kept = summarizeCertificate({ ...base, status: "active", not_after: "2026-08-30T00:00:00Z" }, NOW, "per_host");
    expect(kept.label).toBe("Not renewed");
    expect(kept.lines[0]).toMatch(/\(90 days left\)/);
    expect(kept.lines[1]).toBe("The wildcard issued earlier keeps serving until it expires; it is not renewed.");
    expect(summarizeCertificate(base, NOW, "wildcard").label).toBe("Pending");
  });

  it("says a failed order's real error and when it tries again", () => {
    const s = summarizeCertificate({ ...base, status: "failed", attempts: 3, last_error: "DNS problem: NXDOMAIN looking up TXT" }, NOW);
    expect(s.label).toBe("Failed");
    expect(s.tone).toBe("bad");
    expect(s.lines[0]).toBe("Last error: DNS problem: NXDOMAIN looking up TXT");
    expect(s.lines[1]).toMatch(/^Next attempt .* \(in 5 min\)\.$/);
    expect(s.lines).toContain("3 attempts so far.");
  });

  it("shows an active certificate's expiry and warns close to it", () => {
    const ok = summarizeCertificate({ ...base, status: "active", not_after: "2026-08-30T00:00:00Z" }, NOW);
    expect(ok.tone).toBe("ok");
    expect(ok.lines[0]).toMatch(/\(90 days left\)/);
    expect(summarizeCertificate({ ...base, status: "active", not_after: "2026-06-05T00:00:00Z" }, NOW).tone).toBe("warn");
  });

  it("a failed renewal keeps the current expiry in view", () => {
    const s = summarizeCertificate({ ...base, status: "failed_renewal", last_error: "rate limited", not_after: "2026-06-11T00:00:00Z" }, NOW);
    expect(s.label).toBe("Renewal failed");
    expect(s.lines[0]).toBe("Renewal failed: rate limited");
    expect(s.lines[1]).toMatch(/10 days left/);
  });

  it("a manual order waits for its TXT records; no order at all is said so", () => {
    expect(summarizeCertificate({ ...base, manual_dns: { name: "_acme-challenge.example.com", values: ["a", "b"] } }, NOW).lines[0]).toMatch(/TXT records/);
    expect(summarizeCertificate(null, NOW).label).toBe("No certificate");
  });

  it("polls only orders in flight, and reads the names", () => {
    expect(isInFlight(base)).toBe(true);
    expect(isInFlight({ ...base, status: "active" })).toBe(false);
    expect(isInFlight(null)).toBe(false);
    expect(certificateNames(base)).toEqual(["*.example.com", "example.com"]);
    expect(certificateNames({ ...base, names: null })).toEqual([]);
  });
});
