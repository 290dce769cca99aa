import { describe, expect, it } from "vitest";
import type { Health } from "@/lib/health";
import { fleetProgress } from "./fleet";

const T0 = Date.parse("2026-11-22T10:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms).toISOString();

function health(proxies: { id: string; version: number; appliedMs?: number; stale?: boolean }[], version = 10): Health {
  return {
    status: "ok",
    problems: [],
    notices: [],
    postgres: "up",
    redis: "up",
    cert_worker: "up",
    cert_worker_heartbeat_age_secs: 1,
    version,
    expiring_certificates: [],
    proxies: proxies.map((p) => ({
      id: p.id,
      version: p.version,
      applied_version: p.version,
      applied_at: at(p.appliedMs ?? -60_000),
      stale: p.stale ?? false,
      current: p.version === version,
      heartbeat_age_secs: p.stale ? 120 : 1,
      zones: 1,
      certs: 0,
      reads_format: 2,
      endpoints_down: 0,
    })),
  };
}

describe("live on the fleet", () => {
  it("measures each proxy from the commit to its applied_at, and the slowest", () => {
    let p = fleetProgress(health([{ id: "a", version: 10, appliedMs: 15 }, { id: "b", version: 9 }]), 10, {}, T0);
    expect(p.live).toEqual(["a"]);
    expect(p.done).toBe(false);
    expect(p.slowestMs).toBeNull();
    // b applies it 40 ms after the commit; a has moved on to 11 meanwhile (its first
    // sighting stays).
    p = fleetProgress(health([{ id: "a", version: 11, appliedMs: 900 }, { id: "b", version: 10, appliedMs: 40 }], 11), 10, p.seen, T0);
    expect(p.live).toEqual(["a", "b"]);
    expect(p.done).toBe(true);
    expect(p.slowestMs).toBe(40);
    expect(p.seen).toEqual({ a: 15, b: 40 });
  });

  it("never reports a negative time (clocks a little apart)", () => {
    const p = fleetProgress(health([{ id: "a", version: 10, appliedMs: -3 }]), 10, {}, T0);
    expect(p.slowestMs).toBe(0);
  });

  it("counts stale proxies apart and does not wait for them", () => {
    const p = fleetProgress(health([{ id: "a", version: 10, appliedMs: 5 }, { id: "old", version: 3, stale: true }]), 10, {}, T0);
    expect(p.done).toBe(true);
    expect(p.fresh).toEqual(["a"]);
    expect(p.stale.map((s) => s.id)).toEqual(["old"]);
  });

  it("is never done without a version or without proxies", () => {
    expect(fleetProgress(health([{ id: "a", version: 10 }]), null, {}, T0).done).toBe(false);
    expect(fleetProgress(health([]), 10, {}, T0).done).toBe(false);
  });
});
