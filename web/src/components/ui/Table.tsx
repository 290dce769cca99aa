import type { HTMLAttributes, ReactNode, TdHTMLAttributes, ThHTMLAttributes } from "react";
import { cn } from "./cn";

/** A table that scrolls sideways on narrow screens instead of breaking the layout. */
export function Table({ caption, children, className }: { caption?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <div className={cn("overflow-x-auto rounded-md border border-slate-200 dark:border-slate-700", className)}>
      <table className="min-w-full divide-y divide-slate-200 text-left text-sm dark:divide-slate-700">
        {caption && <caption className="sr-only">{caption}</caption>}
        {children}
      </table>
    </div>
  );
}
export function THead({ children }: { children: ReactNode }) {
  return <thead className="bg-slate-50 text-xs uppercase tracking-wide text-slate-600 dark:bg-slate-800/60 dark:text-slate-300">{children}</thead>;
}
export function TBody({ children }: { children: ReactNode }) {
  return <tbody className="divide-y divide-slate-200 dark:divide-slate-800">{children}</tbody>;
}
export function Tr(props: HTMLAttributes<HTMLTableRowElement>) {
  return <tr {...props} className={cn("hover:bg-slate-50 dark:hover:bg-slate-900", props.className)} />;
}
export function Th(props: ThHTMLAttributes<HTMLTableCellElement>) {
  return <th scope="col" {...props} className={cn("px-3 py-2 font-semibold whitespace-nowrap", props.className)} />;
}
export function Td(props: TdHTMLAttributes<HTMLTableCellElement>) {
  return <td {...props} className={cn("px-3 py-2 align-top", props.className)} />;
}
