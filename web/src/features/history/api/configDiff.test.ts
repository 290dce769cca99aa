import { describe, expect, it } from "vitest";
import { changesNothing, configDiffSummary, countConfigDiff, restoredSummary } from "./configDiff";
import type { ConfigDiff } from "./revisions";

const zone = (id: string, hostname: string) => ({
  id,
  domain_id: "d1",
  hostname,
  path_prefix: "",
  backend: { kind: "none" as const },
  force_https: false,
  preserve_host: false,
  allow: [],
  timeouts: {},
  created_at: "2026-12-06T20:00:00Z",
  updated_at: "2026-12-06T20:00:00Z",
});
const backend = { id: "b1", name: "svc", url_template: "http://{first_label}.svc:80", parameters: [], preset: false, created_at: "2026-12-06T20:00:00Z", updated_at: "2026-12-06T20:00:00Z" };
const domain = { id: "dom", name: "shop.test", certificates: "wildcard" as const, created_at: "2026-12-06T20:00:00Z" };

const none: ConfigDiff = {
  to_revision: 4,
  dry_run: true,
  created: [],
  changed: [],
  deleted: [],
  records: [],
  named_backends: { created: [], changed: [], deleted: [] },
  domains: { created: [], kept: [] },
};

describe("a configuration rollback in words", () => {
  it("says when nothing changes", () => {
    const c = countConfigDiff(none);
    expect(changesNothing(c)).toBe(true);
    expect(configDiffSummary(c)).toBe("Nothing changes.");
  });

  it("counts every kind of difference", () => {
    const diff: ConfigDiff = {
      ...none,
      created: [zone("z1", "a.test")],
      changed: [
        { id: "z2", before: zone("z2", "b.test"), after: zone("z2", "b.test") },
        { id: "z3", before: zone("z3", "c.test"), after: zone("z3", "c.test") },
      ],
      deleted: [zone("z4", "d.test")],
      named_backends: { created: [backend], changed: [], deleted: [{ ...backend, id: "b2" }] },
      domains: { created: [domain], kept: [] },
    };
    const c = countConfigDiff(diff);
    expect(changesNothing(c)).toBe(false);
    expect(configDiffSummary(c)).toBe("2 zones changed, 1 zone re-created, 1 zone deleted, 1 named backend re-created, 1 named backend deleted, 1 domain re-created.");
  });

  it("lists kept domains as no change", () => {
    const c = countConfigDiff({ ...none, domains: { created: [], kept: [{ domain, reason: "a rollback never deletes a domain" }, { domain: { ...domain, id: "d2" }, reason: "x" }] } });
    expect(changesNothing(c)).toBe(true);
    expect(configDiffSummary(c)).toBe("Nothing changes; 2 domains kept as they are.");
    expect(configDiffSummary({ ...c, domainsKept: 1, backendsChanged: 1 })).toBe("1 named backend restored; 1 domain kept as it is.");
  });

  it("says, once applied, the revision it recorded and where it went", () => {
    const one = { ...none, dry_run: false, deleted: [zone("z1", "a.test")] };
    expect(restoredSummary({ ...one, revision: 9, version: 5 })).toBe("1 zone deleted. Recorded as revision 9. Redis version 5: each proxy serves it once it reaches that version.");
    expect(restoredSummary({ ...one, revision: 9, version: null })).toBe("1 zone deleted. Recorded as revision 9. Redis did not answer: the change is queued and reaches the proxies once Redis is back.");
    expect(restoredSummary({ ...none, dry_run: false, revision: null })).toBe("Nothing changes.");
  });
});
