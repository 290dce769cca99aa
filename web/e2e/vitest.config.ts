// The browser tests (npm run test:e2e): real binaries, PostgreSQL, Redis and Chromium, one
// story file at a time (each starts its own stack; the machine has two cores).
import { fileURLToPath, URL } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ["default", "./e2e/support/summary-reporter.ts"],
  },
});
