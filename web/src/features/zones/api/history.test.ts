import { describe, expect, it } from "vitest";
import { historyDomain, recordedZone, renderedChange, revisionDiff, zoneAfterRollback } from "./history";
import type { Diff, ZoneView } from "./types";

const zone: ZoneView = {
  id: "z1",
  domain_id: "d1",
  hostname: "www.shop.test",
  path_prefix: "",
  backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.1:8080", weight: 1 }] },
  force_https: false,
  preserve_host: false,
  allow: [],
  timeouts: {},
  created_at: "2026-12-06T20:00:00Z",
  updated_at: "2026-12-06T20:00:00Z",
};
const changed: ZoneView = { ...zone, force_https: true, updated_at: "2026-12-06T20:05:00Z" };
const empty: Diff = { dry_run: false, created: [], changed: [], deleted: [], records: [] };

// The generated type says `Record<string, never>` for a revision's free-form before/after.
const obj = (v: unknown) => v as Record<string, never>;

describe("a history entry as the zone editor's diff", () => {
  it("is a create when nothing was before", () => {
    expect(revisionDiff({ id: "z1", before: null, after: obj(zone) })).toEqual({ ...empty, created: [zone] });
  });

  it("is a change when both sides are zones", () => {
    expect(revisionDiff({ id: "z1", before: obj(zone), after: obj(changed) })).toEqual({ ...empty, changed: [{ id: "z1", before: zone, after: changed }] });
  });

  it("is a delete when nothing is after", () => {
    expect(revisionDiff({ id: "z1", before: obj(zone), after: undefined })).toEqual({ ...empty, deleted: [zone] });
  });

  it("ignores a side that is not a zone", () => {
    expect(recordedZone({ name: "svc" })).toBeNull();
    expect(recordedZone(null)).toBeNull();
    expect(recordedZone([zone])).toBeNull();
    expect(revisionDiff({ id: "z1", before: obj({ hostname: "x" }), after: null })).toEqual(empty);
  });
});

describe("a re-rendered zone's upstream URL", () => {
  it("is read from `rendered` on either side", () => {
    expect(renderedChange({ before: obj({ ...zone, rendered: "http://www.svc:80" }), after: obj({ ...zone, rendered: "http://www.svc:8080" }) })).toEqual({ before: "http://www.svc:80", after: "http://www.svc:8080" });
    expect(renderedChange({ before: obj(zone), after: obj(changed) })).toBeNull();
  });
});

describe("the zone a rollback leaves", () => {
  it("is the re-created or changed zone, or none", () => {
    expect(zoneAfterRollback({ ...empty, created: [zone] })).toBe(zone);
    expect(zoneAfterRollback({ ...empty, changed: [{ id: "z1", before: changed, after: zone }] })).toBe(zone);
    expect(zoneAfterRollback({ ...empty, deleted: [zone] })).toBeNull();
    expect(zoneAfterRollback(empty)).toBeNull();
  });
});

describe("the domain of a zone from its history", () => {
  it("is the newest entry's, after before (a deleted zone's: the one it lay in)", () => {
    expect(historyDomain([{ before: obj(zone), after: null }])).toBe("d1");
    expect(historyDomain([{ before: obj({ ...zone, domain_id: "d0" }), after: obj(zone) }])).toBe("d1");
    expect(historyDomain([])).toBeNull();
  });
});
