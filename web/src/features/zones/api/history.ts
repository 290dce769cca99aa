// A zone's history (`GET /zones/{id}/revisions`, newest first, paged by the server's
// cursor) and its rollback (`POST /zones/{id}/rollback`), made twice like every zone
// write: `dry_run: true` first (the diff, nothing changed), then for real on confirm.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";
import type { Diff, ZoneView } from "./types";
import { zoneKeys } from "./zones";

/** One entry of a zone's history: the revision (who, when, what) and the zone before and after it. */
export type ZoneRevision = components["schemas"]["ZoneRevision"];

export const HISTORY_PAGE_SIZE = 20;

/** The global history's queries (the admins' History page): stale after any rollback. */
const REVISIONS_KEY = ["revisions"] as const;

export function useZoneHistory(id: string, after: string | null, enabled = true) {
  return useQuery({
    queryKey: zoneKeys.history(id, after),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/api/v1/zones/{id}/revisions", {
          params: { path: { id }, query: { limit: HISTORY_PAGE_SIZE, ...(after ? { after: Number(after) } : {}) } },
          signal,
        }),
      ),
    placeholderData: keepPreviousData,
    enabled,
  });
}

/** The API's dry run of rolling the zone back to `revision`: the diff, nothing changed. */
export function dryRunRollback(id: string, revision: number): Promise<Diff> {
  return unwrap(api.POST("/api/v1/zones/{id}/rollback", { params: { path: { id } }, body: { revision, dry_run: true } }));
}

/** The zone a rollback's answer leaves: re-created or changed; null when it deletes the zone (or changes nothing). */
export function zoneAfterRollback(diff: Diff): ZoneView | null {
  return diff.created[0] ?? diff.changed[0]?.after ?? null;
}

/**
 * Rolls the zone back for real. This zone's detail becomes the zone the answer holds
 * (or goes, when the rollback deletes it); its history, the zone lists, the overview's
 * count and the global history are stale.
 */
export function useRollbackZone(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (revision: number): Promise<Diff> => unwrap(api.POST("/api/v1/zones/{id}/rollback", { params: { path: { id } }, body: { revision } })),
    onSuccess: (diff) => {
      const zone = zoneAfterRollback(diff);
      if (zone) client.setQueryData(zoneKeys.detail(id), zone);
      else if (diff.deleted.length > 0) client.removeQueries({ queryKey: zoneKeys.detail(id) });
      void client.invalidateQueries({ queryKey: zoneKeys.historyOf(id) });
      void client.invalidateQueries({ queryKey: ["zones", "list"] });
      void client.invalidateQueries({ queryKey: ["overview", "zones"] });
      void client.invalidateQueries({ queryKey: REVISIONS_KEY });
    },
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A revision's before or after as a zone, when it is one (the API answers it as an object). */
export function recordedZone(value: unknown): ZoneView | null {
  if (!isRecord(value)) return null;
  if (typeof value.hostname !== "string" || !isRecord(value.backend)) return null;
  return value as unknown as ZoneView;
}

/**
 * A history entry as the diff the zone editor shows: created (nothing before), deleted
 * (nothing after) or changed, with no Redis records (a revision keeps the zone, not the
 * record the proxies read).
 */
export function revisionDiff(rev: Pick<ZoneRevision, "id" | "before" | "after">): Diff {
  const before = recordedZone(rev.before);
  const after = recordedZone(rev.after);
  const diff: Diff = { dry_run: false, created: [], changed: [], deleted: [], records: [] };
  if (before && after) diff.changed.push({ id: rev.id, before, after });
  else if (after) diff.created.push(after);
  else if (before) diff.deleted.push(before);
  return diff;
}

/**
 * A re-render (its named backend's template changed): the upstream URL before and after,
 * which the zone itself (the same backend name and parameters) does not show.
 */
export function renderedChange(rev: Pick<ZoneRevision, "before" | "after">): { before: string | null; after: string | null } | null {
  const read = (v: unknown) => (isRecord(v) && typeof v.rendered === "string" ? v.rendered : null);
  const before = read(rev.before);
  const after = read(rev.after);
  return before === null && after === null ? null : { before, after };
}

/** The domain a history's newest entry puts the zone in (for a deleted zone, the one it lay in). */
export function historyDomain(items: Pick<ZoneRevision, "before" | "after">[]): string | null {
  for (const rev of items) {
    for (const side of [rev.after, rev.before]) {
      if (isRecord(side) && typeof side.domain_id === "string") return side.domain_id;
    }
  }
  return null;
}
