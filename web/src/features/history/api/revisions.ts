// The configuration's history (admins): `GET /revisions` (newest first, paged by the
// server's cursor), one revision's records (`GET /revisions/{number}`, paged by offset),
// and restoring the whole configuration (`POST /rollback`) made twice — `dry_run: true`
// first (every difference, nothing changed), then for real on confirm.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";

export type RevisionSummary = components["schemas"]["RevisionSummary"];
export type RevisionView = components["schemas"]["RevisionView"];
export type RevisionRecord = components["schemas"]["RevisionRecord"];
export type ConfigDiff = components["schemas"]["ConfigDiff"];

export const PAGE_SIZE = 25;
export const RECORDS_PAGE_SIZE = 50;

export const revisionKeys = {
  all: ["revisions"] as const,
  list: (after: string | null) => ["revisions", "list", { after }] as const,
  detail: (number: number, offset: number) => ["revisions", "detail", number, { offset }] as const,
};

export function useRevisionPage(after: string | null) {
  return useQuery({
    queryKey: revisionKeys.list(after),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/revisions", { params: { query: { limit: PAGE_SIZE, ...(after ? { after: Number(after) } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

/** One revision with a page of its records, before and after. */
export function useRevision(number: number, offset: number) {
  return useQuery({
    queryKey: revisionKeys.detail(number, offset),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/revisions/{number}", { params: { path: { number }, query: { limit: RECORDS_PAGE_SIZE, offset } }, signal })),
    placeholderData: keepPreviousData,
    // A revision never changes once recorded.
    staleTime: Infinity,
  });
}

/** The API's dry run of restoring the configuration to `revision`: every difference, nothing changed. */
export function dryRunRestore(revision: number): Promise<ConfigDiff> {
  return unwrap(api.POST("/api/v1/rollback", { body: { revision, dry_run: true } }));
}

/**
 * Restores the configuration for real. Anything routing may have changed: every zone
 * query (lists, details, histories), the named backends, the domains (a deleted one is
 * re-created), the overview's counts, and this history.
 */
export function useRestore() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (revision: number): Promise<ConfigDiff> => unwrap(api.POST("/api/v1/rollback", { body: { revision } })),
    onSuccess: (diff) => {
      void client.invalidateQueries({ queryKey: revisionKeys.all });
      void client.invalidateQueries({ queryKey: ["zones"] });
      void client.invalidateQueries({ queryKey: ["overview"] });
      const b = diff.named_backends;
      if (b.created.length + b.changed.length + b.deleted.length > 0) void client.invalidateQueries({ queryKey: ["named-backends"] });
      if (diff.domains.created.length > 0) void client.invalidateQueries({ queryKey: ["domains"] });
    },
  });
}
