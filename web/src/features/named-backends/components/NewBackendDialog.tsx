import { useState, type SubmitEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Checkbox, Field } from "@/components/ui/Field";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { useCreateBackend } from "../api/backends";
import type { NamedBackendView } from "../api/types";

export const TEMPLATE_HINT = "Placeholders: {host} the zone's hostname, {first_label} its first label, any other lower-case {name} a parameter each zone gives.";

export function NewBackendDialog({ isAdmin, onClose, onCreated }: { isAdmin: boolean; onClose: () => void; onCreated: (b: NamedBackendView) => void }) {
  const create = useCreateBackend();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [name, setName] = useState("");
  const [template, setTemplate] = useState("");
  const [preset, setPreset] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    create.mutate(
      { name: name.trim(), url_template: template.trim(), ...(isAdmin ? { preset } : {}) },
      {
        onSuccess: onCreated,
        onError: (err) => {
          if (err instanceof ApiError && err.details.length > 0) {
            setErrors(fieldErrors(err.details, ["name", "url_template", "preset"]));
            if (err.status !== 422) setProblem(err.message);
          } else setProblem(errorMessage(err));
          if (err instanceof ApiError && err.status === 503) recheckHealth();
        },
      },
    );
  };

  return (
    <Dialog open title="New named backend" onClose={onClose}>
      <form id="new-backend" onSubmit={submit} noValidate className="space-y-4">
        <FormProblems title="Not created" message={problem} other={errors.other} />
        <fieldset disabled={!allowed} className="space-y-4">
          <Field label="Name" errors={errors.fields.name} hint="1–63 of a–z 0–9 - _; zones refer to it by this name">
            {(p) => <input {...p} required autoComplete="off" spellCheck={false} value={name} onChange={(e) => { setName(e.target.value); }} />}
          </Field>
          <Field label="URL template" errors={errors.fields.url_template} hint={TEMPLATE_HINT}>
            {(p) => <input {...p} required autoComplete="off" spellCheck={false} placeholder="http://{first_label}.svc.internal:{port}" value={template} onChange={(e) => { setTemplate(e.target.value); }} />}
          </Field>
          {isAdmin && (
            <div>
              <Checkbox label="Preset (every user may use it; only admins change it)" checked={preset} onChange={(e) => { setPreset(e.target.checked); }} />
              {errors.fields.preset && <p className="text-sm text-red-700 dark:text-red-400">{errors.fields.preset.join(" ")}</p>}
            </div>
          )}
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={onClose} disabled={create.isPending}>
          Cancel
        </Button>
        <Button type="submit" form="new-backend" variant="primary" disabled={!allowed} busy={create.isPending}>
          Create
        </Button>
      </div>
    </Dialog>
  );
}
