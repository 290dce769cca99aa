// The one theme setting: "system" (follow prefers-color-scheme, the default) or a
// remembered "light"/"dark". public/theme-init.js applies the same rule before the first
// paint; this module keeps it applied and lets the toggle change it.
import { useSyncExternalStore } from "react";

export type ThemeSetting = "system" | "light" | "dark";

const STORAGE_KEY = "switchyard.theme";
const listeners = new Set<() => void>();
const media = () => window.matchMedia("(prefers-color-scheme: dark)");

export function readThemeSetting(): ThemeSetting {
  try {
    const value = window.localStorage.getItem(STORAGE_KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

export function isDark(setting: ThemeSetting, systemDark: boolean): boolean {
  return setting === "dark" || (setting === "system" && systemDark);
}

export function applyTheme(): void {
  document.documentElement.classList.toggle("dark", isDark(readThemeSetting(), media().matches));
}

export function setThemeSetting(setting: ThemeSetting): void {
  try {
    if (setting === "system") window.localStorage.removeItem(STORAGE_KEY);
    else window.localStorage.setItem(STORAGE_KEY, setting);
  } catch {
    /* not remembered, still applied for this page */
  }
  applyTheme();
  listeners.forEach((l) => {
    l();
  });
}

/** The next setting of the toggle: system → light → dark → system. */
export function nextThemeSetting(setting: ThemeSetting): ThemeSetting {
  return setting === "system" ? "light" : setting === "light" ? "dark" : "system";
}

/** Follows system changes while the setting is "system". Call once at start. */
export function watchSystemTheme(): void {
  media().addEventListener("change", () => {
    applyTheme();
    listeners.forEach((l) => {
      l();
    });
  });
}

export function useThemeSetting(): ThemeSetting {
  return useSyncExternalStore(
    (onChange) => {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    readThemeSetting,
    () => "system",
  );
}
