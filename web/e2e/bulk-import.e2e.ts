// Story: an admin pastes an export document of several zones into the Export/Import page;
// one row is bad, the page shows that row's problem, and nothing changes.
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("bulk-import");

interface Problem {
  error: { details: { field: string; problem: string }[] };
}

test("a bulk import with one bad row shows that row's error and changes nothing", async () => {
  const { stack } = world;
  await stack.domain("fleet.test");
  await stack.zone("www.fleet.test");
  const upstreams = (url: string) => ({ kind: "upstreams", upstreams: [{ url, weight: 1 }] });
  const document = {
    format: "switchyard-export/1",
    domains: ["fleet.test"],
    named_backends: [],
    zones: [
      { hostname: "a.fleet.test", backend: upstreams(stack.backend.url) },
      { hostname: "b.fleet.test", backend: upstreams(stack.backend.url) },
      // The bad row: its hostname lies in no domain.
      { hostname: "c.nowhere.test", backend: upstreams(stack.backend.url) },
      { hostname: "d.fleet.test", backend: upstreams(stack.backend.url) },
    ],
  };
  // What the API says about it (the page must show this, next to that row).
  const answer = await stack.admin.call("POST", "/import?dry_run=true", document);
  expect(answer.status).toBe(422);
  const problems = (answer.json as Problem).error.details;
  expect(problems.map((p) => p.field)).toEqual(["zones[2].hostname"]);
  const before = await stack.admin.expect<{ items: unknown[] }>("GET", "/zones", undefined, 200);

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Export/Import", /export|import/i);
    await admin.sees("transfer");

    // Paste the document and ask for the check.
    await page.getByRole("textbox", { name: /import|document|paste|json/i }).first().fill(JSON.stringify(document, null, 2));
    await page.getByRole("button", { name: /^(check|preview|review|dry run)/i }).click();

    // The bad row's problem is shown, naming that row.
    await page.getByText(problems[0]?.problem ?? "?", { exact: false }).first().waitFor();
    await page.getByText(/c\.nowhere\.test|zones\[2\]|row 3/).first().waitFor();
    await admin.sees("bad-row");

    // Nothing changed: the same zones as before, in the API and on the zones page.
    const after = await stack.admin.expect<{ items: unknown[] }>("GET", "/zones", undefined, 200);
    expect(after.items).toEqual(before.items);
    await openSection(page, "Zones");
    const table = page.getByRole("table", { name: "Zones" });
    await table.getByRole("link", { name: "www.fleet.test" }).waitFor();
    expect(await table.getByRole("row").count()).toBe(2);
    await admin.sees("zones-unchanged");
  });
});
