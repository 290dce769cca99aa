// Which proxies have applied a write's version, and how long after the write this
// browser first saw each of them with it.
import type { Health, ProxyView } from "@/lib/health";

/** Proxy id → when (ms since epoch) health first showed it at or past the version. */
export type Seen = Record<string, number>;

export interface FleetProgress {
  seen: Seen;
  /** Fresh proxies (recent heartbeat) that have the version. */
  live: string[];
  /** Every fresh proxy. */
  fresh: string[];
  /** Proxies whose heartbeat is old: they get the change when they are back. */
  stale: ProxyView[];
  /** From the write's answer to the last fresh proxy seen with it; null until all have it. */
  slowestMs: number | null;
  /** Every fresh proxy has the version. */
  done: boolean;
}

/**
 * Folds one health answer (received at `now`) into what has been seen so far for a
 * write that answered at `appliedAt` and produced `version`.
 */
export function fleetProgress(health: Health, version: number | null, seen: Seen, now: number, appliedAt: number): FleetProgress {
  const next: Seen = { ...seen };
  const fresh = health.proxies.filter((p) => !p.stale);
  const stale = health.proxies.filter((p) => p.stale);
  if (version !== null) {
    for (const p of fresh) if (p.version >= version && next[p.id] === undefined) next[p.id] = now;
  }
  const live = fresh.filter((p) => next[p.id] !== undefined).map((p) => p.id);
  const done = version !== null && fresh.length > 0 && live.length === fresh.length;
  const slowestMs = done ? Math.max(0, ...live.map((id) => (next[id] ?? now) - appliedAt)) : null;
  return { seen: next, live, fresh: fresh.map((p) => p.id), stale, slowestMs, done };
}
