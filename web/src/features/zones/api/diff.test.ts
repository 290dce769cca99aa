import { describe, expect, it } from "vitest";
import { describeBackend, diffEntries, fieldChanges, isEmptyDiff, recordsOf } from "./diff";
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
    expect(created).toHaveLength(9);
    expect(created.every((c) => c.before === null && c.after !== null)).toBe(true);
    expect(fieldChanges(zone(), null).every((c) => c.after === null)).toBe(true);
  });

  it("orders entries created, changed, deleted", () => {
    const diff: Diff = {
      dry_run: true, records: [],
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
    expect(isEmptyDiff({ dry_run: true, records: [], created: [], changed: [{ id: "z1", before: zone(), after: zone({ updated_at: "2027-01-01T00:00:00Z" }) }], deleted: [] })).toBe(true);
    expect(isEmptyDiff({ dry_run: true, records: [], created: [zone()], changed: [], deleted: [] })).toBe(false);
  });

  it("describes backends for people", () => {
    expect(describeBackend({ kind: "none" })).toMatch(/^none/);
    expect(describeBackend({ kind: "named", name: "svc", params: { port: "80" } })).toBe("named “svc” (port=80)");
    expect(describeBackend({ kind: "upstreams", upstreams: [] })).toBe("no upstreams");
  });
});

describe("what Redis will hold", () => {
  it("picks the records of the entry's hostnames (old and new)", () => {
    const record = (hostname: string) => ({ hostname, key: `p:zone:${hostname}`, before: null, after: { host: hostname, routes: [] } });
    const moved = zone({ hostname: "new.example.com" });
    const diff: Diff = { dry_run: true, created: [], deleted: [], changed: [{ id: "z1", before: zone(), after: moved }], records: [record("app.example.com"), record("new.example.com"), record("other.example.com")] };
    const [entry] = diffEntries(diff);
    expect(entry && recordsOf(diff, entry).map((r) => r.hostname)).toEqual(["app.example.com", "new.example.com"]);
  });
});
