import { useEffect, useId, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { useAuth } from "@/lib/auth";

/** The caller's name and role, and logout; Escape or a click outside closes it. */
export function UserMenu() {
  const { user, logout } = useAuth();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const ref = useRef<HTMLDivElement>(null);
  const menuId = useId();

  useEffect(() => {
    if (!open) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") setOpen(false);
    };
    const onClick = (e: MouseEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    document.addEventListener("mousedown", onClick);
    return () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("mousedown", onClick);
    };
  }, [open]);

  if (!user) return null;
  return (
    <div ref={ref} className="relative">
      <button
        type="button"
        aria-expanded={open}
        aria-controls={menuId}
        onClick={() => {
          setOpen((o) => !o);
        }}
        className="flex items-center gap-2 rounded-md px-2 py-1.5 text-sm hover:bg-slate-100 dark:hover:bg-slate-800"
      >
        <span className="max-w-32 truncate font-medium">{user.username}</span>
        <span className="rounded bg-slate-100 px-1.5 text-xs text-slate-600 dark:bg-slate-800 dark:text-slate-300">{user.role}</span>
      </button>
      {open && (
        <div id={menuId} className="absolute right-0 mt-1 w-56 rounded-md border border-slate-200 bg-white p-2 shadow-lg dark:border-slate-700 dark:bg-slate-900">
          <p className="px-2 py-1 text-xs text-slate-500 dark:text-slate-400">Signed in by {user.via}</p>
          <Link
            to="/account/password"
            onClick={() => {
              setOpen(false);
            }}
            className="block w-full rounded px-2 py-1.5 text-left text-sm hover:bg-slate-100 dark:hover:bg-slate-800"
          >
            Change password
          </Link>
          <button
            type="button"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              void logout()
                .catch(() => undefined)
                .finally(() => {
                  setBusy(false);
                  void navigate("/login", { replace: true });
                });
            }}
            className="w-full rounded px-2 py-1.5 text-left text-sm hover:bg-slate-100 dark:hover:bg-slate-800"
          >
            {busy ? "Logging out…" : "Log out"}
          </button>
        </div>
      )}
    </div>
  );
}
