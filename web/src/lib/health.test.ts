import { describe, expect, it } from "vitest";
import { downSince, writesBlockedReason, type Health } from "./health";
import { isDark, nextThemeSetting } from "./theme";
import { formatAge } from "./format";

const ok: Health = {
  status: "ok",
  problems: [],
  notices: [],
  postgres: "up",
  redis: "up",
  postgres_down_since: null,
  redis_down_since: null,
  cert_worker: "up",
  cert_worker_heartbeat_age_secs: 1,
  version: 3,
  proxies: [],
  expiring_certificates: [],
};

describe("useWritesAllowed's rule", () => {
  it("allows writes while PostgreSQL is up, whatever else is down", () => {
    expect(writesBlockedReason(ok, false)).toBeNull();
    // Redis down: writes still go to PostgreSQL and are queued for Redis.
    expect(writesBlockedReason({ ...ok, status: "degraded", redis: "down", version: null }, false)).toBeNull();
  });

  it("turns writes off with the reason while PostgreSQL is down or the API is gone", () => {
    expect(writesBlockedReason({ ...ok, status: "degraded", postgres: "down" }, false)).toMatch(/PostgreSQL is down/);
    expect(writesBlockedReason(undefined, true)).toMatch(/does not answer/);
  });

  it("does not block before the first health answer", () => {
    expect(writesBlockedReason(undefined, false)).toBeNull();
  });
});

describe("theme setting", () => {
  it("follows the system unless a choice is remembered", () => {
    expect(isDark("system", true)).toBe(true);
    expect(isDark("system", false)).toBe(false);
    expect(isDark("light", true)).toBe(false);
    expect(isDark("dark", false)).toBe(true);
  });

  it("cycles system → light → dark → system", () => {
    expect([nextThemeSetting("system"), nextThemeSetting("light"), nextThemeSetting("dark")]).toEqual(["light", "dark", "system"]);
  });
});

describe("ages", () => {
  it("reads like a person would say it", () => {
    expect(formatAge(4.2)).toBe("4 s");
    expect(formatAge(190)).toBe("3 min");
    expect(formatAge(2 * 3600 + 300)).toBe("2 h 5 min");
    expect(formatAge(5 * 86400)).toBe("5 d");
    expect(formatAge(-1)).toBe("—");
  });
});

describe("since when a service is down", () => {
  it("is the API's own first sighting, read from health", () => {
    expect(downSince("2026-11-22T10:00:05.5Z")).toBe(Date.parse("2026-11-22T10:00:05.5Z"));
    expect(downSince(null)).toBeNull();
    expect(downSince(undefined)).toBeNull();
    expect(downSince("garbage")).toBeNull();
  });
});
