import { useState } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError } from "@/lib/api/errors";
import { useCan } from "@/lib/can";
import { useRecheckHealth } from "@/lib/health";
import { rollbackRefusal } from "@/lib/revisions";
import { changesNothing, countConfigDiff, restoredSummary } from "../api/configDiff";
import { dryRunRestore, useRestore, useRevisionPage, type ConfigDiff } from "../api/revisions";
import { ConfigDiffView } from "./ConfigDiffView";
import { RevisionEntry } from "./RevisionEntry";

/**
 * Admins: the whole routing configuration's history, newest first, paged by the server's
 * cursor; each revision's records on demand, and "Restore configuration to this
 * revision" — the API's dry run listing every difference, applied only on confirm.
 */
export function HistoryPage() {
  // The cursors of the pages before this one, so "Newer" can go back.
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors[cursors.length - 1] ?? null;
  const page = useRevisionPage(after);
  const can = useCan({ kind: "admin" });
  const restore = useRestore();
  const recheckHealth = useRecheckHealth();

  const [checking, setChecking] = useState<number | null>(null);
  const [pending, setPending] = useState<{ to: number; diff: ConfigDiff } | null>(null);
  const [refusal, setRefusal] = useState<{ to: number; message: string; problems: string[] } | null>(null);
  const [restored, setRestored] = useState<{ to: number; diff: ConfigDiff } | null>(null);

  const refused = (to: number, e: unknown) => {
    setRefusal({ to, ...rollbackRefusal(e) });
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  const preview = (to: number) => {
    setChecking(to);
    setRefusal(null);
    setRestored(null);
    dryRunRestore(to)
      .then((diff) => {
        setPending({ to, diff });
      })
      .catch((e: unknown) => {
        refused(to, e);
      })
      .finally(() => {
        setChecking(null);
      });
  };

  const confirm = () => {
    if (!pending) return;
    const { to } = pending;
    restore.mutate(to, {
      onSuccess: (diff) => {
        setPending(null);
        setCursors([]);
        setRestored({ to, diff });
      },
      onError: (e) => {
        setPending(null);
        refused(to, e);
      },
    });
  };

  const nothing = pending !== null && changesNothing(countConfigDiff(pending.diff));

  return (
    <section>
      <PageHeader title="History">Every change to the routing configuration (zones, named backends, domains), newest first. Restoring a revision brings the whole configuration back to how it was right after it, as a new revision of its own; no domain is ever deleted.</PageHeader>
      <div className="space-y-4">
        <WritesBlocked can={can} />
        {restored && (
          <Banner tone="success" title={`Configuration restored to revision ${restored.to}`} live>
            {restoredSummary(restored.diff)}
          </Banner>
        )}
        {refusal && <FormProblems title={`Not restored to revision ${refusal.to}`} message={refusal.message} other={refusal.problems} />}
        {page.isPending ? (
          <Loading what="Loading the history" />
        ) : page.isError ? (
          <ErrorState error={page.error} title="Could not load the history" retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          <Empty title="No revisions yet">Every change to zones, named backends and domains will be listed here.</Empty>
        ) : (
          <>
            <ol aria-label="Revisions" className="space-y-2">
              {page.data.items.map((rev, i) => (
                <RevisionEntry
                  key={rev.number}
                  rev={rev}
                  current={after === null && i === 0}
                  restore={{
                    disabled: !can.allowed || checking !== null || restore.isPending,
                    busy: checking === rev.number,
                    onClick: () => {
                      preview(rev.number);
                    },
                  }}
                />
              ))}
            </ol>
            {(cursors.length > 0 || page.data.next) && (
              <nav aria-label="Pages of revisions" className="flex flex-wrap items-center gap-2">
                <Button
                  disabled={cursors.length === 0}
                  onClick={() => {
                    setCursors((c) => c.slice(0, -1));
                  }}
                >
                  Newer
                </Button>
                <Button
                  disabled={!page.data.next || page.isPlaceholderData}
                  onClick={() => {
                    const next = page.data.next;
                    if (next) setCursors((c) => [...c, next]);
                  }}
                >
                  Older
                </Button>
              </nav>
            )}
          </>
        )}
      </div>
      <Dialog
        open={pending !== null}
        wide
        title={pending ? `Restore configuration to revision ${pending.to}?` : ""}
        onClose={() => {
          if (!restore.isPending) setPending(null);
        }}
        footer={
          <>
            <Button
              disabled={restore.isPending}
              onClick={() => {
                setPending(null);
              }}
            >
              Cancel
            </Button>
            <Button variant="danger" busy={restore.isPending} disabled={!can.allowed || nothing} onClick={confirm}>
              Restore
            </Button>
          </>
        }
      >
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">The API checked this rollback without applying it: these are all the differences. Nothing changes until you confirm.</p>
        {pending && <ConfigDiffView diff={pending.diff} />}
      </Dialog>
    </section>
  );
}
