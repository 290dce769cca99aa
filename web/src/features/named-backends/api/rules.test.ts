import { describe, expect, it } from "vitest";
import { canEdit, ownership, summarizeChange } from "./rules";
import type { Me, NamedBackendView } from "./types";

const backend: NamedBackendView = {
  id: "nb1",
  name: "svc",
  url_template: "http://{first_label}.svc:{port}",
  parameters: ["port"],
  preset: false,
  owner_user_id: "owner",
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};
const user = (over: Partial<Me> = {}): Me => ({ user_id: "u", username: "u", role: "user", via: "session", grants: [], ...over });

describe("named backend rules", () => {
  it("lets the owner, an edit grant and admins change it; presets only admins", () => {
    expect(canEdit(backend, user({ user_id: "owner" }))).toBe(true);
    expect(canEdit(backend, user({ grants: [{ named_backend_id: "nb1", level: "edit" }] }))).toBe(true);
    expect(canEdit(backend, user({ grants: [{ named_backend_id: "nb1", level: "read" }] }))).toBe(false);
    expect(canEdit(backend, user({ grants: [{ domain_id: "nb1", level: "edit" }] }))).toBe(false);
    expect(canEdit({ ...backend, preset: true, owner_user_id: null }, user({ user_id: "owner" }))).toBe(false);
    expect(canEdit({ ...backend, preset: true }, user({ role: "admin" }))).toBe(true);
    expect(canEdit(backend, null)).toBe(false);
  });

  it("names whose backend it is", () => {
    expect(ownership({ ...backend, preset: true }, user())).toBe("Preset");
    expect(ownership(backend, user({ user_id: "owner" }))).toBe("Yours");
    expect(ownership(backend, user({ grants: [{ named_backend_id: "nb1", level: "read" }] }))).toBe("Granted to you");
    expect(ownership(backend, user({ role: "admin" }))).toBe("Another user's");
  });

  it("summarizes a dry run: rename, template, zones re-rendered", () => {
    const s = summarizeChange({
      dry_run: true, records: [],
      before: backend,
      after: { ...backend, name: "svc2", url_template: "https://{first_label}.svc:{port}" },
      zones: [
        { id: "z1", hostname: "a.example.com", path_prefix: "", before: "http://a.svc:80", after: "https://a.svc:80" },
        { id: "z2", hostname: "b.example.com", path_prefix: "/x", before: "http://b.svc:80", after: "http://b.svc:80" },
      ],
    });
    expect(s).toEqual({ renamed: { from: "svc", to: "svc2" }, template: { from: "http://{first_label}.svc:{port}", to: "https://{first_label}.svc:{port}" }, changed: 1, unchanged: 1 });
  });
});
