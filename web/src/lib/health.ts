// The API's health document, polled: the degraded banner, useWritesAllowed(), the
// overview and "live on the fleet" all read this one query.
import { useEffect, useSyncExternalStore } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "./api/client";
import type { components } from "./api/schema.gen";

export type Health = components["schemas"]["Health"];
export type ProxyView = components["schemas"]["ProxyView"];

export const HEALTH_KEY = ["health"] as const;
/** How often every page re-checks health: the banner appears and clears by itself. */
export const HEALTH_POLL_MS = 5_000;

export function fetchHealth(signal?: AbortSignal): Promise<Health> {
  return unwrap(api.GET("/api/v1/health", { signal }));
}

/** The health document; `pollMs` polls faster for a while (e.g. watching a rollout). */
export function useHealth(pollMs: number = HEALTH_POLL_MS) {
  return useQuery({
    queryKey: HEALTH_KEY,
    queryFn: ({ signal }) => fetchHealth(signal),
    refetchInterval: pollMs,
    refetchIntervalInBackground: false,
    retry: false,
  });
}

// The API says *that* PostgreSQL is down, not since when; the panel remembers when this
// browser first saw it (kept across reloads), and says so.
const DOWN_SINCE_KEY = "switchyard.postgresDownSince";
const downListeners = new Set<() => void>();

function readDownSince(): number | null {
  try {
    const v = window.localStorage.getItem(DOWN_SINCE_KEY);
    const n = v === null ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

function writeDownSince(value: number | null): void {
  try {
    if (value === null) window.localStorage.removeItem(DOWN_SINCE_KEY);
    else window.localStorage.setItem(DOWN_SINCE_KEY, String(value));
  } catch {
    /* not remembered across reloads */
  }
  downListeners.forEach((l) => {
    l();
  });
}

/**
 * Whether PostgreSQL is down and since when this browser noticed. Updates the
 * remembered moment as health answers arrive.
 */
export function usePostgresDown(): { down: boolean; since: number | null } {
  const { data } = useHealth();
  const down = data?.postgres === "down";
  const since = useSyncExternalStore(
    (onChange) => {
      downListeners.add(onChange);
      return () => downListeners.delete(onChange);
    },
    readDownSince,
    () => null,
  );
  useEffect(() => {
    if (data === undefined) return;
    if (down && readDownSince() === null) writeDownSince(Date.now());
    if (!down && readDownSince() !== null) writeDownSince(null);
  }, [data, down]);
  return { down, since: down ? since : null };
}

export interface WritesAllowed {
  allowed: boolean;
  /** Why writes are off, for a person; null when they are allowed. */
  reason: string | null;
}

/** The reason writes are off for a given health state (null: they are allowed). */
export function writesBlockedReason(health: Health | undefined, apiUnreachable: boolean): string | null {
  if (apiUnreachable) return "The panel API does not answer: changes cannot be saved until it is back.";
  if (health?.postgres === "down")
    return "PostgreSQL is down: the panel is read-only (reads come from Redis) until it is back.";
  return null;
}

/** The one switch every form and write button obeys. */
export function useWritesAllowed(): WritesAllowed {
  const { data, isError } = useHealth();
  const reason = writesBlockedReason(data, isError && data === undefined);
  return { allowed: reason === null, reason };
}

/** After a write answered 503, check health at once instead of at the next poll. */
export function useRecheckHealth(): () => void {
  const client = useQueryClient();
  return () => void client.invalidateQueries({ queryKey: HEALTH_KEY });
}
