// Where the browser tests find what they run: the workspace's binaries, the built panel,
// Chromium, PostgreSQL and Redis. Every default is the project's machine; each can be
// moved by the variable named beside it.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** web/ */
export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The repository root. */
export const ROOT = resolve(WEB_DIR, "..");

/**
 * The workspace's debug binaries (scripts/test builds them first): SWITCHYARD_BIN_DIR, or
 * `$CARGO_TARGET_DIR/debug`, or `target/debug`.
 */
export const BIN_DIR =
  process.env.SWITCHYARD_BIN_DIR ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "debug");

/** The built panel panel-api serves (`npm run build`); SWITCHYARD_E2E_WEB_DIST moves it. */
export const WEB_DIST = process.env.SWITCHYARD_E2E_WEB_DIST ?? join(WEB_DIR, "dist");

/** Screenshots, one folder per story (git-ignored). */
export const ARTIFACTS = process.env.SWITCHYARD_E2E_ARTIFACTS ?? join(WEB_DIR, "e2e", "artifacts");

/** An admin URL of PostgreSQL (each run creates and drops its own database). */
export const POSTGRES_ADMIN_URL =
  process.env.SWITCHYARD_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Redis (each stack uses its own key prefix and deletes only its keys). */
export const REDIS_URL = process.env.SWITCHYARD_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** Debian's Chromium: CHROMIUM_PATH, else `chromium` on the PATH. Never a downloaded one. */
export function chromiumPath(): string {
  const given = process.env.CHROMIUM_PATH;
  if (given) return given;
  for (const candidate of ["chromium", "chromium-browser"]) {
    try {
      const found = execFileSync("sh", ["-c", `command -v ${candidate}`], { encoding: "utf8" }).trim();
      if (found) return found;
    } catch {
      /* try the next name */
    }
  }
  throw new Error("no chromium on the PATH: apt-get install chromium (or set CHROMIUM_PATH)");
}

/** The path of a workspace binary, refusing to go on when it was not built. */
export function workspaceBin(name: string): string {
  const bin = join(BIN_DIR, name);
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: build the workspace's binaries first (cargo build --workspace --bins)`);
  }
  return bin;
}
