import { PageHeader } from "@/components/ui/States";

/** A section whose page comes in a later change; the API already serves it. */
export function NotBuiltYet({ title, api }: { title: string; api: string }) {
  return (
    <section>
      <PageHeader title={title} />
      <p className="text-slate-600 dark:text-slate-400">
        This page is not built yet. The API serves it at <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">{api}</code>.
      </p>
    </section>
  );
}
