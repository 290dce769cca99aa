// Zone queries and writes. Every write is made twice: first `?dry_run=true` (the diff,
// nothing changed), then — once the user confirms that diff — for real.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { Diff, ZoneRead, ZoneSpec, ZoneView, ZoneWritten } from "./types";

export const PAGE_SIZE = 50;

export const zoneKeys = {
  all: ["zones"] as const,
  list: (q: string, after: string | null) => ["zones", "list", { q, after }] as const,
  detail: (id: string) => ["zones", "detail", id] as const,
  /** Which certificate the zone's hostname gets (GET /zones/{id}/certificate). */
  certificate: (id: string) => ["zones", "certificate", id] as const,
  /** Every page of one zone's history. */
  historyOf: (id: string) => ["zones", "history", id] as const,
  history: (id: string, after: string | null) => ["zones", "history", id, { after }] as const,
};

/** One page of zones: server-side search, paged by the server's cursor. */
export function useZonePage(q: string, after: string | null) {
  return useQuery({
    queryKey: zoneKeys.list(q, after),
    queryFn: ({ signal }) =>
      unwrap(
        api.GET("/api/v1/zones", {
          params: { query: { limit: PAGE_SIZE, ...(q ? { q } : {}), ...(after ? { after } : {}) } },
          signal,
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

export function useZone(id: string | undefined) {
  return useQuery({
    queryKey: zoneKeys.detail(id ?? ""),
    queryFn: ({ signal }): Promise<ZoneRead> => unwrap(api.GET("/api/v1/zones/{id}", { params: { path: { id: id ?? "" } }, signal })),
    enabled: id !== undefined,
  });
}

export type ZoneWrite = { op: "create"; spec: ZoneSpec } | { op: "update"; id: string; spec: ZoneSpec } | { op: "delete"; id: string };

/** The API's answer to a dry run: the diff. */
export async function dryRun(write: ZoneWrite): Promise<Diff> {
  const query = { dry_run: true };
  switch (write.op) {
    case "create":
      return (await unwrap(api.POST("/api/v1/zones", { params: { query }, body: write.spec }))) as Diff;
    case "update":
      return (await unwrap(api.PUT("/api/v1/zones/{id}", { params: { path: { id: write.id }, query }, body: write.spec }))) as Diff;
    case "delete":
      return unwrap(api.DELETE("/api/v1/zones/{id}", { params: { path: { id: write.id }, query } }));
  }
}

export interface Applied {
  /** The zone as stored (absent after a delete). */
  zone: ZoneView | null;
  /**
   * When the change was committed to PostgreSQL (ms since epoch, the panel's clock), as
   * the write answered it.
   */
  committedAt: number;
  /** When the answer arrived (ms since epoch, this browser's clock). */
  answeredAt: number;
  /**
   * The global Redis version the write produced. null when Redis was down: the write is
   * queued and reaches Redis when it is back.
   */
  version: number | null;
}

const VERSION_HEADER = "x-switchyard-version";
const COMMITTED_AT_HEADER = "x-switchyard-committed-at";

/** The write's commit time as ms since epoch (this browser's clock if it is unreadable). */
function parseTime(text: string | null | undefined): number {
  const ms = text ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? ms : Date.now();
}

/** What a zone write's answer (a diff: a rollback's) says about where it went. */
export function appliedFromDiff(diff: Diff, zone: ZoneView | null): Applied {
  return { zone, version: diff.version ?? null, committedAt: parseTime(diff.committed_at), answeredAt: Date.now() };
}

/** A DELETE answers 204 without a body: the version and commit time are headers. */
export function receiptFromHeaders(headers: Headers): { version: number | null; committedAt: number } {
  const raw = headers.get(VERSION_HEADER);
  const version = raw === null ? NaN : Number(raw);
  return { version: Number.isSafeInteger(version) ? version : null, committedAt: parseTime(headers.get(COMMITTED_AT_HEADER)) };
}

/** The zone itself (a written zone is a zone with two fields more). */
function withoutReceipt(written: ZoneWritten): ZoneView {
  return written;
}

/** Applies a write for real and notes the version it produced. */
export function useApplyZoneWrite() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (write: ZoneWrite): Promise<Applied> => {
      switch (write.op) {
        case "create": {
          const written = (await unwrap(api.POST("/api/v1/zones", { body: write.spec }))) as ZoneWritten;
          return { zone: withoutReceipt(written), version: written.version ?? null, committedAt: parseTime(written.committed_at), answeredAt: Date.now() };
        }
        case "update": {
          const written = (await unwrap(api.PUT("/api/v1/zones/{id}", { params: { path: { id: write.id } }, body: write.spec }))) as ZoneWritten;
          return { zone: withoutReceipt(written), version: written.version ?? null, committedAt: parseTime(written.committed_at), answeredAt: Date.now() };
        }
        case "delete": {
          const call = api.DELETE("/api/v1/zones/{id}", { params: { path: { id: write.id } } });
          await unwrap(call);
          const { headers } = (await call).response;
          return { zone: null, ...receiptFromHeaders(headers), answeredAt: Date.now() };
        }
      }
    },
    onSuccess: (applied, write) => {
      // Lists and the counts on the overview change; this zone's detail is exact.
      void client.invalidateQueries({ queryKey: ["zones", "list"] });
      void client.invalidateQueries({ queryKey: ["overview"] });
      if (write.op === "delete") client.removeQueries({ queryKey: zoneKeys.detail(write.id) });
      else if (applied.zone) client.setQueryData(zoneKeys.detail(applied.zone.id), applied.zone);
      // Every write records a revision: this zone's history and the global one have it.
      if (write.op !== "create") void client.invalidateQueries({ queryKey: zoneKeys.historyOf(write.id) });
      void client.invalidateQueries({ queryKey: ["revisions"] });
    },
  });
}
