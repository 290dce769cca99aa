// Debian's Chromium driven by playwright-core (no browser is ever downloaded), a page per
// story, a screenshot of every page the story visits (artifacts/<story>/NN-<page>.png)
// and an axe-core check of it: a serious or critical violation fails the story.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ARTIFACTS, chromiumPath } from "./env";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // Containers and CI run as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

/** One user's browser session in a story, with its screenshots and accessibility checks. */
export class Session {
  private shots = 0;
  private traced = false;
  readonly dir: string;

  private constructor(
    readonly context: BrowserContext,
    readonly page: Page,
    story: string,
    private readonly who: string,
  ) {
    this.dir = join(ARTIFACTS, story);
  }

  /** A fresh context (no cookies, no storage) at `baseURL`, 1280×800, light system theme. */
  static async open(browser: Browser, baseURL: string, story: string, who = "admin"): Promise<Session> {
    const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 800 }, colorScheme: "light" });
    context.setDefaultTimeout(20_000);
    // A trace (DOM snapshots, screenshots, network) kept only when the story fails:
    // `npx playwright-core show-trace --port 0 e2e/artifacts/<story>/trace-<who>.zip` (in web/).
    await context.tracing.start({ screenshots: true, snapshots: true });
    const page = await context.newPage();
    return new Session(context, page, story, who);
  }

  /** Empties this story's artifacts folder (once per story, before its first shot). */
  static resetArtifacts(story: string): void {
    const dir = join(ARTIFACTS, story);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  /**
   * The page as the user sees it now: a full-page screenshot named after it, and axe-core
   * run over it. Fails on any serious or critical violation, naming each.
   */
  async sees(name: string): Promise<void> {
    this.shots += 1;
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, `${String(this.shots).padStart(2, "0")}-${this.who}-${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    await this.page.evaluate(AXE_SOURCE);
    const violations = await this.page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
      const result = await axe.run(document, { resultTypes: ["violations"] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
    });
    const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    if (bad.length > 0) {
      const lines = bad.flatMap((v) => [`${v.impact ?? ""} ${v.id}: ${v.help}`, ...v.nodes.slice(0, 5).map((n) => `    at ${JSON.stringify(n.target)}: ${(n.failureSummary ?? "").replace(/\s+/g, " ")}`)]);
      throw new Error(`accessibility (axe) on "${name}" (${file}):\n${lines.join("\n")}`);
    }
  }

  /** A screenshot of whatever is on screen when a story fails, and the session's trace. */
  async failed(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await this.page.screenshot({ path: join(this.dir, `failed-${this.who}.png`), fullPage: true }).catch(() => undefined);
    await this.context.tracing.stop({ path: join(this.dir, `trace-${this.who}.zip`) }).catch(() => undefined);
    this.traced = true;
  }

  async close(): Promise<void> {
    if (!this.traced) await this.context.tracing.stop().catch(() => undefined);
    await this.context.close();
  }
}
