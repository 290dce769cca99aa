import { useState, type SubmitEvent } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { CopyButton } from "@/components/CopyButton";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { expiryFromDate, useCreateKey, type CreatedApiKey } from "../api/keys";

/** Create a key; its secret is shown here exactly once, then forgotten by the page. */
export function NewKeyDialog({ onClose }: { onClose: () => void }) {
  const create = useCreateKey();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [name, setName] = useState("");
  const [expires, setExpires] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    const expiresAt = expiryFromDate(expires);
    if (!expiresAt.ok) {
      setErrors({ fields: { expires_at: ["not a date"] }, other: [] });
      return;
    }
    create.mutate(
      { name: name.trim(), expires_at: expiresAt.value },
      {
        onSuccess: setCreated,
        onError: (err) => {
          if (err instanceof ApiError && err.details.length > 0) setErrors(fieldErrors(err.details, ["name", "expires_at"]));
          else setProblem(errorMessage(err));
          if (err instanceof ApiError && err.status === 503) recheckHealth();
        },
      },
    );
  };

  if (created) {
    return (
      <Dialog
        open
        title={`API key “${created.name}” created`}
        onClose={onClose}
        footer={
          <Button variant="primary" onClick={onClose}>
            I have saved it
          </Button>
        }
      >
        <div className="space-y-3">
          <Banner tone="warning" title="Copy this key now: it is shown only this once">
            The panel stores only its hash. If you lose it, revoke it and create another.
          </Banner>
          <div>
            <p id="new-key-label" className="text-sm font-medium">
              Your new API key
            </p>
            <div className="mt-1 flex flex-wrap items-center gap-2">
              <code aria-labelledby="new-key-label" className="min-w-0 flex-1 rounded bg-slate-100 p-2 font-mono text-xs break-all select-all dark:bg-slate-800">
                {created.key}
              </code>
              <CopyButton text={created.key} what="the API key" />
            </div>
          </div>
          <p className="text-sm text-slate-600 dark:text-slate-400">
            Use it as <code>Authorization: Bearer …</code>. Prefix <code>{created.prefix}</code>
            {created.expires_at ? `, expires ${new Date(created.expires_at).toLocaleString()}` : ", does not expire"}.
          </p>
        </div>
      </Dialog>
    );
  }

  return (
    <Dialog open title="New API key" onClose={onClose}>
      <form id="new-key" onSubmit={submit} noValidate className="space-y-4">
        <FormProblems title="No key was created" message={problem} other={errors.other} />
        <fieldset disabled={!allowed} className="space-y-4">
          <Field label="Name" errors={errors.fields.name} hint="What it is for, e.g. deploy script">
            {(p) => <input {...p} required autoComplete="off" value={name} onChange={(e) => { setName(e.target.value); }} />}
          </Field>
          <Field label="Expires on (optional)" errors={errors.fields.expires_at} hint="At the end of that day; empty: never">
            {(p) => <input {...p} type="date" value={expires} onChange={(e) => { setExpires(e.target.value); }} />}
          </Field>
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={onClose} disabled={create.isPending}>
          Cancel
        </Button>
        <Button type="submit" form="new-key" variant="primary" disabled={!allowed} busy={create.isPending}>
          Create key
        </Button>
      </div>
    </Dialog>
  );
}
