import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";
import type { AuditQuery } from "./filters";

export type AuditView = components["schemas"]["AuditView"];

export const auditKeys = {
  list: (query: AuditQuery) => ["audit", "list", query] as const,
  actors: ["users", "audit-actors"] as const,
};

export function useAuditPage(query: AuditQuery, enabled: boolean) {
  return useQuery({
    queryKey: auditKeys.list(query),
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/audit", { params: { query }, signal })),
    placeholderData: keepPreviousData,
    enabled,
  });
}

/** Who can be filtered on (admins: every user; users read only their own records). */
export function useActors(enabled: boolean) {
  return useQuery({
    queryKey: auditKeys.actors,
    queryFn: ({ signal }) => unwrap(api.GET("/api/v1/users", { params: { query: { limit: 200 } }, signal })),
    enabled,
    staleTime: 60_000,
  });
}
