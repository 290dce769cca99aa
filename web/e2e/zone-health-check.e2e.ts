// Story: an admin gives a zone with two backends an HTTP health check in the zone form.
// A probe timeout as long as the interval is refused by the API next to that input; fixed,
// the dry run names the check and the zone goes live. One backend's /healthz answers 500
// (its port open: a TCP check would call it up), so the proxy sends everything to the
// other, and the overview says a proxy has an upstream endpoint down. When the backend
// recovers it takes traffic again; after a reload the form shows the stored check.
import { expect, test } from "vitest";
import { Backend } from "./support/backend";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-health-check");

/** Which backends answer `n` requests for `host`, by their `x-upstream`. */
async function answeredBy(host: string, n: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await world.stack.proxy.get(host);
    names.push(`${r.status} ${r.upstream ?? "-"}`);
  }
  return names;
}

test("an admin adds a health check and the proxy takes the failing backend out", async () => {
  const { stack } = world;
  await stack.domain("health.test");
  const sick = await Backend.start("zone-health-check-sick");
  sick.healthStatus = 500;
  try {
    await world.as("admin", async (admin) => {
      const { page } = admin;
      await logIn(page, ADMIN.username, ADMIN.password);
      await openSection(page, "Zones");
      await page.getByRole("button", { name: "New zone" }).click();
      await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
      await page.getByLabel("Hostname", { exact: true }).fill("app.health.test");
      await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);
      await page.getByRole("button", { name: "Add upstream" }).click();
      await page.getByLabel("Upstream 2 URL", { exact: true }).fill(sick.url);

      await page.getByRole("button", { name: /^Policies/ }).click();
      await page.getByRole("checkbox", { name: "Health check" }).check();
      const check = page.getByRole("group", { name: "Health check" });
      expect(await check.getByLabel("Health check path", { exact: true }).inputValue()).toBe("/healthz");
      await check.getByLabel("Interval (ms)", { exact: true }).fill("1000");
      await check.getByLabel("Failures to take out", { exact: true }).fill("1");
      await check.getByLabel("Passes to bring back", { exact: true }).fill("1");
      // The default timeout (1,000 ms) is as long as this interval: the API refuses it there.
      const review = page.getByRole("button", { name: "Review new zone" });
      await review.click();
      const timeout = check.getByLabel("Probe timeout (ms)", { exact: true });
      await check.getByText(/timeout_ms is 1000; it must be shorter than interval_ms \(1000\)/).waitFor();
      expect(await timeout.getAttribute("aria-invalid")).toBe("true");
      await admin.sees("zone-health-check-field-error");
      await timeout.fill("300");

      await review.click();
      const dialog = page.getByRole("dialog", { name: "Review the change" });
      await dialog.waitFor();
      expect(await dialog.getByRole("row", { name: /Policies/ }).textContent()).toContain(
        "health check GET /healthz expecting 200-399 every 1000 ms, timeout 300 ms, out after 1 failure, back after 1 pass",
      );
      await admin.sees("zone-health-check-diff");
      await dialog.getByRole("button", { name: "Create" }).click();
      await page.getByRole("heading", { level: 1, name: "app.health.test" }).waitFor();
      await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

      // The sick backend's port is open, but its health check fails: only the other answers.
      const healthy = `200 ${stack.backend.name}`;
      await eventually("the proxy sends app.health.test to the healthy backend only", async () => {
        const names = await answeredBy("app.health.test", 6);
        return names.every((n) => n === healthy) ? names : undefined;
      });
      expect(sick.seen.some((r) => r.path === "/healthz")).toBe(true);

      // The overview says so (from the proxy's heartbeat), without calling the panel degraded.
      await openSection(page, "Overview");
      const notice = page.getByRole("status", { name: "Upstream endpoints down" });
      await notice.getByText(`proxy "${stack.proxy.id}": 1 upstream endpoint down`, { exact: false }).waitFor({ timeout: 30_000 });
      const row = page.getByRole("table", { name: "Proxies" }).getByRole("row", { name: new RegExp(stack.proxy.id) });
      expect((await row.getByRole("cell").allTextContents()).at(-1)).toBe("1");
      await admin.sees("overview-endpoint-down");

      // It recovers: traffic reaches it again.
      sick.healthStatus = 200;
      await eventually("the recovered backend takes traffic again", async () => {
        const names = await answeredBy("app.health.test", 6);
        return names.includes(`200 ${sick.name}`) ? names : undefined;
      });

      // The editor shows the stored check.
      await openSection(page, "Zones");
      await page.getByRole("link", { name: "app.health.test" }).first().click();
      await page.getByRole("heading", { level: 1, name: "app.health.test" }).waitFor();
      expect(await page.getByRole("checkbox", { name: "Health check" }).isChecked()).toBe(true);
      expect(await check.getByLabel("Interval (ms)", { exact: true }).inputValue()).toBe("1000");
      expect(await check.getByLabel("Probe timeout (ms)", { exact: true }).inputValue()).toBe("300");
      expect(await check.getByLabel("Expected status", { exact: true }).inputValue()).toBe("200-399");
      await admin.sees("zone-health-check-reloaded");
      const badges = page.getByRole("button", { name: /^Policies/ });
      expect(await badges.textContent()).toContain("health check");
    });
  } finally {
    await sick.stop();
  }
});
