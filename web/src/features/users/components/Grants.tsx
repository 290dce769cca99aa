import { useState, type SubmitEvent } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { ErrorState, Loading } from "@/components/ui/States";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { FormProblems } from "@/components/FormProblems";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { formatDate } from "@/lib/format";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { useDebounced } from "@/lib/useDebounced";
import { emptyGrantForm, grantBody, grantErrors, grantResource, type GrantFormValues, type Level, type ResourceKind } from "../api/grantForm";
import { useCreateGrant, useGrants, useBackendName, useDomainName, useResourceChoices, useRevokeGrant } from "../api/users";
import type { GrantView } from "../api/types";

const KIND_LABEL: Record<ResourceKind, string> = { domain: "Domain", named_backend: "Named backend" };

function Name({ query, id }: { query: { isPending: boolean; isError: boolean; data?: string | undefined }; id: string }) {
  if (query.isPending) return <span className="text-slate-500 dark:text-slate-400">…</span>;
  if (query.isError || query.data === undefined) return <span className="font-mono text-xs">{id}</span>;
  return <span className="break-all">{query.data}</span>;
}
function DomainName({ id }: { id: string }) {
  return <Name query={useDomainName(id)} id={id} />;
}
function BackendName({ id }: { id: string }) {
  return <Name query={useBackendName(id)} id={id} />;
}
function ResourceName({ kind, id }: { kind: ResourceKind; id: string }) {
  return kind === "domain" ? <DomainName id={id} /> : <BackendName id={id} />;
}

/** A user's grants: what they may read or edit, grant more, revoke. */
export function Grants({ userId, username }: { userId: string; username: string }) {
  const grants = useGrants(userId);
  const revoke = useRevokeGrant(userId);
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [revoking, setRevoking] = useState<GrantView | null>(null);

  return (
    <section aria-labelledby="grants-title" className="space-y-3">
      <h2 id="grants-title" className="text-lg font-semibold">
        Grants
      </h2>
      {grants.isPending ? (
        <Loading what="Loading grants" />
      ) : grants.isError ? (
        <ErrorState error={grants.error} retry={() => void grants.refetch()} />
      ) : grants.data.items.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-400">{username} has no grants: they see no domains, zones or custom named backends but their own.</p>
      ) : (
        <Table caption={`Grants of ${username}`}>
          <THead>
            <tr>
              <Th>On</Th>
              <Th>Resource</Th>
              <Th>Level</Th>
              <Th>Since</Th>
              <Th className="relative">
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </THead>
          <TBody>
            {grants.data.items.map((g) => {
              const r = grantResource(g);
              return (
                <Tr key={g.id}>
                  <Td>{r ? KIND_LABEL[r.kind] : "—"}</Td>
                  <Td>{r ? <ResourceName kind={r.kind} id={r.id} /> : "—"}</Td>
                  <Td>{g.level}</Td>
                  <Td className="whitespace-nowrap">{formatDate(g.created_at)}</Td>
                  <Td>
                    <Button variant="danger" className="relative" disabled={!allowed} onClick={() => { revoke.reset(); setRevoking(g); }}>
                      Revoke
                      <span className="sr-only">
                        {" "}
                        {g.level} on {r ? <>{KIND_LABEL[r.kind].toLowerCase()} <ResourceName kind={r.kind} id={r.id} /></> : "this resource"}
                      </span>
                    </Button>
                  </Td>
                </Tr>
              );
            })}
          </TBody>
        </Table>
      )}
      <GrantForm userId={userId} />
      <Dialog
        open={revoking !== null}
        title="Revoke this grant?"
        onClose={() => { if (!revoke.isPending) setRevoking(null); }}
        footer={
          <>
            <Button disabled={revoke.isPending} onClick={() => { setRevoking(null); }}>
              Cancel
            </Button>
            <Button
              variant="danger"
              busy={revoke.isPending}
              disabled={!allowed}
              onClick={() => {
                if (!revoking) return;
                revoke.mutate(revoking.id, {
                  onSuccess: () => { setRevoking(null); },
                  onError: (e) => { if (e instanceof ApiError && e.status === 503) recheckHealth(); },
                });
              }}
            >
              Revoke grant
            </Button>
          </>
        }
      >
        {revoking && (() => {
          const r = grantResource(revoking);
          return (
            <p className="text-sm">
              {username} loses {revoking.level} access to {r ? <>{KIND_LABEL[r.kind].toLowerCase()} <ResourceName kind={r.kind} id={r.id} /></> : "this resource"} at once.
            </p>
          );
        })()}
        {revoke.isError && (
          <Banner tone="error" title="Not revoked" className="mt-3">
            {errorMessage(revoke.error)}
          </Banner>
        )}
      </Dialog>
    </section>
  );
}

function GrantForm({ userId }: { userId: string }) {
  const create = useCreateGrant(userId);
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [values, setValues] = useState<GrantFormValues>(emptyGrantForm);
  const [search, setSearch] = useState("");
  const q = useDebounced(search.trim(), 300);
  const choices = useResourceChoices(values.kind, q);
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [granted, setGranted] = useState(false);
  const items = choices.data?.items ?? [];
  const chosen = values.resourceId || (items[0]?.id ?? "");

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    setGranted(false);
    const body = grantBody(userId, { ...values, resourceId: chosen });
    if (!body.ok) {
      setErrors(grantErrors(body.problems));
      return;
    }
    create.mutate(body.body, {
      onSuccess: () => {
        setGranted(true);
        setValues({ ...values, resourceId: "" });
      },
      onError: (err) => {
        if (err instanceof ApiError && err.details.length > 0) {
          setErrors(grantErrors(err.details));
          if (err.status !== 422) setProblem(err.message);
        } else setProblem(errorMessage(err));
        if (err instanceof ApiError && err.status === 503) recheckHealth();
      },
    });
  };

  const noun = values.kind === "domain" ? "domain" : "named backend";
  return (
    <form onSubmit={submit} noValidate aria-label="Grant access" className="space-y-3 rounded-md border border-slate-200 p-4 dark:border-slate-700">
      <h3 className="font-semibold">Grant access</h3>
      <FormProblems title="Not granted" message={problem} other={errors.other} />
      {granted && <p role="status" className="text-sm text-emerald-800 dark:text-emerald-300">Granted.</p>}
      <fieldset disabled={!allowed} className="grid gap-3 sm:grid-cols-2">
        <Field label="Kind of resource">
          {(p) => (
            <select
              {...p}
              value={values.kind}
              onChange={(e) => {
                setValues({ ...values, kind: e.target.value as ResourceKind, resourceId: "" });
                setSearch("");
              }}
            >
              <option value="domain">Domain (its zones)</option>
              <option value="named_backend">Named backend</option>
            </select>
          )}
        </Field>
        <Field label="Level" errors={errors.fields.level}>
          {(p) => (
            <select {...p} value={values.level} onChange={(e) => { setValues({ ...values, level: e.target.value as Level }); }}>
              <option value="read">read</option>
              <option value="edit">edit</option>
            </select>
          )}
        </Field>
        <Field label={`Find a ${noun}`} hint={choices.data?.more ? `Showing the first ${items.length} of ${choices.data.total}: type to narrow` : undefined}>
          {(p) => <input {...p} type="search" autoComplete="off" spellCheck={false} value={search} onChange={(e) => { setSearch(e.target.value); setValues({ ...values, resourceId: "" }); }} />}
        </Field>
        <Field label={values.kind === "domain" ? "Domain" : "Named backend"} errors={errors.fields.resource ?? (choices.isError ? [errorMessage(choices.error)] : undefined)}>
          {(p) => (
            <select {...p} value={chosen} onChange={(e) => { setValues({ ...values, resourceId: e.target.value }); }}>
              {choices.isPending && <option value="">Loading…</option>}
              {!choices.isPending && items.length === 0 && <option value="">No {noun} matches</option>}
              {items.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </fieldset>
      <Button type="submit" variant="primary" disabled={!allowed || chosen === ""} busy={create.isPending}>
        Grant
      </Button>
    </form>
  );
}
