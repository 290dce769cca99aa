export function Parameters({ names }: { names: string[] }) {
  if (names.length === 0) return <span className="text-slate-500 dark:text-slate-400">none</span>;
  return (
    <span className="flex flex-wrap gap-1">
      {names.map((n) => (
        <code key={n} className="rounded bg-slate-100 px-1.5 py-0.5 text-xs dark:bg-slate-800">
          {n}
        </code>
      ))}
    </span>
  );
}
