import { useState, type ChangeEvent } from "react";
import { Link } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { plural } from "@/lib/format";
import { useCan } from "@/lib/can";
import { useRecheckHealth } from "@/lib/health";
import { zoneLabel, type RouteMatch } from "@/lib/routeMatch";
import { CSV_COLUMNS, mapBulkProblems, parseBulk, type BulkRequest, type BulkSources, type RowProblem } from "../api/bulk";
import { bulkDryRun, useApplyBulk } from "../api/bulkWrite";
import type { Diff } from "../api/types";
import type { Applied } from "../api/zones";
import { BulkProblems } from "./BulkProblems";
import { LiveOnFleet } from "./LiveOnFleet";

const SHOWN = 100;

const EXAMPLE = `hostname,path_prefix,upstreams,force_https,allow
app.example.com,,http://10.0.0.1:8080 http://10.0.0.2:8080*2,true,
app.example.com,/api,http://10.0.0.3:9000,true,"10.0.0.0/8; 192.168.1.5"`;

function summary(diff: Diff): string {
  return `${plural(diff.created.length, "zone")} created, ${diff.changed.length.toLocaleString()} changed, ${diff.deleted.length.toLocaleString()} deleted`;
}

function ZoneList({ title, zones, tone }: { title: string; zones: { id: string; hostname: string; path_prefix?: string; match?: RouteMatch }[]; tone: string }) {
  if (zones.length === 0) return null;
  return (
    <section aria-label={`Zones ${title.toLowerCase()}`}>
      <h3 className={`font-semibold ${tone}`}>
        {title} ({zones.length.toLocaleString()})
      </h3>
      <ul className="list-disc pl-5">
        {zones.slice(0, SHOWN).map((z) => (
          <li key={z.id} className="break-all">
            {zoneLabel(z.hostname, z.path_prefix, z.match)}
          </li>
        ))}
      </ul>
      {zones.length > SHOWN && <p className="text-slate-600 dark:text-slate-400">and {(zones.length - SHOWN).toLocaleString()} more</p>}
    </section>
  );
}

/** The dry run's diff: how many zones each way, then which. */
function BulkDiff({ diff }: { diff: Diff }) {
  const total = diff.created.length + diff.changed.length + diff.deleted.length;
  if (total === 0) return <Banner tone="info">Nothing would change: every zone already looks like this.</Banner>;
  return (
    <div className="space-y-3 text-sm">
      <p role="status" className="font-medium">
        {summary(diff)}.
      </p>
      <ZoneList title="Created" zones={diff.created} tone="text-emerald-800 dark:text-emerald-300" />
      <ZoneList title="Changed" zones={diff.changed.map((c) => c.after)} tone="text-sky-800 dark:text-sky-300" />
      <ZoneList title="Deleted" zones={diff.deleted} tone="text-red-800 dark:text-red-300" />
    </div>
  );
}

function ColumnsHelp() {
  return (
    <details className="rounded-md border border-slate-200 p-3 text-sm dark:border-slate-700">
      <summary className="cursor-pointer font-medium">CSV columns and JSON shape</summary>
      <div className="mt-2 space-y-2">
        <p>The first row names the columns, in any order; only hostname is required. Quote a value that holds a comma, a quote (written "") or a line break.</p>
        <dl aria-label="CSV columns" className="space-y-1.5">
          {Object.entries(CSV_COLUMNS).map(([name, c]) => (
            <div key={name}>
              <dt className="inline font-semibold">
                <code className="text-xs">{name}</code>
                {c.aliases.length > 0 && <span className="text-xs font-normal text-slate-600 dark:text-slate-400"> (or {c.aliases.join(", ")})</span>}
              </dt>
              <dd className="inline break-words">: {c.help}</dd>
            </div>
          ))}
        </dl>
        <p>Example:</p>
        <pre className="overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800">{EXAMPLE}</pre>
        <p>
          JSON: the API’s bulk body <code className="text-xs break-all">{'{"create":[zone…],"update":[{"id","zone"}…],"delete":[id…]}'}</code>, or an array of zones <code className="text-xs break-all">{'[{"hostname":"a.example.com","backend":{"kind":"upstreams","upstreams":[{"url":"http://10.0.0.1:8080","weight":1}]}}]'}</code>.
        </p>
      </div>
    </details>
  );
}

interface Review {
  request: BulkRequest;
  sources: BulkSources;
  diff: Diff;
}

/** Many zones at once from CSV or JSON: checked here, then by the API's dry run, then applied all or nothing. */
export function BulkZonesPage() {
  const can = useCan({ kind: "new-zone" });
  const allowed = can.allowed;
  const recheckHealth = useRecheckHealth();
  const apply = useApplyBulk();
  const [pasted, setPasted] = useState("");
  const [file, setFile] = useState<{ name: string; text: string } | null>(null);
  const [checking, setChecking] = useState(false);
  const [problems, setProblems] = useState<{ title: string; list: RowProblem[]; sent: boolean } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [review, setReview] = useState<Review | null>(null);
  const [done, setDone] = useState<{ diff: Diff; applied: Applied } | null>(null);

  const reset = () => {
    setProblems(null);
    setMessage(null);
    setDone(null);
  };

  const chooseFile = (e: ChangeEvent<HTMLInputElement>) => {
    reset();
    const f = e.target.files?.[0];
    if (!f) {
      setFile(null);
      return;
    }
    f.text().then(
      (text) => {
        setFile({ name: f.name, text });
      },
      (err: unknown) => {
        setMessage(`Could not read ${f.name}: ${errorMessage(err)}`);
      },
    );
  };

  const failed = (e: unknown, sources: BulkSources, title: string) => {
    if (e instanceof ApiError && e.status === 422 && e.details.length > 0) setProblems({ title, list: mapBulkProblems(e.details, sources), sent: true });
    else setMessage(errorMessage(e));
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  /** Parse here; then the API's dry run. */
  const check = () => {
    reset();
    const parsed = parseBulk(file ? file.text : pasted);
    if (!parsed.ok) {
      setProblems({ title: "Not sent: these rows cannot be read", list: parsed.problems, sent: false });
      return;
    }
    const { request, sources } = parsed;
    setChecking(true);
    bulkDryRun(request)
      .then((diff) => {
        setReview({ request, sources, diff });
      })
      .catch((e: unknown) => {
        failed(e, sources, "The API refused these rows: nothing was changed");
      })
      .finally(() => {
        setChecking(false);
      });
  };

  const confirm = () => {
    if (!review) return;
    const { request, sources } = review;
    apply.mutate(request, {
      onSuccess: (diff) => {
        setReview(null);
        const committed = diff.committed_at ? Date.parse(diff.committed_at) : NaN;
        setDone({ diff, applied: { zone: null, version: diff.version ?? null, committedAt: Number.isFinite(committed) ? committed : Date.now(), answeredAt: Date.now() } });
      },
      onError: (e) => {
        setReview(null);
        failed(e, sources, "The API refused these rows: nothing was changed");
      },
    });
  };

  const changes = review ? review.diff.created.length + review.diff.changed.length + review.diff.deleted.length : 0;

  return (
    <section aria-labelledby="bulk-title">
      <nav aria-label="Breadcrumb" className="mb-2 text-sm">
        <Link to="/zones" className="text-teal-700 underline dark:text-teal-400">
          Zones
        </Link>{" "}
        / Bulk
      </nav>
      <h1 id="bulk-title" className="mb-1 text-2xl font-semibold tracking-tight">
        Bulk zones
      </h1>
      <p className="mb-4 text-sm text-slate-600 dark:text-slate-400">
        Create, replace or delete many zones at once from CSV or JSON. Each row is checked here, then by the API without applying anything; nothing is written until you confirm, and then all or nothing.
      </p>
      <div className="max-w-4xl space-y-4">
        <WritesBlocked can={can} />
        {done && (
          <div className="space-y-2">
            <Banner tone="success" title="Applied">
              <p>
                {summary(done.diff)}
                {done.diff.version != null ? ` (version ${done.diff.version})` : ""}.{" "}
                <Link to="/zones" className="underline">
                  See the zones
                </Link>
              </p>
            </Banner>
            <LiveOnFleet key={done.applied.answeredAt} applied={done.applied} />
          </div>
        )}
        {message && (
          <Banner tone="error" title="Not applied">
            {message}
          </Banner>
        )}
        {problems && <BulkProblems title={problems.title} problems={problems.list} sent={problems.sent} />}
        <ColumnsHelp />
        <fieldset disabled={!allowed} className="space-y-3">
          <legend className="sr-only">Zones to send</legend>
          <Field label="CSV or JSON file" hint={file ? `Using ${file.name} (${plural(file.text.length, "character")}).` : "A .csv file with a header row, or a .json file"}>
            {(p) => <input {...p} type="file" accept=".csv,.json,.txt,text/csv,application/json,text/plain" className="block w-full text-sm" onChange={chooseFile} />}
          </Field>
          {file ? (
            <Button
              variant="ghost"
              onClick={() => {
                setFile(null);
                reset();
              }}
            >
              Forget the file and paste instead
            </Button>
          ) : (
            <Field label="Or paste CSV or JSON" hint="CSV: the first row names the columns (see above). JSON: the bulk body or an array of zones.">
              {(p) => (
                <textarea
                  {...p}
                  rows={12}
                  spellCheck={false}
                  placeholder={EXAMPLE}
                  className={`${p.className} font-mono text-xs`}
                  value={pasted}
                  onChange={(e) => {
                    setPasted(e.target.value);
                  }}
                />
              )}
            </Field>
          )}
        </fieldset>
        <Button variant="primary" disabled={!allowed} busy={checking} onClick={check}>
          Check rows
        </Button>
      </div>
      <Dialog
        open={review !== null}
        wide
        title="Review the bulk change"
        onClose={() => {
          if (!apply.isPending) setReview(null);
        }}
        footer={
          <>
            <Button
              disabled={apply.isPending}
              onClick={() => {
                setReview(null);
              }}
            >
              Cancel
            </Button>
            <Button variant={review && review.diff.deleted.length > 0 ? "danger" : "primary"} disabled={!allowed || changes === 0} busy={apply.isPending} onClick={confirm}>
              Apply {plural(changes, "change")}
            </Button>
          </>
        }
      >
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">The API checked every row without applying it. Nothing changes until you confirm; then all of it or nothing.</p>
        {review && <BulkDiff diff={review.diff} />}
      </Dialog>
    </section>
  );
}
