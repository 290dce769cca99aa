// The workspace's binaries as real processes: output in a log file inside a working
// directory of their own, stopped with SIGTERM (SIGKILL after a deadline), and killed
// when the test process exits for any reason, so a failing test leaves nothing running.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workspaceBin } from "./env";

/** How long a service may take to exit after SIGTERM. */
export const STOP_DEADLINE_MS = 30_000;

/** Variables of the caller's environment that would change what a service does. */
const SCRUBBED = /^(SWITCHYARD_|OTEL_|DATABASE_URL$|RUST_LOG$)/;

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export class Service {
  readonly name: string;
  readonly dir: string;
  readonly log: string;
  /** A directory the log is copied into when the service stops (the story's artifacts). */
  keepLogIn: string | null = null;
  private child: ChildProcess | null;
  private exited: Promise<number | null>;

  private constructor(name: string, child: ChildProcess, dir: string, log: string) {
    this.name = name;
    this.child = child;
    this.dir = dir;
    this.log = log;
    running.add(child);
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        running.delete(child);
        resolve(code ?? (signal ? -1 : null));
      });
      child.once("error", () => {
        running.delete(child);
        resolve(-1);
      });
    });
  }

  /** Starts workspace binary `binary` with `args` and `env` in a new working directory. */
  static start(binary: string, args: string[], env: Record<string, string> = {}): Service {
    const dir = mkdtempSync(join(tmpdir(), `sy-e2e-${binary}-`));
    const log = join(dir, `${binary}.log`);
    const fd = openSync(log, "w");
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !SCRUBBED.test(k)));
    try {
      const child = spawn(workspaceBin(binary), args, {
        cwd: dir,
        env: { ...clean, RUST_LOG: "info", ...env },
        stdio: ["ignore", fd, fd],
      });
      return new Service(binary, child, dir, log);
    } finally {
      closeSync(fd);
    }
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  logText(): string {
    try {
      return readFileSync(this.log, "utf8");
    } catch {
      return "";
    }
  }

  /** The last lines of the log, for failure messages. */
  logTail(lines = 20): string {
    return this.logText().trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** SIGTERM, then waits for the exit (SIGKILL after the deadline); removes its directory. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child) {
      this.child = null;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => {
            resolve("timeout");
          }, STOP_DEADLINE_MS);
        });
        const outcome = await Promise.race([this.exited, timedOut]);
        clearTimeout(timer);
        if (outcome === "timeout") {
          child.kill("SIGKILL");
          await this.exited;
        }
      }
    }
    if (this.keepLogIn) {
      mkdirSync(this.keepLogIn, { recursive: true });
      copyFileSync(this.log, join(this.keepLogIn, `${this.name}.log`));
    }
    if (process.env.SWITCHYARD_TEST_KEEP !== "1") rmSync(this.dir, { recursive: true, force: true });
  }
}
