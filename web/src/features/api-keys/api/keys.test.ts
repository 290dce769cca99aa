import { describe, expect, it } from "vitest";
import { expiryFromDate, keyState, type ApiKeyView } from "./keys";

describe("API keys", () => {
  it("turns a date into the end of that local day, or none", () => {
    const r = expiryFromDate("2027-01-31");
    if (!r.ok || r.value === null) throw new Error("expected a date");
    const d = new Date(r.value);
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes()]).toEqual([2027, 0, 31, 23, 59]);
    expect(expiryFromDate(" ")).toEqual({ ok: true, value: null });
    expect(expiryFromDate("31/01/2027")).toEqual({ ok: false });
  });

  it("says whether a key is active, revoked or expired", () => {
    const key: ApiKeyView = { id: "k", name: "laptop", prefix: "sy_ab12", created_at: "2026-01-01T00:00:00Z" };
    const now = Date.parse("2026-06-01T00:00:00Z");
    expect(keyState(key, now)).toBe("active");
    expect(keyState({ ...key, expires_at: "2026-05-01T00:00:00Z" }, now)).toBe("expired");
    expect(keyState({ ...key, expires_at: "2026-05-01T00:00:00Z", revoked_at: "2026-04-01T00:00:00Z" }, now)).toBe("revoked");
  });
});
