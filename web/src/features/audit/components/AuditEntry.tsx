import { useId, useState } from "react";
import { Button } from "@/components/ui/Button";
import { JsonDiff } from "@/components/JsonDiff";
import type { AuditView } from "../api/audit";

/** One record: who did what to which resource, when, from where; its before/after on demand. */
export function AuditEntry({ entry }: { entry: AuditView }) {
  const [open, setOpen] = useState(false);
  const panel = useId();
  const hasDetails = entry.before != null || entry.after != null;
  return (
    <li className="rounded-md border border-slate-200 p-3 text-sm dark:border-slate-700">
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0 space-y-0.5">
          <p>
            <span className="font-semibold">{entry.action}</span>{" "}
            <span className="text-slate-600 dark:text-slate-400">
              on {entry.resource_type} <code className="text-xs break-all">{entry.resource_id}</code>
            </span>
          </p>
          <p className="text-slate-700 dark:text-slate-300">
            by <span className="break-all">{entry.actor}</span> · <time dateTime={entry.at}>{new Date(entry.at).toLocaleString()}</time>
            {entry.source_addr ? ` · from ${entry.source_addr}` : ""}
          </p>
          {entry.request_id && <p className="text-xs text-slate-500 dark:text-slate-400">request {entry.request_id}</p>}
        </div>
        {hasDetails && (
          <Button
            aria-expanded={open}
            aria-controls={panel}
            aria-label={`${open ? "Hide" : "Show"} changes of record ${entry.id}`}
            onClick={() => {
              setOpen((o) => !o);
            }}
          >
            {open ? "Hide changes" : "Show changes"}
          </Button>
        )}
      </div>
      {open && (
        <div id={panel} className="mt-3">
          <JsonDiff before={entry.before} after={entry.after} caption={`${entry.action} on ${entry.resource_type} ${entry.resource_id}: before and after`} />
        </div>
      )}
    </li>
  );
}
