import type { ReactNode } from "react";
import { Banner } from "@/components/ui/Banner";
import { cn } from "@/components/ui/cn";
import { zoneLabel } from "@/lib/routeMatch";
import { diffEntries, isEmptyDiff, recordsOf, type ZoneDiffEntry } from "../api/diff";
import { NO_NEW_SECRETS, type NewSecrets } from "../api/policies";
import type { Diff, RecordChange } from "../api/types";

const KIND_LABEL = { created: "Create", changed: "Change", deleted: "Delete" } as const;
const KIND_STYLE = {
  created: "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
  changed: "bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100",
  deleted: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
} as const;

function RedisRecord({ value, label }: { value: unknown; label: string }) {
  return (
    <div className="min-w-0">
      <p className="text-xs font-semibold uppercase text-slate-500 dark:text-slate-400">{label}</p>
      {value === null || value === undefined ? (
        <p className="text-sm italic">no record</p>
      ) : (
        <pre className="mt-1 overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800">{JSON.stringify(value, null, 2)}</pre>
      )}
    </div>
  );
}

function Entry({ entry, records, extra }: { entry: ZoneDiffEntry; records: RecordChange[]; extra?: ReactNode }) {
  return (
    <li className="rounded-md border border-slate-200 p-3 dark:border-slate-700">
      <p className="flex flex-wrap items-center gap-2">
        <span className={cn("rounded px-2 py-0.5 text-xs font-semibold", KIND_STYLE[entry.kind])}>{KIND_LABEL[entry.kind]}</span>
        <span className="font-medium break-all">{zoneLabel(entry.hostname, entry.path_prefix, entry.match)}</span>
      </p>
      {entry.changes.length === 0 ? (
        <p className="mt-2 text-sm text-slate-600 dark:text-slate-400">Nothing in this zone changes.</p>
      ) : (
        <table className="mt-2 w-full text-sm">
          <caption className="sr-only">Fields of {entry.hostname}, before and after</caption>
          <thead>
            <tr className="text-left text-xs uppercase text-slate-500 dark:text-slate-400">
              <th scope="col" className="py-1 pr-2">Field</th>
              <th scope="col" className="py-1 pr-2">Before</th>
              <th scope="col" className="py-1">After</th>
            </tr>
          </thead>
          <tbody>
            {entry.changes.map((c) => (
              <tr key={c.field} className="border-t border-slate-100 dark:border-slate-800">
                <th scope="row" className="py-1 pr-2 text-left font-medium whitespace-nowrap">{c.label}</th>
                <td className="py-1 pr-2 break-all">
                  {c.before === null ? <span className="text-slate-500 dark:text-slate-400">—</span> : <del className="text-red-800 decoration-red-400 dark:text-red-300">{c.before}</del>}
                </td>
                <td className="py-1 break-all">
                  {c.after === null ? <span className="text-slate-500 dark:text-slate-400">—</span> : <ins className="text-emerald-800 no-underline dark:text-emerald-300">{c.after}</ins>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {extra}
      {records.length > 0 && (
        <details className="mt-2">
          <summary className="cursor-pointer text-sm text-slate-700 dark:text-slate-300">What Redis will hold (read by the proxies)</summary>
          {records.map((r) => (
            <div key={r.key} className="mt-2">
              <p className="text-xs">
                <code>{r.key}</code>
                {JSON.stringify(r.before) === JSON.stringify(r.after) && <span className="ml-2 text-slate-500 dark:text-slate-400">(unchanged)</span>}
              </p>
              <div className="mt-1 grid gap-3 md:grid-cols-2">
                <RedisRecord value={r.before} label="Now" />
                <RedisRecord value={r.after} label="After" />
              </div>
            </div>
          ))}
        </details>
      )}
    </li>
  );
}

/**
 * A write's diff as the API's dry run answered it: every zone, before → after. The API
 * answers no basic-auth hashes and no JWT secret, so `secrets` (the users the write gives
 * a new password and whether it sets a new JWT secret, from its payload) marks those
 * changes. `label` names the list (a page with several diffs: a zone's history); `empty`
 * replaces the words for a diff that changes nothing; `extra` is shown under each zone's
 * fields (a history entry's re-rendered upstream URL).
 */
export function ZoneDiff({
  diff,
  secrets = NO_NEW_SECRETS,
  label = "Changes",
  empty = "Nothing would change: the zone already looks like this.",
  extra,
}: {
  diff: Diff;
  secrets?: NewSecrets;
  label?: string;
  empty?: ReactNode;
  extra?: ReactNode;
}) {
  if (isEmptyDiff(diff, secrets) && !extra) {
    return <Banner tone="info">{empty}</Banner>;
  }
  const entries = diffEntries(diff, secrets);
  return (
    <ul className="space-y-3" aria-label={label}>
      {entries.map((e) => (
        <Entry key={`${e.kind}-${e.id}`} entry={e} records={recordsOf(diff, e)} extra={extra} />
      ))}
    </ul>
  );
}
