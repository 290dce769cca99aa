import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { errorMessage } from "@/lib/api/errors";
import { describeCheck, useDnsCheck, useRecheckDns, type DnsCheckTarget } from "@/lib/dnsCheck";

const TONES = {
  ok: "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
  bad: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  neutral: "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-100",
} as const;

/** Whether a domain's apex or a zone's hostname points at the fleet: verdict, records, resolver, when. */
export function DnsCheck({ target }: { target: DnsCheckTarget }) {
  const check = useDnsCheck(target);
  const recheck = useRecheckDns(target);
  if (check.isPending) return <p className="text-sm text-slate-500 dark:text-slate-400">Checking DNS…</p>;
  if (check.isError) return <p className="text-sm text-red-700 dark:text-red-400">DNS check: {errorMessage(check.error)}</p>;
  const v = check.data;
  const { tone, label } = describeCheck(v);
  return (
    <div className="space-y-1 text-sm" data-testid="dns-check">
      <p className="flex flex-wrap items-center gap-2">
        <span className={cn("rounded px-2 py-0.5 text-xs font-semibold", TONES[tone])}>{label}</span>
        <code className="text-xs break-all text-slate-500 dark:text-slate-400">{v.name}</code>
      </p>
      <p className="text-slate-700 dark:text-slate-300">
        {v.records.length === 0
          ? "No records seen."
          : v.records.map((r) => `${r.type} ${r.value}`).join(" · ")}
      </p>
      {v.problem && <p className="break-words text-slate-700 dark:text-slate-300">{v.problem}</p>}
      <p className="text-xs text-slate-500 dark:text-slate-400">
        Asked {v.resolver === "system" ? "the system's resolver" : v.resolver} at {new Date(v.checked_at).toLocaleString()}
      </p>
      <Button busy={recheck.isPending} onClick={() => {
          recheck.mutate();
        }}>
        Check DNS again
      </Button>
      {recheck.isError && <p className="text-red-700 dark:text-red-400">{errorMessage(recheck.error)}</p>}
    </div>
  );
}
