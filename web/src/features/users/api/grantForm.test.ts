import { describe, expect, it } from "vitest";
import { grantBody, grantErrors, grantResource } from "./grantForm";

describe("grant form ↔ API", () => {
  it("sends the chosen resource under its own field, never both", () => {
    expect(grantBody("u1", { kind: "domain", resourceId: "d1", level: "edit" })).toEqual({ ok: true, body: { user_id: "u1", domain_id: "d1", level: "edit" } });
    expect(grantBody("u1", { kind: "named_backend", resourceId: "nb1", level: "read" })).toEqual({ ok: true, body: { user_id: "u1", named_backend_id: "nb1", level: "read" } });
  });

  it("asks for a resource before sending anything", () => {
    expect(grantBody("u1", { kind: "named_backend", resourceId: " ", level: "read" })).toEqual({ ok: false, problems: [{ field: "resource", problem: "choose a named backend" }] });
  });

  it("puts the API's problems on the resource and level fields", () => {
    expect(grantErrors([{ field: "domain_id", problem: "no such domain" }, { field: "level", problem: "use read or edit" }, { field: "x", problem: "odd" }])).toEqual({
      fields: { resource: ["no such domain"], level: ["use read or edit"] },
      other: ["x: odd"],
    });
  });

  it("reads what a grant is on", () => {
    const g = { id: "g", user_id: "u", level: "read", created_at: "2026-01-01T00:00:00Z" };
    expect(grantResource({ ...g, domain_id: "d1" })).toEqual({ kind: "domain", id: "d1" });
    expect(grantResource({ ...g, named_backend_id: "nb1", domain_id: null })).toEqual({ kind: "named_backend", id: "nb1" });
    expect(grantResource(g)).toBeNull();
  });
});
