import { Banner } from "@/components/ui/Banner";
import { plural } from "@/lib/format";
import { summarizeChange } from "../api/rules";
import type { BackendDiff } from "../api/types";

/** A template change's dry run: what changes, and every zone it re-renders, before → after. */
export function TemplateChange({ diff }: { diff: BackendDiff }) {
  const s = summarizeChange(diff);
  return (
    <div className="space-y-3 text-sm">
      {!s.renamed && !s.template ? <Banner tone="info">Nothing would change.</Banner> : null}
      {s.renamed && (
        <p>
          Name: <del className="text-red-800 dark:text-red-300">{s.renamed.from}</del> → <ins className="text-emerald-800 no-underline dark:text-emerald-300">{s.renamed.to}</ins>
        </p>
      )}
      {s.template && (
        <p className="break-all">
          Template: <del className="text-red-800 dark:text-red-300">{s.template.from}</del> → <ins className="text-emerald-800 no-underline dark:text-emerald-300">{s.template.to}</ins>
        </p>
      )}
      <p className="font-medium" role="status">
        {diff.zones.length === 0
          ? "No zone uses this backend: no route changes."
          : `Re-renders ${plural(diff.zones.length, "zone")}${s.unchanged > 0 ? ` (${s.changed} with a new URL, ${s.unchanged} unchanged)` : ""}, all in one Redis write.`}
      </p>
      {diff.zones.length > 0 && (
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <caption className="sr-only">Zones re-rendered, before and after</caption>
            <thead>
              <tr className="text-left text-xs uppercase text-slate-500 dark:text-slate-400">
                <th scope="col" className="py-1 pr-2">Zone</th>
                <th scope="col" className="py-1 pr-2">Before</th>
                <th scope="col" className="py-1">After</th>
              </tr>
            </thead>
            <tbody>
              {diff.zones.map((z) => (
                <tr key={z.id} className="border-t border-slate-100 dark:border-slate-800">
                  <th scope="row" className="py-1 pr-2 text-left font-medium break-all">
                    {z.hostname}
                    {z.path_prefix}
                  </th>
                  <td className="py-1 pr-2 font-mono text-xs break-all">{z.before ? z.before === z.after ? z.before : <del className="text-red-800 dark:text-red-300">{z.before}</del> : "—"}</td>
                  <td className="py-1 font-mono text-xs break-all">{z.before === z.after ? z.after : <ins className="text-emerald-800 no-underline dark:text-emerald-300">{z.after}</ins>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
