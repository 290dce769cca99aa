// Story: an admin walks through every section of the panel, and a user through theirs;
// each page is screenshotted and checked with axe-core (no serious or critical violation).
import { expect, test } from "vitest";
import type { Page } from "playwright-core";
import type { Session } from "./support/browser";
import { ADMIN } from "./support/stack";
import { logIn } from "./support/steps";
import { story } from "./support/story";

const world = story("every-page");
const USER = { username: "operator", password: "operator-password-8e4a" };

/** Follows every link of the main navigation in turn: each page's heading, screenshot and axe check. */
async function walkTheNav(page: Page, who: Session): Promise<string[]> {
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.waitFor();
  const links = await nav.getByRole("link").allTextContents();
  for (const label of links) {
    await nav.getByRole("link", { name: label }).click();
    await page.getByRole("heading", { level: 1 }).first().waitFor();
    await page.getByText(/^Loading/).first().waitFor({ state: "detached" }).catch(() => undefined);
    await who.sees(label.replace(/admin$/, "").trim().toLowerCase().replace(/[^a-z0-9]+/g, "-"));
  }
  return links;
}

test("every section of the panel passes the accessibility check, for an admin and for a user", async () => {
  const { stack } = world;
  // Something on every list: a domain, zones, a user with a grant, a named backend.
  const domain = await stack.domain("tour.test");
  await stack.zone("www.tour.test");
  await stack.zone("api.tour.test");
  await stack.user(USER.username, USER.password, { domainId: domain, level: "edit" });
  await stack.admin.expect("POST", "/named-backends", { name: "svc", url_template: "http://{first_label}.svc.internal:8080" }, 201);

  await world.as("admin", async (admin) => {
    await logIn(admin.page, ADMIN.username, ADMIN.password);
    const sections = await walkTheNav(admin.page, admin);
    expect(sections.length).toBeGreaterThanOrEqual(9);
  });
  await world.as("user", async (user) => {
    await logIn(user.page, USER.username, USER.password);
    const sections = await walkTheNav(user.page, user);
    expect(sections.join(" ")).not.toMatch(/Users|DNS credentials|History/);
  });
});
