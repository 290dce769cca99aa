import { Navigate, Outlet, useLocation } from "react-router";
import { useAuth } from "@/lib/auth";
import { ErrorState, Loading } from "@/components/ui/States";

/** Logged in, or off to /login?next=<here> (and back here afterwards). */
export function RequireAuth() {
  const { user, error } = useAuth();
  const location = useLocation();
  if (user === undefined) {
    return error ? (
      <main className="mx-auto max-w-xl p-6">
        <ErrorState error={error} title="Cannot reach the panel API" retry={() => { window.location.reload(); }} />
      </main>
    ) : (
      <main className="mx-auto max-w-xl p-6">
        <Loading what="Checking your session" />
      </main>
    );
  }
  if (user === null) {
    const next = `${location.pathname}${location.search}${location.hash}`;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <Outlet />;
}

/** Admin-only sections refuse users (the API refuses them too: 404). */
export function RequireAdmin() {
  const { isAdmin } = useAuth();
  if (!isAdmin) {
    return (
      <section aria-labelledby="refused" className="max-w-xl">
        <h1 id="refused" className="text-2xl font-semibold">Admins only</h1>
        <p className="mt-2 text-slate-600 dark:text-slate-400">This section is for administrators. Ask an admin if you need something here.</p>
      </section>
    );
  }
  return <Outlet />;
}
