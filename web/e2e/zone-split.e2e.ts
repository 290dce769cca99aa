// Story: an admin adds a canary beside a zone's backend with the traffic split editor: a
// dark launch (the canary at weight 0) reached only by a forced cohort header. A group
// name with capitals is refused by the API next to that input; fixed, the dry run
// describes the split and the zone goes live. Through the proxy everyday requests reach
// the stable side and get the sticky cookie naming it; a request forcing the cohort reaches
// the canary and gets no cookie. After a reload the form shows the stored groups.
import { expect, test } from "vitest";
import { Backend } from "./support/backend";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-split");

test("an admin dark-launches a canary with a traffic split and a forced cohort", async () => {
  const { stack } = world;
  await stack.domain("canary.test");
  const canary = await Backend.start("zone-split-canary");
  try {
    await world.as("admin", async (admin) => {
      const { page } = admin;
      await logIn(page, ADMIN.username, ADMIN.password);
      await openSection(page, "Zones");
      await page.getByRole("button", { name: "New zone" }).click();
      await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
      await page.getByLabel("Hostname", { exact: true }).fill("app.canary.test");
      await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);

      // Switched on, the split starts as the usual canary: the zone's backend stable, a canary beside it.
      await page.getByRole("button", { name: /^Policies/ }).click();
      await page.getByRole("checkbox", { name: "Traffic split" }).check();
      const split = page.getByRole("group", { name: "Traffic split" });
      expect(await split.getByLabel("Group 1 name", { exact: true }).inputValue()).toBe("stable");
      expect(await split.getByLabel("Group 1 upstreams", { exact: true }).inputValue()).toBe("route");
      expect(await split.getByLabel("Group 2 upstreams", { exact: true }).inputValue()).toBe("own");
      await split.getByLabel("Group 1 weight", { exact: true }).fill("1");
      await split.getByLabel("Group 2 name", { exact: true }).fill("Canary");
      await split.getByLabel("Group 2 weight", { exact: true }).fill("0");
      await split.getByLabel("Group 2 upstream 1 URL", { exact: true }).fill(canary.url);
      await split.getByLabel("Forced cohort header", { exact: true }).fill("x-canary-cohort");
      expect(await split.getByText(/Shares: stable 100%, Canary 0%/).count()).toBe(1);

      // The API checks the names: capitals are refused, next to that input.
      const review = page.getByRole("button", { name: "Review new zone" });
      await review.click();
      const name = split.getByLabel("Group 2 name", { exact: true });
      await split.getByText(/group name "Canary" must be 1–32 of a-z, 0-9/).waitFor();
      expect(await name.getAttribute("aria-invalid")).toBe("true");
      await admin.sees("zone-split-field-error");
      await name.fill("canary");

      await review.click();
      const dialog = page.getByRole("dialog", { name: "Review the change" });
      await dialog.waitFor();
      expect(await dialog.getByRole("row", { name: /Policies/ }).textContent()).toContain(
        `split stable 1 (the zone's backend) / canary 0 (${canary.url}), sticky by cookie sy_cohort (86400 s), forced by header x-canary-cohort`,
      );
      await admin.sees("zone-split-diff");
      await dialog.getByRole("button", { name: "Create" }).click();
      await page.getByRole("heading", { level: 1, name: "app.canary.test" }).waitFor();
      await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

      // Everyday requests: the stable side, with the sticky cookie naming it.
      const first = await eventually("app.canary.test is served", async () => {
        const r = await stack.proxy.get("app.canary.test");
        return r.status === 200 ? r : undefined;
      });
      expect(first.upstream).toBe(stack.backend.name);
      expect(first.headers["set-cookie"]).toEqual(["sy_cohort=stable; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"]);
      for (let i = 0; i < 5; i++) expect((await stack.proxy.get("app.canary.test")).upstream).toBe(stack.backend.name);
      // The forced cohort reaches the dark-launched canary, and sets no cookie.
      const forced = await stack.proxy.get("app.canary.test", "/", { "x-canary-cohort": "canary" });
      expect(forced.upstream).toBe(canary.name);
      expect(forced.headers["set-cookie"]).toBeUndefined();

      // After a reload the form shows the stored split.
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "app.canary.test" }).waitFor();
      expect(await page.getByRole("checkbox", { name: "Traffic split" }).isChecked()).toBe(true);
      expect(await split.getByLabel("Group 2 name", { exact: true }).inputValue()).toBe("canary");
      expect(await split.getByLabel("Group 2 weight", { exact: true }).inputValue()).toBe("0");
      expect(await split.getByLabel("Group 2 upstream 1 URL", { exact: true }).inputValue()).toBe(canary.url);
      expect(await split.getByLabel("Group 1 upstreams", { exact: true }).inputValue()).toBe("route");
      expect(await split.getByLabel("Sticky cookie name", { exact: true }).inputValue()).toBe("sy_cohort");
      expect(await split.getByLabel("Forced cohort header", { exact: true }).inputValue()).toBe("x-canary-cohort");
      expect(await page.getByText(/set through the API: saving keeps/).count()).toBe(0);
      await admin.sees("zone-split-reloaded");
    });
  } finally {
    await canary.stop();
  }
});
