// Story: an admin gives a zone with two backends retries, a circuit breaker and a total
// timeout in the zone form. Five tries are too many: the API says so next to that input;
// fixed, the dry run names the retry and the breaker, and the zone goes live. One backend
// starts answering 503: every request still gets the other's 200 (the 503s are retried
// there), and after two failures in a row the failing backend's circuit opens and it gets
// nothing more. After a reload the form shows what was stored.
import { expect, test } from "vitest";
import { Backend } from "./support/backend";
import { ADMIN } from "./support/stack";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-resilience");

test("an admin adds retries and a circuit breaker, and a failing backend stops mattering", async () => {
  const { stack } = world;
  await stack.domain("resilience.test");
  const failing = await Backend.start("zone-resilience-failing");
  try {
    await world.as("admin", async (admin) => {
      const { page } = admin;
      await logIn(page, ADMIN.username, ADMIN.password);
      await openSection(page, "Zones");
      await page.getByRole("button", { name: "New zone" }).click();
      await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
      await page.getByLabel("Hostname", { exact: true }).fill("app.resilience.test");
      await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);
      await page.getByRole("button", { name: "Add upstream" }).click();
      await page.getByLabel("Upstream 2 URL", { exact: true }).fill(failing.url);
      await page.getByLabel("Total timeout (ms)", { exact: true }).fill("5000");

      await page.getByRole("button", { name: /^Policies/ }).click();
      await page.getByRole("checkbox", { name: "Retries" }).check();
      const retries = page.getByRole("group", { name: "Retries" });
      await retries.getByLabel("Tries in all", { exact: true }).fill("9");
      await retries.getByLabel("Backoff (ms)", { exact: true }).fill("0");
      await retries.getByLabel("Longest backoff (ms)", { exact: true }).fill("0");
      await page.getByRole("checkbox", { name: "Circuit breaker" }).check();
      const breaker = page.getByRole("group", { name: "Circuit breaker" });
      await breaker.getByLabel("Failures in a row", { exact: true }).fill("2");
      await breaker.getByLabel("Open for (seconds)", { exact: true }).fill("3600");

      // Nine tries are refused by the API, next to the input.
      const review = page.getByRole("button", { name: "Review new zone" });
      await review.click();
      const tries = retries.getByLabel("Tries in all", { exact: true });
      await retries.getByText(/attempts is 9; a retry policy allows 2–5 tries in all/).waitFor();
      expect(await tries.getAttribute("aria-invalid")).toBe("true");
      await admin.sees("zone-resilience-field-error");
      await tries.fill("2");

      await review.click();
      const dialog = page.getByRole("dialog", { name: "Review the change" });
      await dialog.waitFor();
      const policies = await dialog.getByRole("row", { name: /Policies/ }).textContent();
      expect(policies).toContain("retry 2 tries on 502, 503, 504, resets, budget 20%, backoff 0–0 ms");
      expect(policies).toContain("circuit breaker after 2 failures, open 3600 s");
      expect(await dialog.getByRole("row", { name: /Timeouts/ }).textContent()).toContain("total 5000 ms");
      await admin.sees("zone-resilience-diff");
      await dialog.getByRole("button", { name: "Create" }).click();
      await page.getByRole("heading", { level: 1, name: "app.resilience.test" }).waitFor();
      await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

      // The second backend fails: its 503s are retried on the first, nobody sees them.
      failing.status = 503;
      const healthy = `200 ${stack.backend.name}`;
      for (let i = 0; i < 8; i++) {
        const r = await stack.proxy.get("app.resilience.test");
        expect(`${r.status} ${r.upstream ?? "-"}`).toBe(healthy);
      }
      // Two failures in a row opened its circuit: it gets no more requests.
      const tried = failing.seen.length;
      expect(tried).toBe(2);
      for (let i = 0; i < 6; i++) {
        const r = await stack.proxy.get("app.resilience.test");
        expect(r.status).toBe(200);
      }
      expect(failing.seen.length).toBe(tried);

      // The editor shows what was stored.
      await openSection(page, "Zones");
      await page.getByRole("link", { name: "app.resilience.test" }).first().click();
      await page.getByRole("heading", { level: 1, name: "app.resilience.test" }).waitFor();
      expect(await page.getByRole("checkbox", { name: "Retries" }).isChecked()).toBe(true);
      expect(await retries.getByLabel("Tries in all", { exact: true }).inputValue()).toBe("2");
      expect(await breaker.getByLabel("Failures in a row", { exact: true }).inputValue()).toBe("2");
      expect(await page.getByLabel("Total timeout (ms)", { exact: true }).inputValue()).toBe("5000");
      const badges = await page.getByRole("button", { name: /^Policies/ }).textContent();
      expect(badges).toContain("retry");
      expect(badges).toContain("circuit breaker");
      await admin.sees("zone-resilience-reloaded");
    });
  } finally {
    await failing.stop();
  }
});
