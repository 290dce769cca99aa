import { useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { useCan } from "@/lib/can";
import { zoneLabel } from "@/lib/routeMatch";
import { useRecheckHealth } from "@/lib/health";
import { emptyZoneForm, formErrors, formFromZone, refusedByFormatGate, specFromForm, type FormErrors, type ZoneFormValues } from "../api/form";
import { NO_NEW_SECRETS, secretsSet } from "../api/policies";
import { isDegradedZone, type AnyZone, type Diff } from "../api/types";
import { zoneAfterRollback } from "../api/history";
import { appliedFromDiff, dryRun, useApplyZoneWrite, useZone, type Applied, type ZoneWrite } from "../api/zones";
import { DnsCheck } from "@/components/DnsCheck";
import { LiveOnFleet } from "./LiveOnFleet";
import { ZoneCertificateStatus } from "./ZoneCertificateStatus";
import { ZoneDiff } from "./ZoneDiff";
import { ZoneForm } from "./ZoneForm";
import { ZoneHistory, type RolledBack } from "./ZoneHistory";

const NO_ERRORS: FormErrors = { fields: {}, other: [] };

/** State a save hands to the next page (after a create, the zone's own page). */
export interface AppliedState {
  applied?: Applied;
  deleted?: string;
  /** A rollback from the History section: the revision restored, and the one it recorded. */
  rolledBack?: { to: number; revision: number | null };
}

/**
 * After a rollback from the History section: the zone's page again (its detail is the
 * rolled-back zone already, which remounts the editor with a fresh form), with the
 * outcome in the history state; the zones list when the rollback deleted the zone.
 */
function useShowRollback(title: string) {
  const navigate = useNavigate();
  const location = useLocation();
  return ({ to, diff }: RolledBack) => {
    const zone = zoneAfterRollback(diff);
    const state: AppliedState = { applied: appliedFromDiff(diff, zone), rolledBack: { to, revision: diff.revision ?? null } };
    if (zone === null && diff.deleted.length > 0) void navigate("/zones", { state: { ...state, deleted: title } satisfies AppliedState });
    else void navigate(location.pathname, { replace: true, state });
  };
}

export function ZoneEditorPage() {
  const { id } = useParams();
  const zone = useZone(id);
  const showRollback = useShowRollback("the zone");
  if (id === undefined) return <ZoneEditor zone={null} />;
  if (zone.isPending) return <Loading what="Loading the zone" />;
  if (zone.isError) {
    const gone = zone.error instanceof ApiError && zone.error.status === 404;
    return (
      <>
        <PageHeader title="Zone" />
        <ErrorState error={zone.error} retry={() => void zone.refetch()} />
        <p className="mt-3 mb-6">
          <Link to="/zones" className="text-teal-700 underline dark:text-teal-400">
            Back to the zones
          </Link>
        </p>
        {/* A deleted zone keeps its history, and a rollback re-creates it. */}
        {gone && <ZoneHistory zoneId={id} title="the deleted zone" domainId={null} deleted onRolledBack={showRollback} />}
      </>
    );
  }
  // A fresh form whenever the zone itself changes (after a save, or another user's).
  const z = zone.data;
  return <ZoneEditor key={`${z.id}-${"updated_at" in z ? z.updated_at : ""}`} zone={z} />;
}

function ZoneEditor({ zone }: { zone: AnyZone | null }) {
  const navigate = useNavigate();
  const location = useLocation();
  const handed = (location.state ?? {}) as AppliedState;
  const can = useCan(zone ? { kind: "zone", domainId: zone.domain_id } : { kind: "new-zone" });
  const allowed = can.allowed;
  const recheckHealth = useRecheckHealth();
  const apply = useApplyZoneWrite();

  const [values, setValues] = useState<ZoneFormValues>(() => (zone ? formFromZone(zone) : emptyZoneForm));
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [checking, setChecking] = useState(false);
  /** The write the diff shows, and the form values it was made from (for its problems). */
  const [pending, setPending] = useState<{ write: ZoneWrite; diff: Diff; form: ZoneFormValues | null } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  /** A 409: the save was refused as a whole (a live proxy too old for policies, a duplicate). */
  const [refusal, setRefusal] = useState<{ title: string; message: string } | null>(null);
  const applied: Applied | null = handed.applied ?? null;

  const degraded = zone !== null && isDegradedZone(zone);
  const writable = allowed && !degraded;
  const title = zone ? zoneLabel(zone.hostname, zone.path_prefix, zone.match) : "New zone";
  const showRollback = useShowRollback(title);
  const rolledBack = handed.rolledBack ?? null;

  /** Shows why a write was refused; `form`: the values it was made from, for the fields. */
  const failed = (e: unknown, form: ZoneFormValues | null) => {
    if (e instanceof ApiError && e.status === 422 && e.details.length > 0) setErrors(formErrors(e.details, form ?? undefined));
    else if (e instanceof ApiError && e.status === 409) {
      const gate = refusedByFormatGate(e.details);
      setRefusal({ title: gate ? "Not saved: upgrade the proxies first" : "Not saved: it conflicts with what is stored", message: e.message });
      setErrors(formErrors(e.details, form ?? undefined));
    } else setProblem(errorMessage(e));
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  /** Step 1: the API's dry run; its diff opens for confirmation. */
  const preview = (write: ZoneWrite, form: ZoneFormValues | null) => {
    setChecking(true);
    setProblem(null);
    setRefusal(null);
    setErrors(NO_ERRORS);
    dryRun(write)
      .then((diff) => {
        setPending({ write, diff, form });
      })
      .catch((e: unknown) => {
        failed(e, form);
      })
      .finally(() => {
        setChecking(false);
      });
  };

  const save = () => {
    const result = specFromForm(values);
    if (!result.ok) {
      setRefusal(null);
      setErrors(formErrors(result.problems, values));
      return;
    }
    preview(zone ? { op: "update", id: zone.id, spec: result.spec } : { op: "create", spec: result.spec }, values);
  };

  /** Step 2: confirmed — the write for real. */
  const confirm = () => {
    if (!pending) return;
    const { write, form } = pending;
    apply.mutate(write, {
      onSuccess: (done) => {
        setPending(null);
        if (write.op === "delete") {
          void navigate("/zones", { state: { applied: done, deleted: title } satisfies AppliedState });
        } else if (write.op === "create" && done.zone) {
          void navigate(`/zones/${done.zone.id}`, { state: { applied: done } satisfies AppliedState });
        } else {
          // The saved zone replaces the cached one, which remounts this editor with a
          // fresh form; the write's outcome travels in the history state.
          void navigate(location.pathname, { replace: true, state: { applied: done } satisfies AppliedState });
        }
      },
      onError: (e) => {
        setPending(null);
        failed(e, form);
      },
    });
  };

  return (
    <section aria-labelledby="zone-title">
      <nav aria-label="Breadcrumb" className="mb-2 text-sm">
        <Link to="/zones" className="text-teal-700 underline dark:text-teal-400">
          Zones
        </Link>{" "}
        / <span className="break-all">{title}</span>
      </nav>
      <h1 id="zone-title" className="mb-4 text-2xl font-semibold break-all">
        {title}
      </h1>
      <div className="space-y-4">
        {rolledBack && (
          <Banner tone="success" title={`Rolled back to revision ${rolledBack.to}`}>
            The zone is as it was right after revision {rolledBack.to}
            {rolledBack.revision !== null ? `; the rollback is recorded as revision ${rolledBack.revision}` : ""}.
          </Banner>
        )}
        {applied && <LiveOnFleet key={applied.answeredAt} applied={applied} />}
        {degraded && (
          <Banner tone="warning" title="Shown as Redis holds it">
            PostgreSQL is down, so this is the route the proxies serve; it cannot be edited until the database is back.
          </Banner>
        )}
        {problem && (
          <Banner tone="error" title="Not saved">
            {problem}
          </Banner>
        )}
        <ZoneForm
          values={values}
          onChange={setValues}
          errors={errors}
          disabled={!writable}
          busy={checking}
          submitLabel={zone ? "Review changes" : "Review new zone"}
          onSubmit={save}
          refusal={
            refusal && (
              <Banner tone="error" title={refusal.title}>
                {refusal.message}
              </Banner>
            )
          }
          footer={
            <>
              {zone && (
                <Button
                  variant="danger"
                  disabled={!writable || checking}
                  onClick={() => {
                    preview({ op: "delete", id: zone.id }, null);
                  }}
                >
                  Delete zone
                </Button>
              )}
              <WritesBlocked can={can} />
            </>
          }
        />
        {zone && !degraded && (
          <section aria-label="DNS check" className="space-y-2">
            <h2 className="text-lg font-semibold">DNS</h2>
            <DnsCheck target={{ kind: "zone", id: zone.id }} />
          </section>
        )}
        {zone && !degraded && <ZoneCertificateStatus zoneId={zone.id} />}
        {zone && !degraded && <ZoneHistory zoneId={zone.id} title={title} domainId={zone.domain_id} onRolledBack={showRollback} />}
      </div>
      <Dialog
        open={pending !== null}
        wide
        title={pending?.write.op === "delete" ? `Delete ${title}?` : "Review the change"}
        onClose={() => {
          if (!apply.isPending) setPending(null);
        }}
        footer={
          <>
            <Button
              disabled={apply.isPending}
              onClick={() => {
                setPending(null);
              }}
            >
              Cancel
            </Button>
            <Button variant={pending?.write.op === "delete" ? "danger" : "primary"} busy={apply.isPending} disabled={!allowed} onClick={confirm}>
              {pending?.write.op === "delete" ? "Delete" : pending?.write.op === "create" ? "Create" : "Apply"}
            </Button>
          </>
        }
      >
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">The API checked this change without applying it. Nothing changes until you confirm.</p>
        {pending && <ZoneDiff diff={pending.diff} secrets={pending.write.op === "update" ? secretsSet(pending.write.spec.policies) : NO_NEW_SECRETS} />}
      </Dialog>
    </section>
  );
}

