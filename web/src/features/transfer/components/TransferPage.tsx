import { useState, type ChangeEvent } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Checkbox, Field } from "@/components/ui/Field";
import { PageHeader } from "@/components/ui/States";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { plural } from "@/lib/format";
import { useAuth } from "@/lib/auth";
import { useCan } from "@/lib/can";
import { useRecheckHealth } from "@/lib/health";
import { exportFileName, groupProblems, parseImport, summarizeDiff, type ImportDiff, type ProblemGroup } from "../api/parse";
import { fetchExport, runImport, useApplyImport, type ImportRequest } from "../api/transfer";
import { ImportDiffView } from "./ImportDiffView";

/** Export the caller's slice as a file; import one (or the flat form) with a dry run first. */
export function TransferPage() {
  return (
    <section>
      <PageHeader title="Export / import">Your readable slice (domains, named backends, zones; for admins also users and grants) as one JSON document, and back.</PageHeader>
      <div className="grid gap-6 xl:grid-cols-2">
        <ExportPanel />
        <ImportPanel />
      </div>
    </section>
  );
}

function ExportPanel() {
  const { isAdmin } = useAuth();
  const [withUsers, setWithUsers] = useState(false);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: true; text: string } | { ok: false; text: string } | null>(null);
  const download = () => {
    setBusy(true);
    setResult(null);
    fetchExport(isAdmin && withUsers)
      .then((doc) => {
        const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
        const url = URL.createObjectURL(blob);
        const a = document.createElement("a");
        a.href = url;
        a.download = exportFileName(new Date());
        document.body.append(a);
        a.click();
        a.remove();
        window.setTimeout(() => {
          URL.revokeObjectURL(url);
        }, 10_000);
        setResult({ ok: true, text: `Downloaded ${a.download}: ${plural(doc.zones.length, "zone")}, ${plural(doc.domains?.length ?? 0, "domain")}, ${plural(doc.named_backends?.length ?? 0, "named backend")}${doc.users ? `, ${plural(doc.users.length, "user")}, ${plural(doc.grants?.length ?? 0, "grant")}` : ""}.` });
      })
      .catch((e: unknown) => {
        setResult({ ok: false, text: errorMessage(e) });
      })
      .finally(() => {
        setBusy(false);
      });
  };
  return (
    <section aria-labelledby="export-title" className="space-y-3 rounded-md border border-slate-200 p-4 dark:border-slate-700">
      <h2 id="export-title" className="text-lg font-semibold">
        Export
      </h2>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        Every zone you can read, the domains they live under (with their DNS credential by name), and the named backends they use (and your own). Secrets, passwords and certificates are never part of it.
      </p>
      {isAdmin && (
        <Checkbox
          label="Include users and grants"
          hint="Enough to rebuild a panel: imported users get no password until you set one."
          checked={withUsers}
          onChange={(e) => { setWithUsers(e.target.checked); }}
        />
      )}
      <Button variant="primary" busy={busy} onClick={download}>
        Download export
      </Button>
      {result && (
        <Banner tone={result.ok ? "success" : "error"} title={result.ok ? undefined : "Export failed"}>
          {result.text}
        </Banner>
      )}
    </section>
  );
}

function Problems({ groups }: { groups: ProblemGroup[] }) {
  return (
    <Banner tone="error" title="The API refused this import: nothing was changed">
      <ul className="mt-1 space-y-2">
        {groups.map((g) => (
          <li key={g.position || "document"}>
            <p className="font-medium break-all">
              {g.position ? g.position : "The document"}
              {g.label ? ` — ${g.label}` : ""}
            </p>
            <ul className="list-disc pl-5">
              {g.problems.map((p) => (
                <li key={`${p.field}:${p.problem}`} className="break-words">
                  {p.field ? <code className="text-xs">{p.field}</code> : null}
                  {p.field ? ": " : ""}
                  {p.problem}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </Banner>
  );
}

function ImportPanel() {
  // An import writes zones under the domains it names, each of which must be editable.
  const can = useCan({ kind: "new-zone" });
  const allowed = can.allowed;
  const recheckHealth = useRecheckHealth();
  const apply = useApplyImport();
  const [pasted, setPasted] = useState("");
  const [file, setFile] = useState<{ name: string; text: string } | null>(null);
  const [replace, setReplace] = useState(false);
  const [checking, setChecking] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [groups, setGroups] = useState<ProblemGroup[]>([]);
  const [review, setReview] = useState<{ request: ImportRequest; diff: ImportDiff } | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const reset = () => {
    setProblem(null);
    setGroups([]);
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
        setProblem(`Could not read ${f.name}: ${errorMessage(err)}`);
      },
    );
  };

  const failed = (e: unknown, input: unknown) => {
    if (e instanceof ApiError && e.details.length > 0) setGroups(groupProblems(e.details, input));
    else setProblem(errorMessage(e));
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  const check = () => {
    reset();
    const text = file ? file.text : pasted;
    const parsed = parseImport(text);
    if (!parsed.ok) {
      setProblem(parsed.problem);
      return;
    }
    const request: ImportRequest = { ...parsed, replace: parsed.kind === "document" && replace };
    const input = parsed.kind === "document" ? parsed.document : parsed.flat;
    setChecking(true);
    runImport(request, true)
      .then((diff) => {
        setReview({ request, diff });
      })
      .catch((e: unknown) => {
        failed(e, input);
      })
      .finally(() => {
        setChecking(false);
      });
  };

  const confirm = () => {
    if (!review) return;
    const { request } = review;
    apply.mutate(request, {
      onSuccess: (diff) => {
        const s = summarizeDiff(diff);
        setReview(null);
        setDone(`Imported: ${plural(s.created, "zone")} created, ${s.changed.toLocaleString()} changed, ${s.deleted.toLocaleString()} deleted${s.backendsCreated ? `, ${plural(s.backendsCreated, "named backend")} created` : ""}.`);
      },
      onError: (e) => {
        setReview(null);
        failed(e, request.kind === "document" ? request.document : request.flat);
      },
    });
  };

  const isFlat = (() => {
    const p = parseImport(file ? file.text : pasted);
    return p.ok && p.kind === "flat";
  })();

  return (
    <section aria-labelledby="import-title" className="space-y-3 rounded-md border border-slate-200 p-4 dark:border-slate-700">
      <h2 id="import-title" className="text-lg font-semibold">
        Import
      </h2>
      <p className="text-sm text-slate-600 dark:text-slate-400">
        An export document, or the flat form (<code className="break-all">{'{"env":{"domains":"app1.com:app1","services":"app1:app1:8080"}}'}</code>). The API checks it first and shows what would change; nothing is written until you confirm, and then all or nothing.
      </p>
      <WritesBlocked can={can} />
      {done && <Banner tone="success">{done}</Banner>}
      {problem && (
        <Banner tone="error" title="Not imported">
          {problem}
        </Banner>
      )}
      {groups.length > 0 && <Problems groups={groups} />}
      <fieldset disabled={!allowed} className="space-y-3">
        <Field label="Import file" hint={file ? `Using ${file.name} (${plural(file.text.length, "character")}).` : "A .json file, e.g. from Download export"}>
          {(p) => <input {...p} type="file" accept="application/json,.json" className="block w-full text-sm" onChange={chooseFile} />}
        </Field>
        {file && (
          <Button
            variant="ghost"
            onClick={() => {
              setFile(null);
              reset();
            }}
          >
            Forget the file and paste instead
          </Button>
        )}
        {!file && (
          <Field label="Or paste JSON">
            {(p) => (
              <textarea
                {...p}
                rows={10}
                spellCheck={false}
                className={`${p.className} font-mono text-xs`}
                value={pasted}
                onChange={(e) => {
                  setPasted(e.target.value);
                }}
              />
            )}
          </Field>
        )}
        <Checkbox
          label="Replace: delete my zones the document does not list"
          checked={replace && !isFlat}
          disabled={isFlat}
          onChange={(e) => {
            setReplace(e.target.checked);
          }}
        />
        {isFlat && <p className="text-xs text-slate-500 dark:text-slate-400">The flat form only adds and updates; it never deletes.</p>}
      </fieldset>
      <Button variant="primary" disabled={!allowed} busy={checking} onClick={check}>
        Check import
      </Button>
      <Dialog
        open={review !== null}
        wide
        title="Review the import"
        onClose={() => {
          if (!apply.isPending) setReview(null);
        }}
        footer={
          <>
            <Button disabled={apply.isPending} onClick={() => { setReview(null); }}>
              Cancel
            </Button>
            <Button variant={review && review.diff.deleted.length > 0 ? "danger" : "primary"} disabled={!allowed} busy={apply.isPending} onClick={confirm}>
              Apply import
            </Button>
          </>
        }
      >
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">The API checked this import without applying it. Nothing changes until you confirm.</p>
        {review && <ImportDiffView diff={review.diff} />}
      </Dialog>
    </section>
  );
}
