// Story: PostgreSQL goes away (the relay between panel-api and PostgreSQL is cut): a
// banner says so, zones are still shown (from Redis), every write control is off; when
// PostgreSQL is back the banner goes and a zone can be created again.
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("postgres-outage");
const BANNER = "PostgreSQL is down — the panel is read-only";

test("with PostgreSQL down the panel shows reads and blocks writes; once it is back, writes work", async () => {
  const { stack } = world;
  await stack.domain("steady.test");
  await stack.zone("www.steady.test");
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Zones");
    const zones = page.getByRole("table", { name: "Zones" });
    await zones.getByRole("link", { name: "www.steady.test" }).waitFor();
    const newZone = page.getByRole("button", { name: "New zone" });
    await eventually("“New zone” is enabled", async () => ((await newZone.isEnabled()) ? true : undefined));

    // PostgreSQL goes away.
    await stack.relay.cut();
    await page.getByText(BANNER).waitFor({ timeout: 30_000 });
    await admin.sees("banner");

    // Reads still work: after a reload the zones come from Redis.
    await page.reload();
    await page.getByText(BANNER).waitFor({ timeout: 30_000 });
    await zones.getByRole("link", { name: "www.steady.test" }).waitFor();
    await page.getByText(/These zones come from Redis/).waitFor();
    expect(await newZone.isDisabled()).toBe(true);
    await admin.sees("zones-from-redis");

    // Writes are off on the zone's page too, and the API refuses them.
    await zones.getByRole("link", { name: "www.steady.test" }).click();
    await page.getByRole("heading", { level: 1, name: "www.steady.test" }).waitFor();
    expect(await page.getByRole("button", { name: "Review changes" }).isDisabled()).toBe(true);
    expect(await page.getByLabel("Hostname", { exact: true }).isEditable()).toBe(false);
    await admin.sees("zone-read-only");
    const refused = await stack.admin.call("POST", "/zones", { hostname: "late.steady.test", backend: { kind: "none" } });
    expect(refused.status).toBe(503);

    // PostgreSQL comes back: the banner goes by itself and writes work again.
    await stack.relay.restore();
    await page.getByText(BANNER).waitFor({ state: "detached", timeout: 60_000 });
    await openSection(page, "Zones");
    await eventually("“New zone” is enabled again", async () => ((await newZone.isEnabled()) ? true : undefined));
    await admin.sees("recovered");
    await newZone.click();
    await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
    await page.getByLabel("Hostname", { exact: true }).fill("api.steady.test");
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);
    await page.getByRole("button", { name: "Review new zone" }).click();
    await page.getByRole("dialog", { name: "Review the change" }).getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { level: 1, name: "api.steady.test" }).waitFor();
    await page.getByText(/Saved: version \d+/).waitFor();
    await admin.sees("written-after-recovery");
    const listed = await stack.admin.expect<{ items: { hostname: string }[] }>("GET", "/zones?q=api.steady.test", undefined, 200);
    expect(listed.items.map((z) => z.hostname)).toEqual(["api.steady.test"]);
  });
});
