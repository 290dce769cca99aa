import { describe, expect, it } from "vitest";
import type { Health } from "@/lib/health";
import { fleetProgress } from "./fleet";

function health(proxies: { id: string; version: number; stale?: boolean }[], version = 10): Health {
  return {
    status: "ok",
    problems: [],
    postgres: "up",
    redis: "up",
    cert_worker: "up",
    cert_worker_heartbeat_age_secs: 1,
    version,
    expiring_certificates: [],
    proxies: proxies.map((p) => ({ id: p.id, version: p.version, stale: p.stale ?? false, current: p.version === version, heartbeat_age_secs: p.stale ? 120 : 1, zones: 1, certs: 0 })),
  };
}

describe("live on the fleet", () => {
  it("notes when each proxy is first seen with the version, and the slowest", () => {
    const t0 = 1_000;
    let p = fleetProgress(health([{ id: "a", version: 10 }, { id: "b", version: 9 }]), 10, {}, t0 + 15, t0);
    expect(p.live).toEqual(["a"]);
    expect(p.done).toBe(false);
    expect(p.slowestMs).toBeNull();
    p = fleetProgress(health([{ id: "a", version: 11 }, { id: "b", version: 10 }], 11), 10, p.seen, t0 + 40, t0);
    expect(p.live).toEqual(["a", "b"]);
    expect(p.done).toBe(true);
    expect(p.slowestMs).toBe(40);
    expect(p.seen).toEqual({ a: t0 + 15, b: t0 + 40 });
  });

  it("counts stale proxies apart and does not wait for them", () => {
    const p = fleetProgress(health([{ id: "a", version: 10 }, { id: "old", version: 3, stale: true }]), 10, {}, 50, 0);
    expect(p.done).toBe(true);
    expect(p.fresh).toEqual(["a"]);
    expect(p.stale.map((s) => s.id)).toEqual(["old"]);
  });

  it("is never done without a version or without proxies", () => {
    expect(fleetProgress(health([{ id: "a", version: 10 }]), null, {}, 1, 0).done).toBe(false);
    expect(fleetProgress(health([]), 10, {}, 1, 0).done).toBe(false);
  });
});
