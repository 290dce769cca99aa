import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { CopyButton } from "@/components/CopyButton";
import { errorMessage } from "@/lib/api/errors";
import { useCan } from "@/lib/can";
import { useRecheckHealth } from "@/lib/health";
import { ApiError } from "@/lib/api/errors";
import { certificateNames, summarizeCertificate, type Tone } from "../api/certificate";
import { useCertificate, useReissue } from "../api/domains";
import type { DomainView } from "../api/types";

const TONES: Record<Tone, string> = {
  ok: "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
  waiting: "bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100",
  warn: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  bad: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
};

/** The TXT records a manual DNS-01 order waits for, each with a copy button. */
function ManualDnsRecords({ name, values }: { name: string; values: string[] }) {
  return (
    <div className="mt-2 rounded-md border border-sky-300 bg-sky-50 p-3 text-sm dark:border-sky-700 dark:bg-sky-950">
      <p className="font-semibold">Publish these TXT records</p>
      <p className="mt-1 text-slate-700 dark:text-slate-300">
        One TXT record per value, all at the same name. The certificate is ordered once they are visible.
      </p>
      <dl className="mt-2 space-y-2">
        <div>
          <dt className="text-xs font-semibold uppercase text-slate-500 dark:text-slate-400">Name</dt>
          <dd className="flex flex-wrap items-center gap-2">
            <code className="break-all">{name}</code>
            <CopyButton text={name} what="the TXT record name" />
          </dd>
        </div>
        {values.map((v, i) => (
          <div key={v}>
            <dt className="text-xs font-semibold uppercase text-slate-500 dark:text-slate-400">Value {i + 1}</dt>
            <dd className="flex flex-wrap items-center gap-2">
              <code className="break-all">{v}</code>
              <CopyButton text={v} what={`TXT value ${i + 1}`} />
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

/** A domain's certificate: state, expiry, next attempt, the real last error, re-issue. */
export function CertificateStatus({ domainId, domainName, degraded, choice = "wildcard" }: { domainId: string; domainName: string; degraded: boolean; choice?: DomainView["certificates"] }) {
  const cert = useCertificate(domainId);
  const reissue = useReissue();
  const can = useCan({ kind: "domain", domainId });
  const recheckHealth = useRecheckHealth();
  if (cert.isPending) return <p className="text-sm text-slate-500 dark:text-slate-400">Reading the certificate…</p>;
  if (cert.isError) {
    return (
      <p className="text-sm text-red-700 dark:text-red-400">
        Certificate: {errorMessage(cert.error)}
        {degraded ? " (certificates are read from PostgreSQL, which is down)" : ""}
      </p>
    );
  }
  const summary = summarizeCertificate(cert.data, cert.dataUpdatedAt, choice);
  const names = cert.data ? certificateNames(cert.data) : [];
  return (
    <div className="space-y-1 text-sm">
      <p className="flex flex-wrap items-center gap-2">
        <span className="sr-only">Certificate:</span>
        <span className={cn("rounded px-2 py-0.5 text-xs font-semibold", TONES[summary.tone])}>{summary.label}</span>
        {names.length > 0 && <span className="text-xs break-all text-slate-500 dark:text-slate-400">{names.join(", ")}</span>}
      </p>
      <ul className="space-y-0.5 text-slate-700 dark:text-slate-300">
        {summary.lines.map((l) => (
          <li key={l} className="break-words">
            {l}
          </li>
        ))}
      </ul>
      {cert.data?.manual_dns && <ManualDnsRecords name={cert.data.manual_dns.name} values={cert.data.manual_dns.values} />}
      {cert.data && choice !== "per_host" && (
        <div className="flex flex-wrap items-center gap-2 pt-1">
          <Button
            aria-label={`Re-issue the certificate of ${domainName}`}
            disabled={!can.allowed}
            busy={reissue.isPending}
            onClick={() => {
              reissue.mutate(domainId, {
                onError: (e) => {
                  if (e instanceof ApiError && e.status === 503) recheckHealth();
                },
              });
            }}
          >
            Re-issue
          </Button>
          {can.because === "rights" && <span className="text-xs text-slate-700 dark:text-slate-300">{can.reason}</span>}
          {reissue.isSuccess && <span role="status" className="text-xs text-emerald-800 dark:text-emerald-300">Re-issue scheduled: due now.</span>}
          {reissue.isError && <span role="alert" className="text-xs text-red-700 dark:text-red-400">Not re-issued: {errorMessage(reissue.error)}</span>}
        </div>
      )}
    </div>
  );
}
