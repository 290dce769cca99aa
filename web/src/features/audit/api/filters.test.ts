import { describe, expect, it } from "vitest";
import { auditQuery, filtersFromParams, localToRfc3339, offsetFromParams, paramsFrom } from "./filters";

describe("audit filters", () => {
  it("round-trips through the URL, leaving empty ones out", () => {
    const params = new URLSearchParams("resource_type=zone&action=zone.update&since=2026-06-01T10:00&offset=50");
    const f = filtersFromParams(params);
    expect(f).toEqual({ actor: "", resource_type: "zone", resource_id: "", action: "zone.update", since: "2026-06-01T10:00", until: "" });
    expect(offsetFromParams(params)).toBe(50);
    expect(offsetFromParams(new URLSearchParams("offset=-3"))).toBe(0);
    expect(paramsFrom(f, 0)).toEqual({ resource_type: "zone", action: "zone.update", since: "2026-06-01T10:00" });
  });

  it("turns local times into RFC 3339 for the API", () => {
    const iso = localToRfc3339("2026-06-01T10:00");
    expect(iso).toBe(new Date(2026, 5, 1, 10, 0).toISOString());
    expect(localToRfc3339("yesterday")).toBeNull();
  });

  it("builds the API's query, naming a time that does not parse", () => {
    const { query, problems } = auditQuery({ actor: " u1 ", resource_type: "", resource_id: "", action: "", since: "2026-06-01T10:00", until: "soon" }, 100);
    expect(query).toEqual({ limit: 50, offset: 100, actor: "u1", since: new Date(2026, 5, 1, 10, 0).toISOString() });
    expect(problems).toEqual([{ field: "until", problem: "not a date and time" }]);
  });
});
