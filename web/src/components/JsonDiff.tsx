import { useState } from "react";
import { diffJson } from "@/lib/jsonDiff";
import { Checkbox } from "./ui/Field";

/** Before → after of two JSON values, one row per field that differs (or every field). */
export function JsonDiff({ before, after, caption }: { before: unknown; after: unknown; caption: string }) {
  const [all, setAll] = useState(false);
  const changes = diffJson(before, after);
  const differing = changes.filter((c) => c.kind !== "same");
  const rows = all ? changes : differing;
  if (changes.length === 0) return <p className="text-sm text-slate-600 dark:text-slate-400">No details were recorded.</p>;
  return (
    <div className="space-y-2">
      {differing.length !== changes.length && <Checkbox label="Show unchanged fields too" checked={all} onChange={(e) => { setAll(e.target.checked); }} />}
      {rows.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">No field differs.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">{caption}</caption>
            <thead>
              <tr className="text-left text-xs uppercase text-slate-500 dark:text-slate-400">
                <th scope="col" className="py-1 pr-2">Field</th>
                <th scope="col" className="py-1 pr-2">Before</th>
                <th scope="col" className="py-1">After</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c) => (
                <tr key={c.path} className="border-t border-slate-100 dark:border-slate-800">
                  <th scope="row" className="py-1 pr-2 text-left font-mono text-xs font-medium break-all">{c.path}</th>
                  <td className="py-1 pr-2 font-mono text-xs break-all">
                    {c.before === null ? <span className="text-slate-500 dark:text-slate-400">—</span> : c.kind === "same" ? c.before : <del className="text-red-800 decoration-red-400 dark:text-red-300">{c.before}</del>}
                  </td>
                  <td className="py-1 font-mono text-xs break-all">
                    {c.after === null ? <span className="text-slate-500 dark:text-slate-400">—</span> : c.kind === "same" ? c.after : <ins className="text-emerald-800 no-underline dark:text-emerald-300">{c.after}</ins>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
