// The panel's web benchmark (bench/panel-web.sh): not a test, a measurement run with the
// browser tests' stack. One file, no time limit worth the name.
import { fileURLToPath, URL } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("../..", import.meta.url)),
  test: {
    include: ["e2e/bench/*.run.ts"],
    environment: "node",
    testTimeout: 60 * 60_000,
    hookTimeout: 10 * 60_000,
  },
});
