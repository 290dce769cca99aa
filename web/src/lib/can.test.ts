import { describe, expect, it } from "vitest";
import type { Me } from "./auth";
import { permission, rightsReason } from "./can";

const user = (grants: Me["grants"] = [], over: Partial<Me> = {}): Me => ({ user_id: "u", username: "u", role: "user", via: "session", grants, ...over });
const admin = user([], { role: "admin" });
const read = (domain_id: string) => ({ domain_id, level: "read" });
const edit = (domain_id: string) => ({ domain_id, level: "edit" });

describe("who may change what (the API's rule, read from /me)", () => {
  it("lets an admin change anything", () => {
    for (const target of [
      { kind: "zone", domainId: "d1" },
      { kind: "new-zone" },
      { kind: "domain", domainId: "d1" },
      { kind: "admin" },
      { kind: "named-backend", backend: { id: "b", preset: true, owner_user_id: null } },
    ] as const) {
      expect(rightsReason(admin, target)).toBeNull();
    }
  });

  it("lets a user change a zone only with an edit grant on its domain", () => {
    expect(rightsReason(user([edit("d1")]), { kind: "zone", domainId: "d1" })).toBeNull();
    expect(rightsReason(user([read("d1")]), { kind: "zone", domainId: "d1" })).toMatch(/read grant/);
    expect(rightsReason(user([edit("d2")]), { kind: "zone", domainId: "d1" })).toMatch(/edit grant/);
    expect(rightsReason(user([read("d1"), edit("d1")]), { kind: "zone", domainId: "d1" })).toBeNull();
    expect(rightsReason(user([edit("d1")]), { kind: "zone", domainId: null })).not.toBeNull();
  });

  it("offers a new zone (or an import) only with an edit grant on some domain", () => {
    expect(rightsReason(user([read("d1"), edit("d2")]), { kind: "new-zone" })).toBeNull();
    expect(rightsReason(user([read("d1")]), { kind: "new-zone" })).toMatch(/read grants/);
    expect(rightsReason(user([{ named_backend_id: "b", level: "edit" }]), { kind: "new-zone" })).not.toBeNull();
    expect(rightsReason(user(), { kind: "new-zone" })).not.toBeNull();
  });

  it("re-issues a domain's certificate only with an edit grant on it", () => {
    expect(rightsReason(user([edit("d1")]), { kind: "domain", domainId: "d1" })).toBeNull();
    expect(rightsReason(user([read("d1")]), { kind: "domain", domainId: "d1" })).toMatch(/read grant/);
  });

  it("keeps admin-only actions from users, and lets anyone manage their own things", () => {
    expect(rightsReason(user([edit("d1")]), { kind: "admin" })).not.toBeNull();
    expect(rightsReason(user(), { kind: "own" })).toBeNull();
    expect(rightsReason(null, { kind: "own" })).not.toBeNull();
  });

  it("puts the lasting reason (rights) before the passing one (health)", () => {
    expect(permission(null, null)).toEqual({ allowed: true, reason: null, because: null });
    expect(permission("Read-only", "PostgreSQL is down")).toEqual({ allowed: false, reason: "Read-only", because: "rights" });
    expect(permission(null, "PostgreSQL is down")).toEqual({ allowed: false, reason: "PostgreSQL is down", because: "health" });
  });
});
