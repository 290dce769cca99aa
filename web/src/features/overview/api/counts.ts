// How many domains and zones the caller can read: one-item pages whose `total` the API
// counts (exactly up to 10,000).
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";

export interface Count {
  total: number;
  exact: boolean;
  /** Counted from Redis while PostgreSQL is down. */
  degraded: boolean;
}

function count(page: { total: number; total_exact: boolean; degraded?: boolean }): Count {
  return { total: page.total, exact: page.total_exact, degraded: page.degraded === true };
}

export function useZoneCount() {
  return useQuery({
    queryKey: ["overview", "zones"],
    queryFn: async ({ signal }) => count(await unwrap(api.GET("/api/v1/zones", { params: { query: { limit: 1 } }, signal }))),
  });
}

export function useDomainCount() {
  return useQuery({
    queryKey: ["overview", "domains"],
    queryFn: async ({ signal }) => count(await unwrap(api.GET("/api/v1/domains", { params: { query: { limit: 1 } }, signal }))),
  });
}
