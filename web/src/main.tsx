import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "@/app/App";
import { applyTheme, watchSystemTheme } from "@/lib/theme";
import "./index.css";

// public/theme-init.js already applied the theme before paint; this keeps it in step.
applyTheme();
watchSystemTheme();

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
