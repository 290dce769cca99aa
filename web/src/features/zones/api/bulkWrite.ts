// `POST /zones/bulk`: first `?dry_run=true` (the diff, nothing changed), then — once the
// user confirms that diff — for real, all or nothing (one transaction).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { BulkRequest } from "./bulk";
import type { Diff } from "./types";
import { zoneKeys } from "./zones";

export function bulkDryRun(request: BulkRequest): Promise<Diff> {
  return unwrap(api.POST("/api/v1/zones/bulk", { params: { query: { dry_run: true } }, body: request }));
}

/** Applies a bulk request; every zone query (lists, details, histories, the overview's count) and the global history are stale after it. */
export function useApplyBulk() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: BulkRequest): Promise<Diff> => unwrap(api.POST("/api/v1/zones/bulk", { body: request })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: zoneKeys.all });
      void client.invalidateQueries({ queryKey: ["overview", "zones"] });
      void client.invalidateQueries({ queryKey: ["revisions"] });
    },
  });
}
