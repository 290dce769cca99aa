// Story: an admin logs in, creates a domain, creates a zone through the dry-run diff,
// sees it live on the proxy, and a request through the proxy reaches the backend.
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { logIn, openSection } from "./support/steps";
import { eventually } from "./support/eventually";
import { story } from "./support/story";

const world = story("admin-zone-live");

test("an admin creates a domain and a zone, sees it live on the proxy, and traffic reaches the backend", async () => {
  const { stack } = world;
  await world.as("admin", async (admin) => {
    const { page } = admin;
    // The admin logs in with the password the panel was started with.
    await page.goto("/");
    await page.getByRole("heading", { name: "Log in to Switchyard" }).waitFor();
    await admin.sees("login");
    await logIn(page, ADMIN.username, ADMIN.password);
    await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();
    await admin.sees("overview");

    // Creates the domain shop.test on the Domains page.
    await openSection(page, "Domains");
    await page.getByRole("button", { name: /^(new|add) domain/i }).click();
    await page.getByLabel(/^(domain( name)?|name)$/i).fill("shop.test");
    await admin.sees("domain-form");
    await page.getByRole("button", { name: /^(create|add|save)( domain)?$/i }).click();
    await page.getByRole("list", { name: "Domains" }).getByText("shop.test", { exact: true }).first().waitFor();
    await admin.sees("domains");

    // Creates www.shop.test → the backend: first the API's dry run, shown as a diff.
    await openSection(page, "Zones");
    await admin.sees("zones-empty");
    await page.getByRole("button", { name: "New zone" }).click();
    await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
    await page.getByLabel("Hostname", { exact: true }).fill("www.shop.test");
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);
    await admin.sees("zone-form");
    await page.getByRole("button", { name: "Review new zone" }).click();
    const review = page.getByRole("dialog", { name: "Review the change" });
    await review.waitFor();
    await review.getByText("www.shop.test").first().waitFor();
    await admin.sees("zone-diff");
    // Nothing is written until the admin confirms.
    expect((await stack.admin.expect<{ items: unknown[] }>("GET", "/zones", undefined, 200)).items).toHaveLength(0);
    await review.getByRole("button", { name: "Create" }).click();

    // The zone's page says when the proxy has it.
    await page.getByRole("heading", { level: 1, name: "www.shop.test" }).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });
    await admin.sees("zone-live");

    // A request through the proxy with that Host reaches the backend.
    const answer = await eventually("the proxy routes www.shop.test", async () => {
      const r = await stack.proxy.get("www.shop.test", "/hello");
      return r.status === 200 ? r : undefined;
    });
    expect(answer.upstream).toBe(stack.backend.name);
    expect(stack.backend.seen).toContainEqual(expect.objectContaining({ path: "/hello" }));

    // And the zones list shows it.
    await openSection(page, "Zones");
    await page.getByRole("table", { name: "Zones" }).getByRole("link", { name: "www.shop.test" }).waitFor();
    await admin.sees("zones");

    // The overview now counts the zone and shows the proxy.
    await openSection(page, "Overview");
    await page.getByText(stack.proxy.id).first().waitFor();
    await admin.sees("overview-with-zone");
  });
});
