import { useState } from "react";
import { Banner } from "@/components/ui/Banner";
import { formatAge } from "@/lib/format";
import { HEALTH_POLL_MS, useHealth } from "@/lib/health";
import type { Applied } from "../api/zones";
import { fleetProgress, type FleetProgress } from "../api/fleet";

/** How fast to poll health while watching a change reach the proxies, and for how long. */
const WATCH_POLL_MS = 250;
const WATCH_FOR_MS = 60_000;

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * After a save: the version it produced and, as health reports each proxy's applied
 * version and when it applied it, how long every proxy took ("live on 2/2 proxies in
 * 40 ms"), or which is stale.
 */
export function LiveOnFleet({ applied }: { applied: Applied }) {
  const [progress, setProgress] = useState<FleetProgress | null>(null);
  const [lastUpdate, setLastUpdate] = useState(0);
  const [watching, setWatching] = useState(true);
  const { data, dataUpdatedAt } = useHealth(watching ? WATCH_POLL_MS : HEALTH_POLL_MS);

  // Each new health answer folds into the progress (React's "adjust state while
  // rendering" pattern: no effect, no extra render pass).
  if (data && dataUpdatedAt !== lastUpdate && dataUpdatedAt >= applied.answeredAt) {
    const next = fleetProgress(data, applied.version, progress?.seen ?? {}, applied.committedAt);
    setLastUpdate(dataUpdatedAt);
    setProgress(next);
    if (next.done || dataUpdatedAt - applied.answeredAt > WATCH_FOR_MS) setWatching(false);
  }

  const title = applied.version === null ? "Saved; not yet in Redis" : `Saved: version ${applied.version}`;
  if (applied.version === null) {
    return (
      <Banner tone="warning" title={title} live>
        Redis did not answer, so the change is queued in PostgreSQL and reaches the proxies once Redis is back.
      </Banner>
    );
  }
  if (!progress) {
    return (
      <Banner tone="info" title={title} live>
        Checking the proxies…
      </Banner>
    );
  }
  const { live, fresh, stale, slowestMs, done } = progress;
  const total = fresh.length;
  if (total === 0 && stale.length === 0) {
    return (
      <Banner tone="info" title={title} live>
        No proxy reports to this Redis yet, so nothing serves it so far.
      </Banner>
    );
  }
  const behind = fresh.filter((id) => !live.includes(id));
  return (
    <Banner tone={done && stale.length === 0 ? "success" : stale.length > 0 || !watching ? "warning" : "info"} title={title} live>
      {total > 0 && (
        <p>
          {done
            ? `Live on ${live.length}/${total} ${total === 1 ? "proxy" : "proxies"} in ${formatMs(slowestMs ?? 0)}.`
            : watching
              ? `Live on ${live.length}/${total} proxies so far…`
              : `Live on ${live.length}/${total} proxies; not yet on ${behind.join(", ")} after ${WATCH_FOR_MS / 1000} s.`}
        </p>
      )}
      {total > 0 && done && (
        <p className="mt-1 text-xs opacity-80">From the commit to the slowest proxy applying it (each proxy reports when it applied the version).</p>
      )}
      {stale.length > 0 && (
        <ul className="mt-1 list-disc pl-5">
          {stale.map((p) => (
            <li key={p.id}>
              Proxy “{p.id}” is stale (last heartbeat {formatAge(p.heartbeat_age_secs)} ago, at version {p.applied_version}): it gets this change when it is back.
            </li>
          ))}
        </ul>
      )}
    </Banner>
  );
}
