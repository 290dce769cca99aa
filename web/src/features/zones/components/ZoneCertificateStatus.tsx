import { cn } from "@/components/ui/cn";
import { errorMessage } from "@/lib/api/errors";
import { describeServing, useZoneCertificate, type ServingSummary } from "../api/certificate";

const TONES: Record<ServingSummary["tone"], string> = {
  ok: "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
  warn: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  bad: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
};

/** The certificate the zone's hostname gets today (issued or uploaded, exact or wildcard), or that none does. */
export function ZoneCertificateStatus({ zoneId }: { zoneId: string }) {
  const answer = useZoneCertificate(zoneId);
  return (
    <section aria-labelledby="zone-certificate" className="rounded-lg border border-slate-200 p-4 dark:border-slate-700">
      <h2 id="zone-certificate" className="text-lg font-semibold">
        Certificate
      </h2>
      {answer.isPending && <p className="text-sm text-slate-500 dark:text-slate-400">Reading which certificate serves this hostname…</p>}
      {answer.isError && <p className="text-sm text-red-700 dark:text-red-400">Certificate: {errorMessage(answer.error)}</p>}
      {answer.data && <Summary summary={describeServing(answer.data, answer.dataUpdatedAt)} />}
    </section>
  );
}

function Summary({ summary }: { summary: ServingSummary }) {
  return (
    <div className="mt-2 text-sm">
      <span className={cn("inline-block rounded px-2 py-0.5 text-xs font-semibold", TONES[summary.tone])}>{summary.label}</span>
      <ul className="mt-2 space-y-1">
        {summary.lines.map((line) => (
          <li key={line}>{line}</li>
        ))}
      </ul>
    </div>
  );
}
