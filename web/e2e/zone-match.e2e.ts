// Story: an admin splits one host by method. Beside a plain zone on api.split.test, a
// second zone on the same hostname and prefix takes only POST, to its own upstream. A
// header pattern the API cannot compile is refused next to its input; fixed, the dry run
// shows the conditions, and the zones list tells the two zones apart. Through the real
// proxy, POST reaches the new zone's upstream and GET the plain zone's.
import { expect, test } from "vitest";
import { Backend } from "./support/backend";
import { eventually } from "./support/eventually";
import { ADMIN } from "./support/stack";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-match");

test("an admin sends POST on a host to its own upstream", async () => {
  const { stack } = world;
  await stack.domain("split.test");
  // The plain zone: every method, to the stack's backend.
  await stack.zone("api.split.test");
  const writes = await Backend.start("writes-backend");
  try {
    await world.as("admin", async (admin) => {
      const { page } = admin;
      await logIn(page, ADMIN.username, ADMIN.password);
      await openSection(page, "Zones");
      await page.getByRole("button", { name: "New zone" }).click();
      await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
      await page.getByLabel("Hostname", { exact: true }).fill("api.split.test");
      await page.getByLabel("Upstream 1 URL", { exact: true }).fill(writes.url);

      // The conditions are folded away on a new zone; opened, POST is one chip.
      const toggle = page.getByRole("button", { name: /^Match conditions/ });
      expect(await toggle.getAttribute("aria-expanded")).toBe("false");
      await toggle.click();
      const post = page.getByRole("button", { name: "POST", exact: true });
      await post.click();
      expect(await post.getAttribute("aria-pressed")).toBe("true");
      // A header pattern the API cannot compile: refused next to its input.
      await page.getByRole("button", { name: "Add header condition" }).click();
      await page.getByLabel("Header condition 1 name", { exact: true }).fill("x-client");
      await page.getByLabel("Header condition 1 test", { exact: true }).selectOption("regex");
      const pattern = page.getByLabel("Header condition 1 pattern", { exact: true });
      await pattern.fill("(");
      expect(await toggle.textContent()).toContain("POST");
      await admin.sees("zone-match-form");

      const review = page.getByRole("button", { name: "Review new zone" });
      await review.click();
      await eventually("the pattern is marked invalid", async () => ((await pattern.getAttribute("aria-invalid")) === "true" ? true : undefined));
      const described = await pattern.evaluate((el) =>
        (el.getAttribute("aria-describedby") ?? "")
          .split(" ")
          .map((id) => document.getElementById(id)?.textContent ?? "")
          .join(" "),
      );
      expect(described).toMatch(/regular expression/);
      await admin.sees("zone-match-field-error");
      await page.getByRole("button", { name: "Remove header condition 1" }).click();

      // The dry run shows the conditions; confirmed, the zone goes live.
      await review.click();
      const dialog = page.getByRole("dialog", { name: "Review the change" });
      await dialog.waitFor();
      expect(await dialog.getByRole("row", { name: /Match conditions/ }).textContent()).toContain("methods POST");
      expect(await dialog.getByText("api.split.test [POST]").count()).toBe(1);
      await admin.sees("zone-match-diff");
      await dialog.getByRole("button", { name: "Create" }).click();
      await page.getByRole("heading", { level: 1, name: "api.split.test [POST]" }).waitFor();
      await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

      // Through the proxy: POST to the new zone's upstream, GET still to the plain zone's.
      const posted = await eventually("POST on api.split.test reaches the writes backend", async () => {
        const r = await stack.proxy.request("POST", "api.split.test", "/orders");
        return r.upstream === writes.name ? r : undefined;
      });
      expect(posted.status).toBe(200);
      const got = await stack.proxy.get("api.split.test", "/orders");
      expect(got.status).toBe(200);
      expect(got.upstream).toBe(stack.backend.name);
      expect(writes.seen.map((r) => r.method)).toEqual(["POST"]);

      // The zones list: two rows for api.split.test, told apart by the badge.
      await openSection(page, "Zones");
      const rows = page.getByRole("table", { name: "Zones" }).getByRole("row", { name: /api\.split\.test/ });
      await eventually("both zones are listed", async () => ((await rows.count()) === 2 ? true : undefined));
      const badges = await Promise.all(
        (await rows.all()).map(async (row) => {
          const list = row.getByRole("list", { name: "Match conditions" });
          return (await list.count()) === 0 ? [] : list.getByRole("listitem").allTextContents();
        }),
      );
      expect(badges.sort((a, b) => a.length - b.length)).toEqual([[], ["POST"]]);
      await admin.sees("zones-with-match");
    });
  } finally {
    await writes.stop();
  }
});
