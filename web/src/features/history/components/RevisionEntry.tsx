import { useId, useState } from "react";
import { Button } from "@/components/ui/Button";
import { Pager } from "@/components/ui/Pager";
import { ErrorState, Loading } from "@/components/ui/States";
import { JsonDiff } from "@/components/JsonDiff";
import { actionLabel, kindLabel, opLabel, recordsSummary, revisionName, revisionTime } from "@/lib/revisions";
import { RECORDS_PAGE_SIZE, useRevision, type RevisionRecord, type RevisionSummary } from "../api/revisions";

function Record({ record, number }: { record: RevisionRecord; number: number }) {
  const name = `${kindLabel(record.kind)} ${record.key}`;
  return (
    <li className="rounded-md border border-slate-200 p-3 dark:border-slate-700">
      <p className="mb-2">
        <span className="font-medium break-all">{record.key}</span>{" "}
        <span className="text-slate-600 dark:text-slate-400">
          ({kindLabel(record.kind)} {opLabel(record.op)})
        </span>
      </p>
      <JsonDiff before={record.before} after={record.after} caption={`${name} in revision ${number}: before and after`} />
    </li>
  );
}

/** One revision's records, before and after, a page at a time. */
function Records({ number }: { number: number }) {
  const [offset, setOffset] = useState(0);
  const view = useRevision(number, offset);
  if (view.isPending) return <Loading what={`Loading the records of revision ${number}`} />;
  if (view.isError) return <ErrorState error={view.error} title={`Could not load revision ${number}`} retry={() => void view.refetch()} />;
  if (view.data.records.length === 0) return <p className="text-sm text-slate-600 dark:text-slate-400">This revision holds no record you may read.</p>;
  return (
    <div className="space-y-2">
      <ul aria-label={`Records of revision ${number}`} className="space-y-2">
        {view.data.records.map((r, i) => (
          <Record key={`${r.kind}-${r.id}-${i}`} record={r} number={number} />
        ))}
      </ul>
      <Pager what={`records of revision ${number}`} offset={offset} limit={RECORDS_PAGE_SIZE} shown={view.data.records.length} total={view.data.records_total} totalExact onOffset={setOffset} />
    </div>
  );
}

/** A revision in the history: what, by whom, when, the records it touched (on demand), and the restore. */
export function RevisionEntry({ rev, current, restore }: { rev: RevisionSummary; current: boolean; restore: { disabled: boolean; busy: boolean; onClick: () => void } }) {
  const [open, setOpen] = useState(false);
  const name = useId();
  const panel = useId();
  return (
    <li aria-labelledby={name} className="rounded-md border border-slate-200 p-3 text-sm dark:border-slate-700">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0 space-y-0.5">
          <h2 className="text-base font-semibold">
            <span id={name} className="sr-only">
              {revisionName(rev)}
            </span>
            <span aria-hidden="true">
              Revision {rev.number} · {actionLabel(rev)}
            </span>
            {current && <span className="ml-2 rounded bg-teal-100 px-2 py-0.5 text-xs font-semibold text-teal-900 dark:bg-teal-900 dark:text-teal-100">current</span>}
          </h2>
          <p className="text-slate-700 dark:text-slate-300">
            by <span className="break-all">{rev.actor}</span> · <time dateTime={rev.at}>{revisionTime(rev.at)}</time>
          </p>
          <p className="break-all text-slate-600 dark:text-slate-400">{recordsSummary(rev.records, rev.records_total)}</p>
        </div>
        <div className="flex flex-wrap gap-2">
          <Button
            aria-expanded={open}
            aria-controls={panel}
            onClick={() => {
              setOpen((o) => !o);
            }}
          >
            {open ? "Hide records " : "Show records "}
            <span className="sr-only">of revision {rev.number}</span>
          </Button>
          {!current && (
            <Button disabled={restore.disabled} busy={restore.busy} onClick={restore.onClick}>
              Restore configuration to this revision <span className="sr-only">(revision {rev.number})</span>
            </Button>
          )}
        </div>
      </div>
      {open && (
        <div id={panel} className="mt-3">
          <Records number={rev.number} />
        </div>
      )}
    </li>
  );
}
