import { Banner } from "@/components/ui/Banner";
import { plural } from "@/lib/format";
import type { RowProblem } from "../api/bulk";

function where(p: RowProblem): string {
  if (p.row !== null) return `Row ${p.row}`;
  if (p.item !== null) return p.item;
  return "The input";
}

function Value({ value }: { value: string }) {
  return value === "" ? <span className="italic">(empty)</span> : <code className="rounded bg-white/70 px-1 text-xs break-all dark:bg-slate-950/60">{value}</code>;
}

/**
 * Every problem with a bulk input, on the user's rows: row, zone, column, value, problem.
 * A list rather than a table, so a phone's width needs no sideways scrolling.
 */
export function BulkProblems({ title, problems, sent }: { title: string; problems: RowProblem[]; sent: boolean }) {
  const rows = new Set(problems.filter((p) => p.row !== null || p.item !== null).map((p) => p.row ?? p.item)).size;
  return (
    <Banner tone="error" title={title}>
      <p className="mb-2">
        {plural(problems.length, "problem")}
        {rows > 0 ? ` in ${plural(rows, "row")}` : ""}. {sent ? "Nothing was applied: fix them and check again." : "Nothing was sent: fix them and check again."}
      </p>
      <ol aria-label="Problems by row" className="space-y-2">
        {problems.map((p, k) => (
          <li key={`${String(p.row)}:${String(p.item)}:${k}`} className="border-t border-red-200 pt-2 first:border-t-0 first:pt-0 dark:border-red-800">
            <p className="font-semibold break-all">
              {where(p)}
              {p.label ? ` · ${p.label}` : ""}
            </p>
            <p className="break-words">
              {p.column !== null && (
                <>
                  column <code className="text-xs font-semibold break-all">{p.column}</code>
                  {p.value !== null && (
                    <>
                      {" "}= <Value value={p.value} />
                    </>
                  )}
                  {": "}
                </>
              )}
              {p.column === null && p.value !== null && (
                <>
                  <Value value={p.value} />
                  {": "}
                </>
              )}
              {p.problem}
            </p>
          </li>
        ))}
      </ol>
    </Banner>
  );
}
