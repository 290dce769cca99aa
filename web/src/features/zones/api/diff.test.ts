import { describe, expect, it } from "vitest";
import { describeBackend, diffEntries, fieldChanges, isEmptyDiff, redisView, renderTemplate } from "./diff";
import type { Diff, ZoneView } from "./types";

function zone(over: Partial<ZoneView> = {}): ZoneView {
  return {
    id: "z1",
    domain_id: "d1",
    hostname: "app.example.com",
    path_prefix: "",
    backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.5:8080", weight: 1 }] },
    force_https: false,
    preserve_host: false,
    allow: [],
    timeouts: {},
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    ...over,
  };
}

describe("diff computation", () => {
  it("lists only the fields a change touches, before → after", () => {
    const before = zone();
    const after = zone({ force_https: true, backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.6:8080", weight: 2 }] } });
    expect(fieldChanges(before, after)).toEqual([
      { field: "backend", label: "Backend", before: "http://10.0.0.5:8080", after: "http://10.0.0.6:8080 (weight 2)" },
      { field: "force_https", label: "Force HTTPS", before: "no", after: "yes" },
    ]);
  });

  it("shows every field of a created or deleted zone", () => {
    const created = fieldChanges(null, zone());
    expect(created).toHaveLength(7);
    expect(created.every((c) => c.before === null && c.after !== null)).toBe(true);
    expect(fieldChanges(zone(), null).every((c) => c.after === null)).toBe(true);
  });

  it("orders entries created, changed, deleted", () => {
    const diff: Diff = {
      dry_run: true,
      created: [zone({ id: "c", hostname: "new.example.com" })],
      changed: [{ id: "z1", before: zone(), after: zone({ allow: ["10.0.0.0/8"] }) }],
      deleted: [zone({ id: "d", hostname: "old.example.com", path_prefix: "/v1" })],
    };
    const entries = diffEntries(diff);
    expect(entries.map((e) => [e.kind, e.hostname + e.path_prefix])).toEqual([
      ["created", "new.example.com"],
      ["changed", "app.example.com"],
      ["deleted", "old.example.com/v1"],
    ]);
    expect(entries[1]?.changes).toEqual([{ field: "allow", label: "Allowed clients", before: "everyone", after: "10.0.0.0/8" }]);
  });

  it("knows a diff that changes nothing", () => {
    expect(isEmptyDiff({ dry_run: true, created: [], changed: [{ id: "z1", before: zone(), after: zone({ updated_at: "2027-01-01T00:00:00Z" }) }], deleted: [] })).toBe(true);
    expect(isEmptyDiff({ dry_run: true, created: [zone()], changed: [], deleted: [] })).toBe(false);
  });

  it("describes backends for people", () => {
    expect(describeBackend({ kind: "none" })).toMatch(/^none/);
    expect(describeBackend({ kind: "named", name: "svc", params: { port: "80" } })).toBe("named “svc” (port=80)");
    expect(describeBackend({ kind: "upstreams", upstreams: [] })).toBe("no upstreams");
  });
});

describe("what Redis will hold", () => {
  it("renders a named backend's template like the API does", () => {
    expect(renderTemplate("http://{first_label}.svc.internal:{port}", "app.example.com", { port: "8080" })).toEqual({ url: "http://app.svc.internal:8080" });
    expect(renderTemplate("https://{host}/{{x}}", "a.b", {})).toEqual({ url: "https://a.b/{x}" });
    expect(renderTemplate("http://{first_label}:1", "*.example.com", {})).toEqual({ problem: "uses {first_label} but “*.example.com” starts with a wildcard" });
    expect(renderTemplate("http://x:{port}", "a.b", {})).toEqual({ problem: "needs the parameter “port”" });
  });

  it("builds the route of the zone's hostname key", () => {
    const view = redisView(zone({ path_prefix: "/api", force_https: true, timeouts: { connect_ms: 100, read_ms: null } }), null);
    expect(view).toEqual({
      key: "zone:app.example.com",
      note: null,
      route: {
        zone_id: "z1",
        path_prefix: "/api",
        upstreams: [{ url: "http://10.0.0.5:8080", weight: 1 }],
        force_https: true,
        preserve_host: false,
        allow: [],
        timeouts: { connect_ms: 100 },
      },
    });
  });

  it("renders named backends into upstreams, or says why it cannot", () => {
    const named = zone({ backend: { kind: "named", name: "svc", params: { port: "9000" } } });
    expect(redisView(named, "http://{first_label}.internal:{port}").route?.upstreams).toEqual([{ url: "http://app.internal:9000", weight: 1 }]);
    expect(redisView(named, "http://{first_label}.internal:{port}").route?.named_backend).toBe("svc");
    expect(redisView(named, null).note).toMatch(/template could not be read/);
  });
});
