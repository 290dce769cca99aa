import { useState, type SubmitEvent } from "react";
import { Link } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Field } from "@/components/ui/Field";
import { PageHeader } from "@/components/ui/States";
import { FormProblems } from "@/components/FormProblems";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { useAuth } from "@/lib/auth";
import { fieldErrors, NO_FIELD_ERRORS, type FieldErrors } from "@/lib/fieldErrors";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { checkPasswordForm, hasProblems, MIN_PASSWORD, useChangePassword } from "../api/password";

/** The logged-in user changes their own password. */
export function ChangePasswordPage() {
  const { user } = useAuth();
  const change = useChangePassword();
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [errors, setErrors] = useState<FieldErrors>(NO_FIELD_ERRORS);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState(false);

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setProblem(null);
    setDone(false);
    const form = { current, next, repeat };
    const found = checkPasswordForm(form);
    setErrors(found);
    if (hasProblems(found)) return;
    change.mutate(form, {
      onSuccess: () => {
        setDone(true);
        setCurrent("");
        setNext("");
        setRepeat("");
      },
      onError: (err) => {
        if (err instanceof ApiError && err.status === 403) {
          // The current password was wrong (the session's CSRF token is sent always).
          setErrors({ fields: { current_password: [err.message] }, other: [] });
        } else if (err instanceof ApiError && err.details.length > 0) {
          setErrors(fieldErrors(err.details, ["current_password", "new_password"]));
        } else setProblem(errorMessage(err));
        if (err instanceof ApiError && err.status === 503) recheckHealth();
      },
    });
  };

  return (
    <section>
      <PageHeader title="Change password">
        {user ? `For ${user.username}. ` : ""}Your other sessions end; this one stays. API keys keep working: revoke them on the{" "}
        <Link to="/api-keys" className="text-teal-700 underline dark:text-teal-400">
          API keys
        </Link>{" "}
        page if they may have leaked too.
      </PageHeader>
      <div className="max-w-md space-y-4">
        {done && (
          <Banner tone="success" live>
            Password changed. Your other sessions have ended.
          </Banner>
        )}
        <FormProblems title="The password was not changed" message={problem} other={errors.other} />
        <WritesBlocked />
        <form onSubmit={submit} noValidate aria-label="Change password" className="space-y-4">
          <fieldset disabled={!allowed} className="space-y-4">
            <Field label="Current password" errors={errors.fields.current_password}>
              {(p) => <input {...p} type="password" autoComplete="current-password" value={current} onChange={(e) => { setCurrent(e.target.value); }} />}
            </Field>
            <Field label="New password" errors={errors.fields.new_password} hint={`At least ${MIN_PASSWORD} characters`}>
              {(p) => <input {...p} type="password" autoComplete="new-password" value={next} onChange={(e) => { setNext(e.target.value); }} />}
            </Field>
            <Field label="New password again" errors={errors.fields.repeat}>
              {(p) => <input {...p} type="password" autoComplete="new-password" value={repeat} onChange={(e) => { setRepeat(e.target.value); }} />}
            </Field>
          </fieldset>
          <Button type="submit" variant="primary" disabled={!allowed} busy={change.isPending}>
            Change password
          </Button>
        </form>
      </div>
    </section>
  );
}
