// Applies the theme before the first paint (no flash of the wrong theme). The same rule
// as src/lib/theme.ts: "light" / "dark" remembered in localStorage, otherwise the
// system's preference. An external file: the panel's CSP forbids inline scripts.
(function () {
  var setting = null;
  try {
    setting = window.localStorage.getItem("switchyard.theme");
  } catch {
    /* storage may be disabled: follow the system */
  }
  var dark =
    setting === "dark" ||
    (setting !== "light" && window.matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.classList.toggle("dark", dark);
})();
