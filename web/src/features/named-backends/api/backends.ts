// Named backends: list, one, the zones that use it, create, and template changes made
// twice — `?dry_run=true` first (every zone it re-renders), then for real on confirm.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { BackendDiff, NamedBackendUpdate, NamedBackendView, NewNamedBackend } from "./types";

export const PAGE_SIZE = 50;
export const ZONES_PAGE_SIZE = 25;

/** The configuration's history (the History page): every named-backend write is a revision of it. */
const REVISIONS_KEY = ["revisions"] as const;

export const backendKeys = {
  all: ["named-backends"] as const,
  list: (q: string, offset: number) => ["named-backends", "list", { q, offset }] as const,
  // The zones feature caches templates under the same key: an edit here refreshes it there.
  detail: (id: string) => ["named-backends", "detail", id] as const,
  zones: (id: string, after: string | null) => ["zones", "list", { named_backend_id: id, after }] as const,
};

export function useBackendPage(q: string, offset: number) {
  return useQuery({
    queryKey: backendKeys.list(q, offset),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/named-backends", { params: { query: { limit: PAGE_SIZE, offset, ...(q ? { q } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

export function useBackend(id: string) {
  return useQuery({
    queryKey: backendKeys.detail(id),
    queryFn: ({ signal }): Promise<NamedBackendView> => unwrap(api.GET("/api/v1/named-backends/{id}", { params: { path: { id } }, signal })),
  });
}

/** The zones that use this backend, by the server's cursor. */
export function useBackendZones(id: string, after: string | null) {
  return useQuery({
    queryKey: backendKeys.zones(id, after),
    queryFn: ({ signal }) =>
      unwrap(api.GET("/api/v1/zones", { params: { query: { named_backend_id: id, limit: ZONES_PAGE_SIZE, ...(after ? { after } : {}) } }, signal })),
    placeholderData: keepPreviousData,
  });
}

export function useCreateBackend() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: NewNamedBackend): Promise<NamedBackendView> => (await unwrap(api.POST("/api/v1/named-backends", { body }))) as NamedBackendView,
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["named-backends", "list"] });
      void client.invalidateQueries({ queryKey: REVISIONS_KEY });
    },
  });
}

export function dryRunUpdate(id: string, body: NamedBackendUpdate): Promise<BackendDiff> {
  return unwrap(api.PUT("/api/v1/named-backends/{id}", { params: { path: { id }, query: { dry_run: true } }, body }));
}

export function dryRunDelete(id: string): Promise<BackendDiff> {
  return unwrap(api.DELETE("/api/v1/named-backends/{id}", { params: { path: { id }, query: { dry_run: true } } }));
}

export function useUpdateBackend(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: NamedBackendUpdate): Promise<BackendDiff> => unwrap(api.PUT("/api/v1/named-backends/{id}", { params: { path: { id } }, body })),
    onSuccess: (diff) => {
      if (diff.after) client.setQueryData(backendKeys.detail(id), diff.after);
      void client.invalidateQueries({ queryKey: ["named-backends", "list"] });
      // A rename shows in the zones' backend names.
      if (diff.before?.name !== diff.after?.name) void client.invalidateQueries({ queryKey: ["zones"] });
      // The change is a revision; the zones it re-rendered have it in their history.
      else if (diff.zones.length > 0) void client.invalidateQueries({ queryKey: ["zones", "history"] });
      void client.invalidateQueries({ queryKey: REVISIONS_KEY });
    },
  });
}

export function useDeleteBackend(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/named-backends/{id}", { params: { path: { id } } })),
    onSuccess: () => {
      client.removeQueries({ queryKey: backendKeys.detail(id) });
      void client.invalidateQueries({ queryKey: ["named-backends", "list"] });
      void client.invalidateQueries({ queryKey: REVISIONS_KEY });
    },
  });
}
