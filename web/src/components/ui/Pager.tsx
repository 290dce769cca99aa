import { Button } from "./Button";

/** Offset paging for the API's `{items, total, total_exact, limit, offset}` lists. */
export function Pager({ offset, limit, shown, total, totalExact, onOffset, what }: { offset: number; limit: number; shown: number; total: number; totalExact: boolean; onOffset: (offset: number) => void; what: string }) {
  const hasNext = offset + shown < total || (!totalExact && shown === limit);
  if (offset === 0 && !hasNext) return null;
  const first = shown === 0 ? offset : offset + 1;
  return (
    <nav aria-label={`Pages of ${what}`} className="flex flex-wrap items-center gap-2">
      <Button
        disabled={offset === 0}
        onClick={() => {
          onOffset(Math.max(0, offset - limit));
        }}
      >
        Previous
      </Button>
      <span className="text-sm text-slate-600 dark:text-slate-400">
        {first.toLocaleString()}–{(offset + shown).toLocaleString()} of {totalExact ? total.toLocaleString() : `more than ${total.toLocaleString()}`}
      </span>
      <Button
        disabled={!hasNext}
        onClick={() => {
          onOffset(offset + limit);
        }}
      >
        Next
      </Button>
    </nav>
  );
}
