// Story: a user with a read grant on one domain sees only that domain's zones and cannot
// change them — the panel offers no write control (a rollback from the zone's History is
// disabled, with the reason), and the API refuses one anyway.
import { expect, test } from "vitest";
import { absentOrDisabled, browserFetch, logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("read-grant");
const READER = { username: "reader", password: "reader-password-2f9b" };

test("a user with a read grant on one domain sees only its zones and cannot edit them", async () => {
  const { stack } = world;
  // Given two domains with zones, and a user who may read only the first.
  const granted = await stack.domain("granted.test");
  await stack.domain("other.test");
  const wwwId = await stack.zone("www.granted.test");
  // … changed once, so its history holds a revision to roll back to.
  await stack.admin.expect("PUT", `/zones/${wwwId}`, { hostname: "www.granted.test", backend: { kind: "none" } }, 200);
  const history = await stack.admin.expect<{ items: { number: number }[] }>("GET", `/zones/${wwwId}/revisions`, undefined, 200);
  const firstRevision = history.items[history.items.length - 1]?.number ?? 0;
  await stack.zone("api.granted.test");
  const otherId = await stack.zone("www.other.test");
  await stack.user(READER.username, READER.password, { domainId: granted, level: "read" });

  await world.as("reader", async (reader) => {
    const { page } = reader;
    await logIn(page, READER.username, READER.password);
    await reader.sees("overview");

    // The zones list holds the granted domain's zones and nothing else.
    await openSection(page, "Zones");
    const table = page.getByRole("table", { name: "Zones" });
    await table.getByRole("link", { name: "www.granted.test" }).waitFor();
    await table.getByRole("link", { name: "api.granted.test" }).waitFor();
    expect(await table.getByText("www.other.test").count()).toBe(0);
    expect(await table.getByRole("row").count()).toBe(3); // the header and two zones
    await absentOrDisabled(page.getByRole("button", { name: "New zone" }), "“New zone”");
    await reader.sees("zones");

    // A zone opens read-only: no field can be changed, nothing can be saved or deleted.
    await table.getByRole("link", { name: "www.granted.test" }).click();
    await page.getByRole("heading", { level: 1, name: "www.granted.test" }).waitFor();
    const hostname = page.getByLabel("Hostname", { exact: true });
    if ((await hostname.count()) > 0) expect(await hostname.isEditable()).toBe(false);
    await absentOrDisabled(page.getByRole("button", { name: /review changes|save/i }), "saving the zone");
    await absentOrDisabled(page.getByRole("button", { name: /delete/i }), "deleting the zone");
    await reader.sees("zone-read-only");

    // Its History is readable; rolling back is offered disabled, with the reason.
    const rollBack = page.getByRole("region", { name: "History" }).getByRole("button", { name: `Roll back to this (revision ${firstRevision})` });
    expect(await rollBack.isDisabled()).toBe(true);
    const reason = await rollBack.evaluate((b) => document.getElementById(b.getAttribute("aria-describedby") ?? "")?.textContent ?? "");
    expect(reason).toMatch(/^Read-only: you hold a read grant/);

    // The API refuses the write the page does not offer, and the zone stays as it was.
    const before = await stack.admin.expect("GET", `/zones/${wwwId}`, undefined, 200);
    const put = await browserFetch(page, "PUT", `/zones/${wwwId}`, {
      hostname: "www.granted.test",
      backend: { kind: "none" },
    });
    expect([403, 404, 422]).toContain(put.status);
    const del = await browserFetch(page, "DELETE", `/zones/${wwwId}`);
    expect([403, 404]).toContain(del.status);
    const rollback = await browserFetch(page, "POST", `/zones/${wwwId}/rollback`, { revision: firstRevision, dry_run: true });
    expect(rollback.status).toBe(403);
    expect(await stack.admin.expect("GET", `/zones/${wwwId}`, undefined, 200)).toEqual(before);

    // The other domain's zone does not exist as far as this user can tell.
    expect((await browserFetch(page, "GET", `/zones/${otherId}`)).status).toBe(404);
    await page.goto(`/zones/${otherId}`);
    await page.getByText(/not found|does not exist|no such/i).first().waitFor();
    await reader.sees("other-zone-not-found");
  });
});
