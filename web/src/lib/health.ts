// The API's health document, polled: the degraded banner, useWritesAllowed(), the
// overview and "live on the fleet" all read this one query.
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

/** Since when (ms since epoch) health says a service has been down; null while it is up. */
export function downSince(text: string | null | undefined): number | null {
  const ms = text ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Whether PostgreSQL is down and since when: the panel API's own first sighting of the
 * failure (`postgres_down_since`), the same for every browser.
 */
export function usePostgresDown(): { down: boolean; since: number | null } {
  const { data } = useHealth();
  const down = data?.postgres === "down";
  return { down, since: down ? downSince(data.postgres_down_since) : null };
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
