import { useId, useState } from "react";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Empty, ErrorState, Loading } from "@/components/ui/States";
import { FormProblems } from "@/components/FormProblems";
import { ApiError } from "@/lib/api/errors";
import { useCan } from "@/lib/can";
import { useRecheckHealth } from "@/lib/health";
import { actionLabel, opLabel, revisionName, revisionTime, rollbackRefusal } from "@/lib/revisions";
import { dryRunRollback, historyDomain, renderedChange, revisionDiff, useRollbackZone, useZoneHistory, type ZoneRevision } from "../api/history";
import type { Diff } from "../api/types";
import { ZoneDiff } from "./ZoneDiff";

/** A change the diff's fields do not show: the API answers no basic-auth hashes and no JWT secret. */
const HIDDEN_CHANGE = "No field shown here changes (a basic-auth password or the JWT secret may: they are never shown).";

/** A rollback the API applied: the revision restored, and its answer. */
export interface RolledBack {
  to: number;
  diff: Diff;
}

function Rendered({ rev }: { rev: ZoneRevision }) {
  const change = renderedChange(rev);
  if (!change || change.before === change.after) return null;
  return (
    <p className="mt-2 text-sm break-all">
      Upstream URL (from its named backend): {change.before === null ? "—" : <del className="text-red-800 decoration-red-400 dark:text-red-300">{change.before}</del>} →{" "}
      {change.after === null ? "—" : <ins className="text-emerald-800 no-underline dark:text-emerald-300">{change.after}</ins>}
    </p>
  );
}

function Revision({ rev, current, rollback }: { rev: ZoneRevision; current: boolean; rollback: { disabled: boolean; busy: boolean; describedBy?: string; onClick: () => void } }) {
  const name = useId();
  return (
    <li aria-labelledby={name} className="rounded-md border border-slate-200 p-3 dark:border-slate-700">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0 space-y-0.5">
          <h3 className="font-semibold">
            <span id={name} className="sr-only">
              {revisionName(rev)}
            </span>
            <span aria-hidden="true">
              Revision {rev.number} · {actionLabel(rev)}
            </span>
            {current && <span className="ml-2 rounded bg-teal-100 px-2 py-0.5 text-xs font-semibold text-teal-900 dark:bg-teal-900 dark:text-teal-100">current</span>}
          </h3>
          <p className="text-sm text-slate-700 dark:text-slate-300">
            by <span className="break-all">{rev.actor}</span> · <time dateTime={rev.at}>{revisionTime(rev.at)}</time> · the zone was {opLabel(rev.op)}
          </p>
        </div>
        {!current && (
          <Button aria-describedby={rollback.describedBy} disabled={rollback.disabled} busy={rollback.busy} onClick={rollback.onClick}>
            Roll back to this <span className="sr-only">(revision {rev.number})</span>
          </Button>
        )}
      </div>
      <div className="mt-2">
        <ZoneDiff diff={revisionDiff(rev)} label={`Changes in revision ${rev.number}`} empty={HIDDEN_CHANGE} extra={rev.op === "rerender" ? <Rendered rev={rev} /> : undefined} />
      </div>
    </li>
  );
}

/**
 * A zone's History: every revision that created, changed, re-rendered or deleted it,
 * newest first, paged by the server's cursor; each older one can be rolled back to —
 * the API's dry run shown first, applied only on confirm. `domainId`: the zone's domain
 * now (null for a deleted zone: the one it lay in, from its history). A deleted zone
 * whose history the caller may not read (or that never existed) shows nothing.
 */
export function ZoneHistory({ zoneId, title, domainId, deleted = false, onRolledBack }: { zoneId: string; title: string; domainId: string | null; deleted?: boolean; onRolledBack: (done: RolledBack) => void }) {
  // The cursors of the pages before this one, so "Previous" can go back.
  const [cursors, setCursors] = useState<string[]>([]);
  const after = cursors[cursors.length - 1] ?? null;
  const history = useZoneHistory(zoneId, after);
  const items = history.data?.items ?? [];
  const can = useCan({ kind: "zone", domainId: domainId ?? historyDomain(items) });
  const rollback = useRollbackZone(zoneId);
  const recheckHealth = useRecheckHealth();
  const reasonId = useId();

  const [checking, setChecking] = useState<number | null>(null);
  const [pending, setPending] = useState<{ to: number; diff: Diff } | null>(null);
  const [refusal, setRefusal] = useState<{ to: number; message: string; problems: string[] } | null>(null);

  const refused = (to: number, e: unknown) => {
    setRefusal({ to, ...rollbackRefusal(e) });
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  /** Step 1: the API's dry run; its diff opens for confirmation. */
  const preview = (to: number) => {
    setChecking(to);
    setRefusal(null);
    dryRunRollback(zoneId, to)
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

  /** Step 2: confirmed — the rollback for real. */
  const confirm = () => {
    if (!pending) return;
    const { to } = pending;
    rollback.mutate(to, {
      onSuccess: (diff) => {
        setPending(null);
        setCursors([]);
        onRolledBack({ to, diff });
      },
      onError: (e) => {
        setPending(null);
        refused(to, e);
      },
    });
  };

  // A deleted zone the caller cannot read (or an id that never was one): nothing to add
  // to the page's "not found".
  if (deleted && history.isError && history.error instanceof ApiError && history.error.status === 404) return null;

  const deleting = pending !== null && pending.diff.deleted.length > 0 && pending.diff.created.length + pending.diff.changed.length === 0;
  // The API's own word: a zone already in that state answers an empty diff. A diff whose
  // shown fields are all equal may still restore a basic-auth password (no hash is shown).
  const nothing = pending !== null && pending.diff.created.length + pending.diff.changed.length + pending.diff.deleted.length === 0;

  return (
    <section aria-labelledby="zone-history-title" className="space-y-3 border-t border-slate-200 pt-6 dark:border-slate-800">
      <div>
        <h2 id="zone-history-title" className="text-xl font-semibold">
          History
        </h2>
        <p className="mt-1 text-sm text-slate-600 dark:text-slate-400">
          {deleted
            ? "This zone was deleted; its history is kept. Rolling back to a revision re-creates the zone as it was right after it."
            : "Every change to this zone, newest first. Rolling back restores the zone as it was right after that revision, as a new revision of its own."}
        </p>
      </div>
      {history.isSuccess && (items.length > 1 || after !== null) && !can.allowed && can.reason && (
        <p id={reasonId} role="note" className={can.because === "rights" ? "text-sm text-slate-700 dark:text-slate-300" : "text-sm text-amber-800 dark:text-amber-300"}>
          {can.reason}
        </p>
      )}
      {refusal && <FormProblems title={`Not rolled back to revision ${refusal.to}`} message={refusal.message} other={refusal.problems} />}
      {history.isPending ? (
        <Loading what="Loading the zone’s history" />
      ) : history.isError ? (
        <ErrorState error={history.error} title="Could not load the zone’s history" retry={() => void history.refetch()} />
      ) : items.length === 0 ? (
        <Empty title="No history recorded for this zone">Changes made from now on are listed here.</Empty>
      ) : (
        <>
          <ol aria-label={`Revisions of ${title}`} className="space-y-3">
            {items.map((rev, i) => (
              <Revision
                key={`${rev.number}-${rev.op}`}
                rev={rev}
                current={after === null && i === 0}
                rollback={{
                  disabled: !can.allowed || checking !== null || rollback.isPending,
                  busy: checking === rev.number,
                  describedBy: can.allowed ? undefined : reasonId,
                  onClick: () => {
                    preview(rev.number);
                  },
                }}
              />
            ))}
          </ol>
          {(cursors.length > 0 || history.data.next) && (
            <nav aria-label="Pages of the zone’s history" className="flex flex-wrap items-center gap-2">
              <Button
                disabled={cursors.length === 0}
                onClick={() => {
                  setCursors((c) => c.slice(0, -1));
                }}
              >
                Newer
              </Button>
              <Button
                disabled={!history.data.next || history.isPlaceholderData}
                onClick={() => {
                  const next = history.data.next;
                  if (next) setCursors((c) => [...c, next]);
                }}
              >
                Older
              </Button>
            </nav>
          )}
        </>
      )}
      <Dialog
        open={pending !== null}
        wide
        title={pending ? `Roll back to revision ${pending.to}?` : ""}
        onClose={() => {
          if (!rollback.isPending) setPending(null);
        }}
        footer={
          <>
            <Button
              disabled={rollback.isPending}
              onClick={() => {
                setPending(null);
              }}
            >
              Cancel
            </Button>
            <Button variant={deleting ? "danger" : "primary"} busy={rollback.isPending} disabled={!can.allowed || nothing} onClick={confirm}>
              {deleting ? "Roll back (deletes the zone)" : "Roll back"}
            </Button>
          </>
        }
      >
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">
          The API checked this rollback without applying it. Nothing changes until you confirm{deleting ? ": the zone did not exist yet at this revision, so rolling back deletes it" : ""}.
        </p>
        {pending && <ZoneDiff diff={pending.diff} empty={nothing ? "Nothing would change: the zone already looks as it did right after this revision." : HIDDEN_CHANGE} />}
      </Dialog>
    </section>
  );
}
