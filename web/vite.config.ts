/// <reference types="vitest/config" />
// Vite: the dev server proxies /api to a local panel-api (default 127.0.0.1:8081,
// SWITCHYARD_API to point elsewhere) so the session cookie is same-origin, exactly as
// when panel-api serves web/dist itself.
import { fileURLToPath, URL } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

const api = process.env.SWITCHYARD_API ?? "http://127.0.0.1:8081";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  resolve: {
    alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) },
  },
  server: {
    // "/api/", not "/api": the panel's own /api-keys page must stay the SPA's.
    proxy: { "/api/": { target: api, changeOrigin: false } },
  },
  build: {
    // The panel's CSP forbids inline scripts and styles: keep every asset a file.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
