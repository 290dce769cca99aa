import { useState, type SubmitEvent } from "react";
import { useSearchParams } from "react-router";
import { Button } from "@/components/ui/Button";
import { Field } from "@/components/ui/Field";
import { Pager } from "@/components/ui/Pager";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { useAuth } from "@/lib/auth";
import { fieldErrors } from "@/lib/fieldErrors";
import { plural } from "@/lib/format";
import { ApiError } from "@/lib/api/errors";
import { useActors, useAuditPage } from "../api/audit";
import { auditQuery, filtersFromParams, offsetFromParams, PAGE_SIZE, paramsFrom, RESOURCE_TYPES, type AuditFilters } from "../api/filters";
import { AuditEntry } from "./AuditEntry";

/** The audit log, newest first: filtered by the server (actor, resource, action, time), paged. */
export function AuditPage() {
  const { isAdmin } = useAuth();
  const [params, setParams] = useSearchParams();
  const applied = filtersFromParams(params);
  const offset = offsetFromParams(params);
  const { query, problems } = auditQuery(applied, offset);
  const page = useAuditPage(query, problems.length === 0);
  const actors = useActors(isAdmin);
  const [draft, setDraft] = useState<AuditFilters>(applied);
  const appliedKey = params.toString();
  const [lastKey, setLastKey] = useState(appliedKey);
  if (appliedKey !== lastKey) {
    // Back/forward or a link changed the URL: the form follows.
    setLastKey(appliedKey);
    setDraft(applied);
  }
  const apiProblems = page.error instanceof ApiError && page.error.status === 422 ? page.error.details : [];
  const errors = fieldErrors([...problems, ...apiProblems], ["actor", "resource_type", "resource_id", "action", "since", "until"]);
  const set = (k: keyof AuditFilters, v: string) => {
    setDraft({ ...draft, [k]: v });
  };

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setParams(paramsFrom(draft, 0));
  };
  const empty: AuditFilters = { actor: "", resource_type: "", resource_id: "", action: "", since: "", until: "" };
  const filtered = Object.keys(paramsFrom(applied, 0)).length > 0;

  return (
    <section>
      <PageHeader title="Audit log">{isAdmin ? "Every change, by whom, when and from where." : "Your own actions: every change you made, when and from where."}</PageHeader>
      <div className="space-y-4">
        <form onSubmit={submit} noValidate aria-label="Filter the audit log" className="space-y-3 rounded-md border border-slate-200 p-4 dark:border-slate-700">
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
            {isAdmin && (
              <Field label="Actor" errors={errors.fields.actor} hint={actors.data && actors.data.total > actors.data.items.length ? `The first ${actors.data.items.length} users` : undefined}>
                {(p) => (
                  <select {...p} value={draft.actor} onChange={(e) => { set("actor", e.target.value); }}>
                    <option value="">anyone</option>
                    {actors.data?.items.map((u) => (
                      <option key={u.id} value={u.id}>
                        {u.username}
                      </option>
                    ))}
                    {draft.actor && !actors.data?.items.some((u) => u.id === draft.actor) && <option value={draft.actor}>{draft.actor}</option>}
                  </select>
                )}
              </Field>
            )}
            <Field label="Resource type" errors={errors.fields.resource_type}>
              {(p) => (
                <select {...p} value={draft.resource_type} onChange={(e) => { set("resource_type", e.target.value); }}>
                  <option value="">any</option>
                  {RESOURCE_TYPES.map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Resource id" errors={errors.fields.resource_id}>
              {(p) => <input {...p} autoComplete="off" spellCheck={false} value={draft.resource_id} onChange={(e) => { set("resource_id", e.target.value); }} />}
            </Field>
            <Field label="Action" errors={errors.fields.action} hint="Exact, e.g. zone.update">
              {(p) => <input {...p} autoComplete="off" spellCheck={false} value={draft.action} onChange={(e) => { set("action", e.target.value); }} />}
            </Field>
            <Field label="From" errors={errors.fields.since} hint="Your local time">
              {(p) => <input {...p} type="datetime-local" value={draft.since} onChange={(e) => { set("since", e.target.value); }} />}
            </Field>
            <Field label="Until" errors={errors.fields.until} hint="Records before this time">
              {(p) => <input {...p} type="datetime-local" value={draft.until} onChange={(e) => { set("until", e.target.value); }} />}
            </Field>
          </div>
          <div className="flex flex-wrap gap-2">
            <Button type="submit" variant="primary">
              Apply filters
            </Button>
            <Button
              disabled={!filtered}
              onClick={() => {
                setDraft(empty);
                setParams({});
              }}
            >
              Clear
            </Button>
          </div>
        </form>
        {problems.length > 0 ? null : page.isPending ? (
          <Loading what="Loading the audit log" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          <Empty title={filtered ? "No record matches these filters" : "No audit records yet"} />
        ) : (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400" aria-live="polite">
              {page.data.total_exact ? plural(page.data.total, "record") : `More than ${plural(page.data.total, "record")}`}
              {filtered && " matching"}
              {page.isPlaceholderData && " — loading…"}
            </p>
            <ul aria-label="Audit records" className="space-y-2">
              {page.data.items.map((e) => (
                <AuditEntry key={e.id} entry={e} />
              ))}
            </ul>
            <Pager
              what="audit records"
              offset={offset}
              limit={PAGE_SIZE}
              shown={page.data.items.length}
              total={page.data.total}
              totalExact={page.data.total_exact}
              onOffset={(o) => {
                setParams(paramsFrom(applied, o));
              }}
            />
          </>
        )}
      </div>
    </section>
  );
}
