import { useMutation, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import { withReplace, type ExportDocument, type ImportDiff, type ParsedImport } from "./parse";

export type ImportRequest = Extract<ParsedImport, { ok: true }> & { replace: boolean };

/** The caller's slice; `withUsers` (admins) adds every user and grant (never a password). */
export function fetchExport(withUsers = false): Promise<ExportDocument> {
  return unwrap(api.GET("/api/v1/export", { params: { query: withUsers ? { include: "users" } : {} } }));
}

/** The API's dry run, or (dryRun false) the import itself. */
export function runImport(request: ImportRequest, dryRun: boolean): Promise<ImportDiff> {
  const params = { query: { dry_run: dryRun } };
  return request.kind === "document"
    ? unwrap(api.POST("/api/v1/import", { params, body: withReplace(request.document, request.replace) }))
    : unwrap(api.POST("/api/v1/import/flat", { params, body: request.flat }));
}

export function useApplyImport() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (request: ImportRequest) => runImport(request, false),
    onSuccess: (diff) => {
      void client.invalidateQueries({ queryKey: ["zones"] });
      void client.invalidateQueries({ queryKey: ["overview"] });
      // An import is one revision of the configuration's history.
      void client.invalidateQueries({ queryKey: ["revisions"] });
      if ((diff.named_backends_created?.length ?? 0) > 0) void client.invalidateQueries({ queryKey: ["named-backends"] });
      if ((diff.changes?.length ?? 0) > 0) {
        void client.invalidateQueries({ queryKey: ["domains"] });
        void client.invalidateQueries({ queryKey: ["users"] });
        void client.invalidateQueries({ queryKey: ["grants"] });
      }
    },
  });
}
