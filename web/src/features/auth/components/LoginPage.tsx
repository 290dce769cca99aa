import { useState, type SubmitEvent } from "react";
import { Navigate, useNavigate, useSearchParams } from "react-router";
import { safeNext, useAuth } from "@/lib/auth";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Field } from "@/components/ui/Field";

function loginProblem(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) return "Wrong username or password (or the account is disabled).";
  return errorMessage(error);
}

export function LoginPage() {
  const { user, login } = useAuth();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const next = safeNext(params.get("next"));
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  if (user) return <Navigate to={next} replace />;

  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    login(username, password)
      .then(() => navigate(next, { replace: true }))
      .catch((err: unknown) => {
        setProblem(loginProblem(err));
      })
      .finally(() => {
        setBusy(false);
      });
  };

  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4 rounded-lg border border-slate-200 p-6 shadow-sm dark:border-slate-800" aria-labelledby="login-title">
        <div className="flex items-center gap-2">
          <img src="/favicon.svg" alt="" className="size-8" />
          <h1 id="login-title" className="text-xl font-semibold">
            Log in to Switchyard
          </h1>
        </div>
        {problem && <Banner tone="error">{problem}</Banner>}
        <Field label="Username">
          {(p) => <input {...p} name="username" autoComplete="username" autoFocus required value={username} onChange={(e) => { setUsername(e.target.value); }} />}
        </Field>
        <Field label="Password">
          {(p) => <input {...p} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => { setPassword(e.target.value); }} />}
        </Field>
        <Button type="submit" variant="primary" busy={busy} className="w-full">
          Log in
        </Button>
      </form>
    </main>
  );
}
