// Story: an admin creates a zone and changes it twice (a timeout and the Host header, then
// a dead upstream), opens the zone's History, rolls back to the first revision through the
// API's dry-run diff, confirms, and sees the zone's first values again — in the form, in
// the history (a new revision), and through the proxy. Then the admins' History page lists
// the configuration's revisions with their records, and a restore's dry run lists every
// difference without changing anything. Deleted, the zone's page still shows its history,
// and a rollback re-creates it (in dark mode).
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-history");
const DEAD_UPSTREAM = "http://127.0.0.1:9";

interface ZoneBody {
  id: string;
  preserve_host: boolean;
  timeouts: { read_ms?: number | null };
  backend: { kind: string; upstreams: { url: string }[] };
}

test("an admin rolls a zone back to its first revision from its History", async () => {
  const { stack } = world;
  await stack.domain("shop.test");
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);

    // Creates www.shop.test → the backend (revision 1 of the zone).
    await openSection(page, "Zones");
    await page.getByRole("button", { name: "New zone" }).click();
    await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
    await page.getByLabel("Hostname", { exact: true }).fill("www.shop.test");
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);
    await page.getByRole("button", { name: "Review new zone" }).click();
    await page.getByRole("dialog", { name: "Review the change" }).getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { level: 1, name: "www.shop.test" }).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });
    const zoneId = page.url().split("/zones/")[1] ?? "";
    expect(zoneId).toMatch(/^[0-9a-f-]{36}$/);

    // A freshly created zone's History holds its creation, marked current (nothing to roll back to).
    const history = page.getByRole("region", { name: "History" });
    const revisions = history.getByRole("list", { name: "Revisions of www.shop.test" });
    // The revisions themselves (each holds a list of its own: the zone before → after).
    const entries = revisions.getByRole("listitem", { name: /^Revision \d+: / });
    await revisions.getByRole("listitem", { name: /Zone created by root/ }).waitFor();
    expect(await revisions.getByRole("button", { name: /^Roll back to this/ }).count()).toBe(0);

    // Change 1: a read timeout and the client's Host header kept.
    await page.getByLabel("Read timeout (ms)", { exact: true }).fill("5000");
    await page.getByRole("checkbox", { name: "Preserve the client's Host header" }).check();
    await page.getByRole("button", { name: "Review changes" }).click();
    await page.getByRole("dialog", { name: "Review the change" }).getByRole("button", { name: "Apply" }).click();
    await page.getByText(/Saved: version/).waitFor();
    await entries.nth(1).waitFor();

    // Change 2: the upstream moves to a port where nothing listens; the proxy fails.
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(DEAD_UPSTREAM);
    await page.getByRole("button", { name: "Review changes" }).click();
    await page.getByRole("dialog", { name: "Review the change" }).getByRole("button", { name: "Apply" }).click();
    await entries.nth(2).waitFor();
    await eventually("the proxy no longer reaches the backend", async () => {
      const r = await stack.proxy.get("www.shop.test", "/after-change");
      return r.status >= 500 ? r : undefined;
    });

    // The History: three revisions, newest first, each with its before → after.
    expect(await entries.count()).toBe(3);
    const newest = entries.first();
    expect(await newest.getAttribute("aria-labelledby")).not.toBeNull();
    await newest.getByRole("row", { name: /Backend/ }).getByText(DEAD_UPSTREAM).waitFor();
    await history.scrollIntoViewIfNeeded();
    await admin.sees("zone-history");

    // Roll back to the first revision: first the API's dry run, shown as the editor's diff.
    const created = revisions.getByRole("listitem", { name: /Zone created by root/ });
    const rollBack = created.getByRole("button", { name: /^Roll back to this \(revision \d+\)$/ });
    const first = Number(/revision (\d+)/.exec((await rollBack.textContent()) ?? "")?.[1]);
    await rollBack.click();
    const dialog = page.getByRole("dialog", { name: `Roll back to revision ${first}?` });
    await dialog.waitFor();
    const backendRow = dialog.getByRole("row", { name: /Backend/ });
    expect(await backendRow.getByRole("deletion").textContent()).toContain(DEAD_UPSTREAM);
    expect(await backendRow.getByRole("insertion").textContent()).toContain(stack.backend.url);
    await dialog.getByRole("row", { name: /Preserve Host/ }).waitFor();
    await dialog.getByRole("row", { name: /Timeouts/ }).waitFor();
    await admin.sees("zone-rollback-diff");
    // Nothing is written until the admin confirms.
    const before = await stack.admin.expect<ZoneBody>("GET", `/zones/${zoneId}`, undefined, 200);
    expect(before.backend.upstreams[0]?.url).toBe(DEAD_UPSTREAM);

    await dialog.getByRole("button", { name: "Roll back" }).click();
    await page.getByText(`Rolled back to revision ${first}`, { exact: true }).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

    // The zone's first values, in the form …
    expect(await page.getByLabel("Upstream 1 URL", { exact: true }).inputValue()).toBe(stack.backend.url);
    expect(await page.getByRole("checkbox", { name: "Preserve the client's Host header" }).isChecked()).toBe(false);
    expect(await page.getByLabel("Read timeout (ms)", { exact: true }).inputValue()).toBe("");
    // … in the API …
    const after = await stack.admin.expect<ZoneBody>("GET", `/zones/${zoneId}`, undefined, 200);
    expect(after.backend.upstreams.map((u) => u.url)).toEqual([stack.backend.url]);
    expect(after.preserve_host).toBe(false);
    expect(after.timeouts.read_ms ?? null).toBeNull();
    // … the rollback is the newest revision of the zone …
    await revisions.getByRole("listitem", { name: new RegExp(`Zone rolled back to revision ${first} by root`) }).waitFor();
    expect(await entries.count()).toBe(4);
    await admin.sees("zone-rolled-back");
    // … and the proxy reaches the backend again.
    const answer = await eventually("the proxy routes www.shop.test to the backend again", async () => {
      const r = await stack.proxy.get("www.shop.test", "/after-rollback");
      return r.status === 200 ? r : undefined;
    });
    expect(answer.upstream).toBe(stack.backend.name);

    // The admins' History page: the configuration's revisions, newest first, the rollback on top.
    await openSection(page, "History");
    const all = page.getByRole("list", { name: "Revisions" }).getByRole("listitem", { name: /^Revision \d+: / });
    const top = all.first();
    await top.getByRole("heading", { name: new RegExp(`Zone rolled back to revision ${first}`) }).waitFor();
    expect(await all.count()).toBe(5); // the domain, the zone's creation, two changes, the rollback
    // Its records, before and after.
    await top.getByRole("button", { name: /^Show records of revision/ }).click();
    await top.getByRole("list", { name: /^Records of revision/ }).getByText("www.shop.test", { exact: true }).waitFor();
    await top.getByRole("table").first().waitFor();
    await admin.sees("history");

    // Restoring the configuration to the domain's creation would delete the zone: the dry
    // run lists it, and a cancel changes nothing.
    const domainRevision = all.filter({ has: page.getByRole("heading", { name: /Domain created by root/ }) });
    await domainRevision.getByRole("button", { name: /^Restore configuration to this revision \(revision \d+\)$/ }).click();
    const restore = page.getByRole("dialog", { name: /^Restore configuration to revision \d+\?$/ });
    await restore.waitFor();
    await restore.getByText("1 zone deleted.").waitFor();
    await restore.getByRole("region", { name: "Zones deleted" }).getByText("www.shop.test", { exact: true }).waitFor();
    await admin.sees("history-restore-diff");
    await restore.getByRole("button", { name: "Cancel" }).click();
    await restore.waitFor({ state: "hidden" });
    await stack.admin.expect("GET", `/zones/${zoneId}`, undefined, 200);

    // Deleted (by a script), the zone's page still shows its history, and rolling back
    // to the revision before the delete re-creates it with its id — here in dark mode.
    await stack.admin.expect("DELETE", `/zones/${zoneId}`, undefined, 204);
    const toggle = page.getByRole("button", { name: /^Theme:/ });
    for (let i = 0; i < 3 && (await toggle.textContent())?.includes("Theme: dark") !== true; i++) await toggle.click();
    await page.goto(`/zones/${zoneId}`);
    await page.getByText(/not found/i).first().waitFor();
    const gone = page.getByRole("region", { name: "History" }).getByRole("list", { name: "Revisions of the deleted zone" }).getByRole("listitem", { name: /^Revision \d+: / });
    await gone.first().getByRole("heading", { name: /Zone deleted/ }).waitFor();
    await admin.sees("deleted-zone-history-dark");
    await gone.nth(1).getByRole("button", { name: /^Roll back to this/ }).click();
    const recreate = page.getByRole("dialog", { name: /^Roll back to revision \d+\?$/ });
    await recreate.getByText("Create", { exact: true }).waitFor();
    await recreate.getByRole("button", { name: "Roll back" }).click();
    await page.getByRole("heading", { level: 1, name: "www.shop.test" }).waitFor();
    expect(await page.getByLabel("Upstream 1 URL", { exact: true }).inputValue()).toBe(stack.backend.url);
    await stack.admin.expect("GET", `/zones/${zoneId}`, undefined, 200);
    await admin.sees("zone-recreated-dark");
  });
});
