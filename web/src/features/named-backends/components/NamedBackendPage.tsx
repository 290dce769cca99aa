import { useState, type SubmitEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { useAuth } from "@/lib/auth";
import { useCan } from "@/lib/can";
import { zoneLabel } from "@/lib/routeMatch";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { formatDate, plural } from "@/lib/format";
import { useRecheckHealth } from "@/lib/health";
import { dryRunDelete, dryRunUpdate, useBackend, useBackendZones, useDeleteBackend, useUpdateBackend } from "../api/backends";
import { ownership } from "../api/rules";
import type { BackendDiff, NamedBackendView } from "../api/types";
import { TEMPLATE_HINT } from "./NewBackendDialog";
import { Parameters } from "./Parameters";
import { TemplateChange } from "./TemplateChange";

export function NamedBackendPage() {
  const { id = "" } = useParams();
  const backend = useBackend(id);
  if (backend.isPending) return <Loading what="Loading the named backend" />;
  if (backend.isError) {
    return (
      <section>
        <PageHeader title="Named backend" />
        <ErrorState error={backend.error} retry={() => void backend.refetch()} />
        <p className="mt-3">
          <Link to="/named-backends" className="text-teal-700 underline dark:text-teal-400">
            Back to the named backends
          </Link>
        </p>
      </section>
    );
  }
  return <BackendEditor key={`${backend.data.id}-${backend.data.updated_at}`} backend={backend.data} />;
}

function BackendEditor({ backend }: { backend: NamedBackendView }) {
  const { user } = useAuth();
  const can = useCan({ kind: "named-backend", backend });
  const recheckHealth = useRecheckHealth();
  const navigate = useNavigate();
  const location = useLocation();
  const handed = (location.state ?? {}) as { created?: boolean; saved?: string };
  const update = useUpdateBackend(backend.id);
  const remove = useDeleteBackend(backend.id);
  const [name, setName] = useState(backend.name);
  const [template, setTemplate] = useState(backend.url_template);
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [pending, setPending] = useState<{ op: "update" | "delete"; diff: BackendDiff } | null>(null);

  const failed = (e: unknown) => {
    if (e instanceof ApiError && e.details.length > 0) {
      setErrors(fieldErrors(e.details, ["name", "url_template"]));
      if (e.status !== 422) setProblem(e.message);
    } else setProblem(errorMessage(e));
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  const review = (op: "update" | "delete") => {
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    setChecking(true);
    (op === "update" ? dryRunUpdate(backend.id, { name: name.trim(), url_template: template.trim() }) : dryRunDelete(backend.id))
      .then((diff) => {
        setPending({ op, diff });
      })
      .catch(failed)
      .finally(() => {
        setChecking(false);
      });
  };

  const confirm = () => {
    if (!pending) return;
    if (pending.op === "update") {
      update.mutate(
        { name: name.trim(), url_template: template.trim() },
        {
          onSuccess: (diff) => {
            setPending(null);
            void navigate(location.pathname, { replace: true, state: { saved: `Saved. ${diff.zones.length > 0 ? `${plural(diff.zones.length, "zone")} re-rendered.` : ""}` } });
          },
          onError: (e) => {
            setPending(null);
            failed(e);
          },
        },
      );
    } else {
      remove.mutate(undefined, {
        onSuccess: () => {
          void navigate("/named-backends", { replace: true });
        },
        onError: (e) => {
          setPending(null);
          failed(e);
        },
      });
    }
  };

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    review("update");
  };

  const writable = can.allowed;
  return (
    <section aria-labelledby="backend-title">
      <nav aria-label="Breadcrumb" className="mb-2 text-sm">
        <Link to="/named-backends" className="text-teal-700 underline dark:text-teal-400">
          Named backends
        </Link>{" "}
        / <span className="break-all">{backend.name}</span>
      </nav>
      <h1 id="backend-title" className="mb-1 text-2xl font-semibold break-all">
        {backend.name}
      </h1>
      <p className="mb-4 text-sm text-slate-600 dark:text-slate-400">
        {ownership(backend, user)} · created {formatDate(backend.created_at)} · updated {formatDate(backend.updated_at)}
      </p>
      <div className="space-y-4">
        {handed.created && <Banner tone="success">Created. Zones can use it as a named backend “{backend.name}”.</Banner>}
        {handed.saved && <Banner tone="success">{handed.saved}</Banner>}
        {can.because === "rights" && <Banner tone="info">{can.reason}</Banner>}
        <FormProblems title="Not saved" message={problem} other={errors.other} />
        <form onSubmit={submit} noValidate aria-label="Named backend" className="max-w-3xl space-y-4">
          <fieldset disabled={!writable} className="space-y-4">
            <Field label="Name" errors={errors.fields.name} hint="Renaming keeps every zone on this backend">
              {(p) => <input {...p} autoComplete="off" spellCheck={false} value={name} onChange={(e) => { setName(e.target.value); }} />}
            </Field>
            <Field label="URL template" errors={errors.fields.url_template} hint={TEMPLATE_HINT}>
              {(p) => <input {...p} autoComplete="off" spellCheck={false} value={template} onChange={(e) => { setTemplate(e.target.value); }} />}
            </Field>
          </fieldset>
          <p className="flex flex-wrap items-center gap-2 text-sm">
            Parameters each zone gives: <Parameters names={backend.parameters} />
          </p>
          <div className="flex flex-wrap items-center gap-3">
            <Button type="submit" variant="primary" disabled={!writable} busy={checking && pending === null}>
              Review changes
            </Button>
            <Button variant="danger" disabled={!writable || checking} onClick={() => { review("delete"); }}>
              Delete named backend
            </Button>
            {can.because === "health" && <WritesBlocked can={can} />}
          </div>
        </form>
        <ZonesUsing backendId={backend.id} />
      </div>
      <Dialog
        open={pending !== null}
        wide
        title={pending?.op === "delete" ? `Delete ${backend.name}?` : "Review the change"}
        onClose={() => { if (!update.isPending && !remove.isPending) setPending(null); }}
        footer={
          <>
            <Button disabled={update.isPending || remove.isPending} onClick={() => { setPending(null); }}>
              Cancel
            </Button>
            <Button variant={pending?.op === "delete" ? "danger" : "primary"} busy={update.isPending || remove.isPending} disabled={!can.allowed} onClick={confirm}>
              {pending?.op === "delete" ? "Delete" : "Apply"}
            </Button>
          </>
        }
      >
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">The API checked this without applying it. Nothing changes until you confirm.</p>
        {pending?.op === "update" && <TemplateChange diff={pending.diff} />}
        {pending?.op === "delete" && <p className="text-sm">No zone uses it, so no route changes.</p>}
      </Dialog>
    </section>
  );
}

/** The zones that use this backend (the API lists them by `named_backend_id`), paged by cursor. */
function ZonesUsing({ backendId }: { backendId: string }) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const zones = useBackendZones(backendId, after);
  return (
    <section aria-labelledby="zones-using" className="space-y-2">
      <h2 id="zones-using" className="text-lg font-semibold">
        Zones using it
      </h2>
      {zones.isPending ? (
        <Loading what="Loading its zones" />
      ) : zones.isError ? (
        <ErrorState error={zones.error} retry={() => void zones.refetch()} />
      ) : zones.data.items.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">No zone you can see uses it.</p>
      ) : (
        <>
          <p className="text-sm text-slate-600 dark:text-slate-400">{zones.data.total_exact ? plural(zones.data.total, "zone") : `More than ${plural(zones.data.total, "zone")}`}</p>
          <ul aria-label="Zones using this backend" className="divide-y divide-slate-200 rounded-md border border-slate-200 dark:divide-slate-800 dark:border-slate-700">
            {zones.data.items.map((z) => (
              <li key={z.id} className="flex flex-wrap justify-between gap-2 px-3 py-2 text-sm">
                <Link to={`/zones/${z.id}`} className="break-all text-teal-700 underline-offset-2 hover:underline dark:text-teal-400">
                  {zoneLabel(z.hostname, z.path_prefix, z.match)}
                </Link>
                {z.backend.kind === "named" && Object.keys(z.backend.params ?? {}).length > 0 && (
                  <span className="font-mono text-xs break-all text-slate-600 dark:text-slate-400">
                    {Object.entries(z.backend.params ?? {})
                      .map(([k, v]) => `${k}=${v}`)
                      .join(" ")}
                  </span>
                )}
              </li>
            ))}
          </ul>
          {(cursors.length > 1 || zones.data.next) && (
            <nav aria-label="Pages of zones using it" className="flex items-center gap-2">
              <Button disabled={cursors.length <= 1} onClick={() => { setCursors((c) => c.slice(0, -1)); }}>
                Previous
              </Button>
              <span className="text-sm text-slate-600 dark:text-slate-400">Page {cursors.length}</span>
              <Button
                disabled={!zones.data.next || zones.isPlaceholderData}
                onClick={() => {
                  const next = zones.data.next;
                  if (next) setCursors((c) => [...c, next]);
                }}
              >
                Next
              </Button>
            </nav>
          )}
        </>
      )}
    </section>
  );
}
