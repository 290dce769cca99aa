// Story: an admin pastes a CSV of zones into the Zones page's Bulk action. One row is bad:
// the page shows that row's problem (row, column, value, the API's words) and nothing
// changes. Fixed, the API's dry run shows what will be created, the admin applies it,
// and the zones appear (and the proxy routes them).
import { expect, test } from "vitest";
import { eventually } from "./support/eventually";
import { ADMIN } from "./support/stack";
import { darkTheme, logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("bulk-zones");

interface Problem {
  error: { details: { field: string; problem: string }[] };
}

test("a bulk CSV with one bad row shows that row's error and changes nothing; fixed, it applies and the zones appear", async () => {
  const { stack } = world;
  await stack.domain("fleet.test");
  await stack.zone("www.fleet.test");
  const url = stack.backend.url;
  const csv = (third: string) =>
    [
      "hostname,path_prefix,upstreams,force_https,allow",
      `a.fleet.test,,${url},false,`,
      `b.fleet.test,/api,"${url}*2",no,"10.0.0.0/8; 127.0.0.1"`,
      // Row 4: the bad row while `third` lies in no domain.
      `${third},,${url},false,`,
    ].join("\n");
  const spec = (hostname: string) => ({ hostname, backend: { kind: "upstreams", upstreams: [{ url, weight: 1 }] } });

  // What the API says about the bad row (the page must show it, on row 4).
  const answer = await stack.admin.call("POST", "/zones/bulk?dry_run=true", { create: [spec("a.fleet.test"), spec("b.fleet.test"), spec("c.nowhere.test")] });
  expect(answer.status).toBe(422);
  const problems = (answer.json as Problem).error.details;
  expect(problems.map((p) => p.field)).toEqual(["create[2].hostname"]);
  const before = await stack.admin.expect<{ items: unknown[] }>("GET", "/zones", undefined, 200);
  expect(before.items).toHaveLength(1);

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Zones");
    await page.getByRole("button", { name: "Bulk" }).click();
    await page.getByRole("heading", { level: 1, name: "Bulk zones" }).waitFor();
    await admin.sees("bulk-empty");

    // First a row the page itself refuses (a bad boolean): nothing is sent.
    const input = page.getByLabel("Or paste CSV or JSON");
    await input.fill(csv("c.fleet.test").replace(`a.fleet.test,,${url},false`, `a.fleet.test,,${url},maybe`));
    await page.getByRole("button", { name: "Check rows" }).click();
    const local = page.getByRole("list", { name: "Problems by row" }).getByRole("listitem");
    await local.filter({ hasText: /Row 2 · a\.fleet\.test\s*column force_https = maybe: not a boolean/ }).waitFor();
    await admin.sees("bulk-local-problem");

    // The API's problem, on the user's row 4, column hostname, with the value.
    await input.fill(csv("c.nowhere.test"));
    await page.getByRole("button", { name: "Check rows" }).click();
    await page.getByText("The API refused these rows").waitFor();
    const row = page.getByRole("list", { name: "Problems by row" }).getByRole("listitem").filter({ hasText: "Row 4" });
    await row.waitFor();
    const text = await row.innerText();
    expect(text).toContain("hostname");
    expect(text).toContain("c.nowhere.test");
    expect(text).toContain(problems[0]?.problem ?? "?");
    expect(await page.getByRole("dialog").count()).toBe(0);
    await admin.sees("bulk-bad-row");
    const unchanged = await stack.admin.expect<{ items: unknown[] }>("GET", "/zones", undefined, 200);
    expect(unchanged.items).toEqual(before.items);

    // Fixed: the dry run's summary, then apply.
    await input.fill(csv("c.fleet.test"));
    await page.getByRole("button", { name: "Check rows" }).click();
    const review = page.getByRole("dialog", { name: "Review the bulk change" });
    await review.getByText("3 zones created, 0 changed, 0 deleted").waitFor();
    await admin.sees("bulk-review");
    expect((await stack.admin.expect<{ items: unknown[] }>("GET", "/zones", undefined, 200)).items).toEqual(before.items);
    await review.getByRole("button", { name: "Apply 3 changes" }).click();
    await page.getByText(/3 zones created, 0 changed, 0 deleted \(version \d+\)/).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });
    await admin.sees("bulk-applied");

    // The zones appear on the zones page, and the proxy routes them.
    await page.getByRole("link", { name: "See the zones" }).click();
    const table = page.getByRole("table", { name: "Zones" });
    for (const name of ["a.fleet.test", "b.fleet.test", "c.fleet.test", "www.fleet.test"]) await table.getByRole("link", { name }).first().waitFor();
    expect(await table.getByRole("row").count()).toBe(5);
    await admin.sees("zones-after-bulk");
    const routed = await eventually("the proxy routes c.fleet.test", async () => {
      const r = await stack.proxy.get("c.fleet.test", "/bulk");
      return r.status === 200 ? r : undefined;
    });
    expect(routed.upstream).toBe(stack.backend.name);

    // On a 360 px phone in dark mode, the problems are still readable (axe checks contrast).
    await page.setViewportSize({ width: 360, height: 800 });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.goto("/zones/bulk");
    await page.getByRole("heading", { level: 1, name: "Bulk zones" }).waitFor();
    expect(await darkTheme(page)).toBe(true);
    await page.getByLabel("Or paste CSV or JSON").fill(csv("d.nowhere.test"));
    await page.getByRole("button", { name: "Check rows" }).click();
    await page.getByRole("list", { name: "Problems by row" }).getByRole("listitem").filter({ hasText: "Row 4" }).waitFor();
    await admin.sees("bulk-bad-row-360-dark");
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  });
});
