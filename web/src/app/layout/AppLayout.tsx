import { useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useAuth } from "@/lib/auth";
import { DegradedBanner } from "@/components/DegradedBanner";
import { cn } from "@/components/ui/cn";
import { visibleNav } from "../nav";
import { ThemeToggle } from "./ThemeToggle";
import { UserMenu } from "./UserMenu";

export function AppLayout() {
  const { isAdmin } = useAuth();
  const [navOpen, setNavOpen] = useState(false);
  const location = useLocation();
  // Close the small-screen menu whenever the page changes.
  const [lastPath, setLastPath] = useState(location.pathname);
  if (lastPath !== location.pathname) {
    setLastPath(location.pathname);
    setNavOpen(false);
  }
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 dark:focus:bg-slate-900">
        Skip to content
      </a>
      <header className="sticky top-0 z-30 flex items-center gap-2 border-b border-slate-200 bg-white/95 px-3 py-2 backdrop-blur dark:border-slate-800 dark:bg-slate-950/95">
        <button
          type="button"
          className="rounded-md p-2 hover:bg-slate-100 lg:hidden dark:hover:bg-slate-800"
          aria-expanded={navOpen}
          aria-controls="main-nav"
          onClick={() => {
            setNavOpen((o) => !o);
          }}
        >
          <span className="sr-only">{navOpen ? "Close menu" : "Open menu"}</span>
          <svg aria-hidden="true" viewBox="0 0 20 20" className="size-5" fill="currentColor">
            <path d="M3 5h14v2H3zM3 9h14v2H3zM3 13h14v2H3z" />
          </svg>
        </button>
        <NavLink to="/" className="mr-auto flex items-center gap-2 rounded font-semibold">
          <img src="/favicon.svg" alt="" className="size-6" />
          Switchyard
        </NavLink>
        <ThemeToggle />
        <UserMenu />
      </header>
      <div className="mx-auto flex max-w-[1920px]">
        <nav
          id="main-nav"
          aria-label="Main"
          className={cn(
            "w-full shrink-0 border-b border-slate-200 p-3 lg:sticky lg:top-[53px] lg:block lg:h-[calc(100vh-53px)] lg:w-56 lg:border-b-0 lg:border-r dark:border-slate-800",
            navOpen ? "block" : "hidden",
          )}
        >
          <ul className="space-y-1">
            {visibleNav(isAdmin).map((item) => (
              <li key={item.to}>
                <NavLink
                  to={item.to}
                  end={item.to === "/"}
                  className={({ isActive }) =>
                    cn(
                      "block rounded-md px-3 py-2 text-sm",
                      isActive
                        ? "bg-teal-50 font-semibold text-teal-900 dark:bg-teal-950 dark:text-teal-100"
                        : "text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800",
                    )
                  }
                >
                  {item.label}
                  {item.admin && <span className="ml-2 text-xs font-normal text-slate-500 dark:text-slate-400">admin</span>}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1} className="min-w-0 flex-1 space-y-4 p-4 lg:p-6">
          <DegradedBanner />
          <Outlet />
        </main>
      </div>
    </div>
  );
}
