import { nextThemeSetting, setThemeSetting, useThemeSetting } from "@/lib/theme";

const LABELS = { system: "Theme: system", light: "Theme: light", dark: "Theme: dark" } as const;
const ICONS = { system: "◐", light: "☀", dark: "☾" } as const;

/** Cycles system → light → dark; the choice is remembered in this browser. */
export function ThemeToggle() {
  const setting = useThemeSetting();
  const next = nextThemeSetting(setting);
  return (
    <button
      type="button"
      onClick={() => {
        setThemeSetting(next);
      }}
      className="rounded-md px-2 py-1.5 text-sm hover:bg-slate-100 dark:hover:bg-slate-800"
      title={`${LABELS[setting]} (switch to ${next})`}
    >
      <span aria-hidden="true">{ICONS[setting]}</span>
      <span className="sr-only sm:not-sr-only sm:ml-1">{LABELS[setting]}</span>
    </button>
  );
}
