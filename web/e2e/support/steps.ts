// What a user does in the panel, by role and accessible name as they read the screen.
import type { Locator, Page } from "playwright-core";

/** Logs in on the login page and waits for the panel's navigation. */
export async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto("/login");
  await page.getByRole("heading", { name: "Log in to Switchyard" }).waitFor();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** Follows a link of the main navigation and waits for the page's heading. */
export async function openSection(page: Page, link: string, heading: string | RegExp = link): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link, exact: false }).first().click();
  await page.getByRole("heading", { level: 1, name: heading }).waitFor();
}

/** The CSRF token the panel keeps in the readable `sy_csrf` cookie. */
export async function csrfToken(page: Page): Promise<string> {
  const cookie = (await page.context().cookies()).find((c) => c.name === "sy_csrf");
  if (!cookie) throw new Error("no sy_csrf cookie: not logged in?");
  return cookie.value;
}

/**
 * A request the user's browser makes with their session, as the panel would (cookie +
 * X-CSRF-Token): to show what the API itself answers, whatever the page lets them click.
 */
export async function browserFetch(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const csrf = await csrfToken(page);
  return page.evaluate(
    async ({ method, path, body, csrf }) => {
      const r = await fetch(`/api/v1${path}`, {
        method,
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: body === undefined ? null : JSON.stringify(body),
        credentials: "same-origin",
      });
      const text = await r.text();
      return { status: r.status, json: text ? (JSON.parse(text) as unknown) : null };
    },
    { method, path, body, csrf },
  );
}

/** Passes when no element matches `locator`, or every one that does is disabled. */
export async function absentOrDisabled(locator: Locator, what: string): Promise<void> {
  const count = await locator.count();
  for (let i = 0; i < count; i++) {
    if (!(await locator.nth(i).isDisabled())) throw new Error(`${what} is offered and enabled`);
  }
}

/** The `dark` class on <html>, which Tailwind's `dark:` variant follows. */
export async function darkTheme(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.classList.contains("dark"));
}
