import { describe, expect, it } from "vitest";
import { describeCheck, type DnsCheckView } from "./dnsCheck";

const base: DnsCheckView = {
  name: "app.example.com",
  checked_at: "2026-12-07T00:00:00Z",
  resolver: "system",
  verdict: "pass",
  records: [{ type: "A", value: "203.0.113.7" }],
  expected: ["203.0.113.7"],
  problem: null,
};

describe("describeCheck", () => {
  it("says what each verdict means", () => {
    expect(describeCheck(base)).toEqual({ tone: "ok", label: "DNS points at the fleet" });
    expect(describeCheck({ ...base, verdict: "fail" }).tone).toBe("bad");
    expect(describeCheck({ ...base, verdict: "unconfigured" }).label).toMatch(/no public addresses/);
  });
});
