// Which proxies have applied a write's version, and how long after the write's commit
// each applied it. Proxies publish their status (applied version, and when they applied
// it) right after they apply a new version, so `applied_at − committed_at` is the time
// the change took to go live there, not when this browser happened to look.
import type { Health, ProxyView } from "@/lib/health";

/** Proxy id → how long after the commit (ms) it applied the version. */
export type Seen = Record<string, number>;

export interface FleetProgress {
  seen: Seen;
  /** Fresh proxies (recent heartbeat) that have the version. */
  live: string[];
  /** Every fresh proxy. */
  fresh: string[];
  /** Proxies whose heartbeat is old: they get the change when they are back. */
  stale: ProxyView[];
  /** From the write's commit to the last fresh proxy applying it; null until all have it. */
  slowestMs: number | null;
  /** Every fresh proxy has the version. */
  done: boolean;
}

/**
 * Folds one health answer into what has been seen so far for a write committed at
 * `committedAt` (ms since epoch, the panel's clock) that produced `version`. A proxy's
 * lag is the first `applied_at` seen with the version or a later one, minus the commit
 * (never below 0: the clocks of two machines may differ by a little).
 */
export function fleetProgress(health: Health, version: number | null, seen: Seen, committedAt: number): FleetProgress {
  const next: Seen = { ...seen };
  const fresh = health.proxies.filter((p) => !p.stale);
  const stale = health.proxies.filter((p) => p.stale);
  if (version !== null) {
    for (const p of fresh) {
      if (p.applied_version >= version && next[p.id] === undefined) {
        const applied = Date.parse(p.applied_at);
        next[p.id] = Number.isFinite(applied) ? Math.max(0, applied - committedAt) : 0;
      }
    }
  }
  const live = fresh.filter((p) => next[p.id] !== undefined).map((p) => p.id);
  const done = version !== null && fresh.length > 0 && live.length === fresh.length;
  const slowestMs = done ? Math.max(0, ...live.map((id) => next[id] ?? 0)) : null;
  return { seen: next, live, fresh: fresh.map((p) => p.id), stale, slowestMs, done };
}
