import { useState, type SubmitEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { useCreateCredential, useRotateCredential } from "../api/credentials";
import { errorFields, newCredentialBody, PROVIDER_LABELS, PROVIDERS, rotationBody, secretFields, isProvider } from "../api/secret";
import type { CredentialView } from "../api/types";

/** Create a credential, or rotate one (`existing`): secrets are typed in, never shown. */
export function CredentialDialog({ existing, onClose, onDone }: { existing: CredentialView | null; onClose: () => void; onDone: (message: string) => void }) {
  const create = useCreateCredential();
  const rotate = useRotateCredential();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [name, setName] = useState("");
  const [provider, setProvider] = useState<string>(existing?.provider ?? "cloudflare");
  const [secret, setSecret] = useState<Record<string, string>>({});
  const [apiBaseUrl, setApiBaseUrl] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const busy = create.isPending || rotate.isPending;
  const fields = secretFields(provider);

  const failed = (e: unknown) => {
    if (e instanceof ApiError && e.details.length > 0) {
      setErrors(fieldErrors(e.details, errorFields(provider)));
      setProblem(e.status === 422 ? null : e.message);
    } else setProblem(errorMessage(e));
    if (e instanceof ApiError && e.status === 503) recheckHealth();
  };

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    if (existing) {
      const patch = rotationBody({ provider, secret, apiBaseUrl });
      if (Object.keys(patch).length === 0) {
        setProblem("Nothing to change: type a new secret or a new API base URL.");
        return;
      }
      rotate.mutate(
        { id: existing.id, patch },
        {
          onSuccess: (c) => {
            setSecret({});
            onDone(patch.secret ? `Rotated the secret of ${c.name}.` : `Updated ${c.name}.`);
          },
          onError: failed,
        },
      );
    } else {
      create.mutate(newCredentialBody({ name, provider, secret, apiBaseUrl }), {
        onSuccess: (c) => {
          setSecret({});
          onDone(`Created ${c.name}.`);
        },
        onError: failed,
      });
    }
  };

  const title = existing ? `Rotate ${existing.name}` : "New DNS credential";
  return (
    <Dialog open title={title} onClose={onClose}>
      <form id="credential-form" onSubmit={submit} noValidate className="space-y-4" aria-label={title}>
        <FormProblems title={existing ? "Not changed" : "Not created"} message={problem} other={errors.other} />
        <fieldset disabled={!allowed} className="space-y-4">
          {!existing && (
            <>
              <Field label="Name" errors={errors.fields.name} hint="e.g. cloudflare-main">
                {(p) => <input {...p} required autoComplete="off" spellCheck={false} value={name} onChange={(e) => { setName(e.target.value); }} />}
              </Field>
              <Field label="Provider" errors={errors.fields.provider}>
                {(p) => (
                  <select {...p} value={provider} onChange={(e) => { setProvider(e.target.value); setSecret({}); }}>
                    {PROVIDERS.map((pr) => (
                      <option key={pr} value={pr}>
                        {PROVIDER_LABELS[pr]}
                      </option>
                    ))}
                  </select>
                )}
              </Field>
            </>
          )}
          {existing && (
            <p className="text-sm text-slate-600 dark:text-slate-400">
              Provider {isProvider(existing.provider) ? PROVIDER_LABELS[existing.provider] : existing.provider}. The current secret is never shown; {fields.length > 0 ? "type the new one to replace it." : "this provider has none."}
            </p>
          )}
          {fields.map((f) => (
            <Field key={f.name} label={existing ? `New ${f.label.toLowerCase()}` : f.label} errors={errors.fields[`secret.${f.name}`]} hint={existing ? "Leave every secret field empty to keep the current secret." : "Stored encrypted; never shown again."}>
              {(p) => (
                <input
                  {...p}
                  type="password"
                  autoComplete="off"
                  spellCheck={false}
                  value={secret[f.name] ?? ""}
                  onChange={(e) => {
                    setSecret({ ...secret, [f.name]: e.target.value });
                  }}
                />
              )}
            </Field>
          ))}
          {errors.fields.secret && (
            <p role="alert" className="text-sm text-red-700 dark:text-red-400">
              {errors.fields.secret.join(" ")}
            </p>
          )}
          <Field label={existing ? "New API base URL (optional)" : "API base URL (optional)"} errors={errors.fields.api_base_url} hint={existing?.api_base_url ? `Now ${existing.api_base_url}. Empty keeps it.` : "Only for a proxy or a test double of the provider's API; empty for the real one."}>
            {(p) => <input {...p} type="url" autoComplete="off" spellCheck={false} value={apiBaseUrl} onChange={(e) => { setApiBaseUrl(e.target.value); }} />}
          </Field>
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={onClose} disabled={busy}>
          Cancel
        </Button>
        <Button type="submit" form="credential-form" variant="primary" disabled={!allowed} busy={busy}>
          {existing ? "Save" : "Create credential"}
        </Button>
      </div>
    </Dialog>
  );
}
