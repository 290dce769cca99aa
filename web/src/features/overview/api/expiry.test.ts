import { describe, expect, it } from "vitest";
import { expiryWhy, type ExpiringCert } from "./expiry";

const cert: ExpiringCert = {
  name: "*.example.com",
  not_after: "2026-12-17T10:00:00Z",
  days_left: 9.5,
  source: "issued",
  why: "renewal_scheduled",
};

describe("expiryWhy", () => {
  it("quotes the last error of a failing renewal", () => {
    expect(expiryWhy({ ...cert, why: "renewal_failing", error: "cloudflare: HTTP 401" })).toBe("Renewal failing: cloudflare: HTTP 401");
  });

  it("tells an operator to replace an upload", () => {
    expect(expiryWhy({ ...cert, source: "uploaded", why: "not_renewable" })).toMatch(/upload its successor/);
  });

  it("says when nothing failed or nothing is known", () => {
    expect(expiryWhy(cert)).toBe("Renewal scheduled");
    expect(expiryWhy({ ...cert, why: "renewal_unknown" })).toMatch(/unknown/);
  });
});
