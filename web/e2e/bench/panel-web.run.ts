// Benchmark of the web panel at scale (bench/panel-web.sh): 100,000 zones loaded into a
// fresh database through POST /api/v1/zones/bulk (20,000 per request, the API's limit),
// then, in Chromium, the zones page loaded cold (a new browser context: empty HTTP cache)
// and warm (reloaded), each BENCH_RUNS times: first paint, first contentful paint and the
// moment the zones table first holds a row, all from the page's own clock (Performance
// API; the row's time by a MutationObserver installed before any of the page's scripts).
// Also the size of the initial JavaScript, gzipped: what index.html loads (entry +
// modulepreload), and everything fetched until the rows showed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { test } from "vitest";
import { launchBrowser } from "../support/browser";
import { WEB_DIST } from "../support/env";
import { ADMIN, Stack } from "../support/stack";

const ZONES = Number(process.env.BENCH_ZONES ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BULK_MAX = 20_000;

interface Timing {
  firstPaint: number;
  firstContentfulPaint: number;
  rowsShown: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const ms = (x: number) => `${x.toFixed(0)} ms`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const say = (line: string) => {
  console.log(`panel-web: ${line}`);
};

/** index.html's own scripts and modulepreloads: what the first load must fetch. */
function entryJs(): { files: number; raw: number; gzipped: number } {
  const html = readFileSync(join(WEB_DIST, "index.html"), "utf8");
  const srcs = [...html.matchAll(/<script[^>]+src="([^"]+\.js)"/g), ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+\.js)"/g)].map((m) => m[1] ?? "");
  let raw = 0;
  let gzipped = 0;
  for (const src of new Set(srcs)) {
    const body = readFileSync(join(WEB_DIST, src.replace(/^\//, "")));
    raw += body.length;
    gzipped += gzipSync(body, { level: 9 }).length;
  }
  return { files: new Set(srcs).size, raw, gzipped };
}

test(`the zones page with ${ZONES} zones`, async () => {
  const stack = await Stack.start("bench", { proxy: false });
  const browser = await launchBrowser();
  try {
    // --- load the zones ------------------------------------------------------------------
    await stack.domain("bench.test");
    const backend = { kind: "upstreams", upstreams: [{ url: stack.backend.url, weight: 1 }] };
    const loadStart = performance.now();
    let requests = 0;
    for (let from = 0; from < ZONES; from += BULK_MAX) {
      const create = Array.from({ length: Math.min(BULK_MAX, ZONES - from) }, (_, i) => ({ hostname: `z${String(from + i).padStart(6, "0")}.bench.test`, backend }));
      await stack.admin.expect("POST", "/zones/bulk", { create }, 200);
      requests += 1;
    }
    const loadSecs = (performance.now() - loadStart) / 1000;
    say(`${ZONES} zones loaded through POST /api/v1/zones/bulk in ${requests} requests: ${loadSecs.toFixed(1)} s (${Math.round(ZONES / loadSecs)} zones/s)`);

    // --- measure the zones page ------------------------------------------------------------
    const login = await browser.newContext({ baseURL: stack.url });
    const answer = await login.request.post("/api/v1/auth/login", { data: { username: ADMIN.username, password: ADMIN.password } });
    if (!answer.ok()) throw new Error(`login: ${answer.status()}`);
    const storageState = await login.storageState();
    await login.close();

    const cold: Timing[] = [];
    const warm: Timing[] = [];
    let fetchedJs = { files: 0, gzipped: 0 };
    for (let run = 0; run < RUNS; run++) {
      const context = await browser.newContext({ baseURL: stack.url, storageState, viewport: { width: 1280, height: 800 } });
      await context.addInitScript(() => {
        const w = window as unknown as { __rowsShown?: number };
        const observer = new MutationObserver(() => {
          if (w.__rowsShown === undefined && document.querySelector("table tbody tr")) {
            w.__rowsShown = performance.now();
            observer.disconnect();
          }
        });
        observer.observe(document, { childList: true, subtree: true });
      });
      const page = await context.newPage();
      // The first cold load's scripts, as the server sent them (then gzipped here).
      const scripts: Promise<number>[] = [];
      let collecting = run === 0;
      page.on("response", (r) => {
        if (collecting && r.request().resourceType() === "script" && r.status() === 200) {
          scripts.push(r.body().then((b) => gzipSync(b, { level: 9 }).length, () => 0));
        }
      });
      const measure = async (): Promise<Timing> => {
        await page.waitForFunction(() => (window as unknown as { __rowsShown?: number }).__rowsShown !== undefined, undefined, { timeout: 120_000 });
        return page.evaluate(() => {
          const paint = (name: string) => performance.getEntriesByType("paint").find((e) => e.name === name)?.startTime ?? NaN;
          return { firstPaint: paint("first-paint"), firstContentfulPaint: paint("first-contentful-paint"), rowsShown: (window as unknown as { __rowsShown: number }).__rowsShown };
        });
      };
      await page.goto("/zones");
      cold.push(await measure());
      if (collecting) {
        collecting = false;
        const sizes = await Promise.all(scripts);
        fetchedJs = { files: sizes.length, gzipped: sizes.reduce((a, b) => a + b, 0) };
      }
      await page.reload();
      warm.push(await measure());
      await context.close();
    }
    for (const [name, runs] of [["cold (new context, empty cache)", cold], ["warm (reload, cached assets)", warm]] as const) {
      say(
        `/zones ${name}, median of ${runs.length}: first paint ${ms(median(runs.map((r) => r.firstPaint)))}, ` +
          `first contentful paint ${ms(median(runs.map((r) => r.firstContentfulPaint)))}, ` +
          `rows shown ${ms(median(runs.map((r) => r.rowsShown)))} (runs: ${runs.map((r) => ms(r.rowsShown)).join(", ")})`,
      );
    }
    const entry = entryJs();
    say(`initial JS (index.html's entry + modulepreloads): ${entry.files} files, ${kib(entry.raw)} raw, ${kib(entry.gzipped)} gzipped`);
    say(`JS fetched until the rows showed (cold): ${fetchedJs.files} files, ${kib(fetchedJs.gzipped)} gzipped`);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
