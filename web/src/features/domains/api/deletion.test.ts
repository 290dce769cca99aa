import { describe, expect, it } from "vitest";
import type { Diff } from "@/lib/changes";
import { confirmLabel, describeDeletion } from "./deletion";

function zone(hostname: string, path_prefix: string): Diff["deleted"][number] {
  return {
    id: hostname + path_prefix,
    domain_id: "d",
    hostname,
    path_prefix,
    backend: { kind: "none" },
    created_at: "2026-12-01T00:00:00Z",
    updated_at: "2026-12-01T00:00:00Z",
  };
}

const preview: Diff = {
  dry_run: true,
  created: [],
  changed: [],
  deleted: [zone("*.example.com", ""), zone("app.example.com", "/api")],
  records: [],
  changes: [
    {
      action: "certificate.delete",
      resource_type: "certificate",
      resource_id: "c",
      before: { names: ["*.example.com", "example.com"], status: "active", pending_acme_orders: 1, redis_key: "switchyard:cert:*.example.com" },
      after: null,
    },
    { action: "grant.delete", resource_type: "grant", resource_id: "g", before: {}, after: null },
    { action: "domain.delete", resource_type: "domain", resource_id: "d", before: { name: "example.com" }, after: null },
  ],
};

describe("describeDeletion", () => {
  it("lists the zones, the certificate and the grants the delete takes", () => {
    expect(describeDeletion(preview)).toEqual({
      zones: ["*.example.com", "app.example.com/api"],
      certificate: { names: ["*.example.com", "example.com"], pendingOrders: 1, redisKey: "switchyard:cert:*.example.com" },
      grants: 1,
    });
  });

  it("copes with a domain that has no zones, no certificate and odd summaries", () => {
    const bare: Diff = { ...preview, deleted: [], changes: [{ action: "certificate.delete", resource_type: "certificate", resource_id: "c", before: { names: "oops" }, after: null }] };
    expect(describeDeletion(bare)).toEqual({ zones: [], certificate: { names: [], pendingOrders: 0, redisKey: null }, grants: 0 });
    expect(describeDeletion({ ...bare, changes: [] }).certificate).toBeNull();
  });

  it("says on the button what goes", () => {
    expect(confirmLabel("example.com", describeDeletion(preview))).toBe("Delete example.com and 2 zones");
    expect(confirmLabel("example.com", { zones: ["a.example.com"], certificate: null, grants: 0 })).toBe("Delete example.com and its zone");
    expect(confirmLabel("example.com", { zones: [], certificate: null, grants: 0 })).toBe("Delete example.com");
  });
});
