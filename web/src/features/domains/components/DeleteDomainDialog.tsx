import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { ErrorState, Loading } from "@/components/ui/States";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { plural } from "@/lib/format";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { confirmLabel, describeDeletion } from "../api/deletion";
import { useDeleteDomain, useDeletionPreview } from "../api/domains";
import type { DomainView } from "../api/types";

/** Most zones the dialog lists by name; the count says how many there are in all. */
const LISTED = 50;

/**
 * Deleting a domain: first the API's dry run (nothing changed) says what goes — its
 * zones, its certificate, the grants on it — and only then the delete, with `cascade`
 * when there are zones.
 */
export function DeleteDomainDialog({ domain, onClose, onDeleted }: { domain: DomainView; onClose: () => void; onDeleted: (name: string) => void }) {
  const preview = useDeletionPreview(domain.id, true);
  const remove = useDeleteDomain();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const summary = preview.data ? describeDeletion(preview.data) : null;

  const confirm = () => {
    if (!summary) return;
    remove.mutate(
      { id: domain.id, cascade: summary.zones.length > 0 },
      {
        onSuccess: () => {
          onDeleted(domain.name);
          onClose();
        },
        onError: (err) => {
          if (err instanceof ApiError && err.status === 503) recheckHealth();
          // Zones added since the preview: show the new list.
          if (err instanceof ApiError && err.status === 409) void preview.refetch();
        },
      },
    );
  };

  return (
    <Dialog
      open
      wide
      title={`Delete ${domain.name}?`}
      onClose={() => { if (!remove.isPending) onClose(); }}
      footer={
        <>
          <WritesBlocked />
          <Button onClick={onClose} disabled={remove.isPending}>
            Cancel
          </Button>
          <Button variant="danger" disabled={!allowed || !summary || preview.isFetching} busy={remove.isPending} onClick={confirm}>
            {summary ? confirmLabel(domain.name, summary) : "Delete"}
          </Button>
        </>
      }
    >
      {preview.isPending ? (
        <Loading what="Finding what the delete would take with it" />
      ) : preview.isError ? (
        <ErrorState error={preview.error} retry={() => void preview.refetch()} title="Could not find out what the delete would take" />
      ) : summary ? (
        <div className="space-y-4">
          {remove.isError && (
            <Banner tone="error" title="Not deleted">
              {errorMessage(remove.error)}
            </Banner>
          )}
          {summary.zones.length === 0 ? (
            <p>No zone uses {domain.name}.</p>
          ) : (
            <div>
              <p className="mb-2 font-medium">
                {plural(summary.zones.length, "zone")} will be deleted with it, and stop being served:
              </p>
              <ul aria-label="Zones that will be deleted" className="max-h-64 list-disc overflow-auto pl-5 font-mono text-sm">
                {summary.zones.slice(0, LISTED).map((z) => (
                  <li key={z} className="break-all">
                    {z}
                  </li>
                ))}
              </ul>
              {summary.zones.length > LISTED && <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">…and {summary.zones.length - LISTED} more.</p>}
            </div>
          )}
          {summary.certificate ? (
            <p>
              Its certificate ({summary.certificate.names.join(", ") || "no names"}) is removed
              {summary.certificate.redisKey ? <> from the proxies (<code className="break-all">{summary.certificate.redisKey}</code>)</> : null}
              {summary.certificate.pendingOrders > 0 ? `, with ${plural(summary.certificate.pendingOrders, "order")} still running` : ""}.
            </p>
          ) : (
            <p>It has no certificate.</p>
          )}
          {summary.grants > 0 && <p>{plural(summary.grants, "user")} lose their grant on it.</p>}
          <p className="text-sm text-slate-600 dark:text-slate-400">Nothing has been deleted yet; this cannot be undone once confirmed.</p>
        </div>
      ) : null}
    </Dialog>
  );
}
