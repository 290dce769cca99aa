import { useState, type SubmitEvent } from "react";
import { Button } from "@/components/ui/Button";
import { Dialog } from "@/components/ui/Dialog";
import { Field } from "@/components/ui/Field";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { useCreateUser } from "../api/users";
import type { UserView } from "../api/types";

export function NewUserDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (u: UserView) => void }) {
  const create = useCreateUser();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState("user");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setErrors(NO_FIELD_ERRORS);
    setProblem(null);
    create.mutate(
      { username: username.trim(), password, role },
      {
        onSuccess: onCreated,
        onError: (err) => {
          if (err instanceof ApiError && err.details.length > 0) {
            setErrors(fieldErrors(err.details, ["username", "password", "role"]));
            if (err.status !== 422) setProblem(err.message);
          } else setProblem(errorMessage(err));
          if (err instanceof ApiError && err.status === 503) recheckHealth();
        },
      },
    );
  };

  return (
    <Dialog open title="New user" onClose={onClose}>
      <form id="new-user" onSubmit={submit} noValidate className="space-y-4">
        <FormProblems title="Not created" message={problem} other={errors.other} />
        <fieldset disabled={!allowed} className="space-y-4">
          <Field label="Username" errors={errors.fields.username}>
            {(p) => <input {...p} required autoComplete="off" spellCheck={false} value={username} onChange={(e) => { setUsername(e.target.value); }} />}
          </Field>
          <Field label="Password" errors={errors.fields.password} hint="At least 12 characters; give it to them another way">
            {(p) => <input {...p} required type="password" autoComplete="new-password" value={password} onChange={(e) => { setPassword(e.target.value); }} />}
          </Field>
          <Field label="Role" errors={errors.fields.role}>
            {(p) => (
              <select {...p} value={role} onChange={(e) => { setRole(e.target.value); }}>
                <option value="user">user (sees only what is granted)</option>
                <option value="admin">admin (everything)</option>
              </select>
            )}
          </Field>
        </fieldset>
      </form>
      <div className="mt-4 flex flex-wrap items-center justify-end gap-2">
        <WritesBlocked />
        <Button onClick={onClose} disabled={create.isPending}>
          Cancel
        </Button>
        <Button type="submit" form="new-user" variant="primary" disabled={!allowed} busy={create.isPending}>
          Create user
        </Button>
      </div>
    </Dialog>
  );
}
