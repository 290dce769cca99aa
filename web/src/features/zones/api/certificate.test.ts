import { describe, expect, it } from "vitest";
import { describeServing, type ZoneCertificate } from "./certificate";

const NOW = Date.parse("2026-06-01T00:00:00Z");
const base: ZoneCertificate = { zone_id: "z1", hostname: "app.example.com", certificate: null };

describe("describeServing", () => {
  it("says when no certificate covers the hostname", () => {
    const s = describeServing(base, NOW);
    expect(s.label).toBe("No certificate");
    expect(s.tone).toBe("bad");
    expect(s.lines[0]).toMatch(/No certificate covers app\.example\.com/);
  });

  it("names an uploaded wildcard and warns it is not renewed", () => {
    const s = describeServing(
      {
        ...base,
        certificate: { source: "uploaded", coverage: "wildcard", id: "c1", name: "*.example.com", names: ["*.example.com", "example.com"], not_after: "2026-08-30T00:00:00Z" },
      },
      NOW,
    );
    expect(s.label).toBe("Uploaded");
    expect(s.tone).toBe("ok");
    expect(s.lines[0]).toBe("The uploaded certificate *.example.com covers it as *.example.com.");
    expect(s.lines[1]).toMatch(/\(90 days left\)/);
    expect(s.lines[2]).toMatch(/never renewed automatically/);
  });

  it("an exact issued certificate close to expiry warns; an expired one is bad", () => {
    const cert = { source: "issued" as const, coverage: "exact" as const, id: "c2", name: "app.example.com", names: ["app.example.com"] };
    const soon = describeServing({ ...base, certificate: { ...cert, not_after: "2026-06-05T00:00:00Z" } }, NOW);
    expect(soon.label).toBe("Issued");
    expect(soon.tone).toBe("warn");
    expect(soon.lines[0]).toBe("The issued certificate app.example.com names app.example.com itself.");
    expect(soon.lines).toHaveLength(2);
    const gone = describeServing({ ...base, certificate: { ...cert, not_after: "2026-05-01T00:00:00Z" } }, NOW);
    expect(gone.tone).toBe("bad");
    expect(gone.lines[1]).toMatch(/^It expired on /);
  });
});
