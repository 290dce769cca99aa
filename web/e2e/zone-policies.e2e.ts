// Story: an admin gives a new zone basic auth, a rate limit and HSTS in the zone form.
// A rate limit of 0 requests is refused by the API next to that input; fixed, the save is
// refused near the button while a proxy too old for policies is live; once it is gone the
// zone is saved, the proxy asks for the password, and after a reload the form and the zones list
// show the policies (the stored password only as "keep": the API never answers its hash).
import { expect, test } from "vitest";
import type { Locator } from "playwright-core";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { darkTheme, logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-policies");

/** The text of what the control is described by (its hint and its errors). */
async function description(control: Locator): Promise<string> {
  return control.evaluate((el) =>
    (el.getAttribute("aria-describedby") ?? "")
      .split(" ")
      .map((id) => document.getElementById(id)?.textContent ?? "")
      .join(" "),
  );
}

test("an admin protects a zone with basic auth, a rate limit and HSTS", async () => {
  const { stack } = world;
  await stack.domain("guard.test");
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Zones");
    await page.getByRole("button", { name: "New zone" }).click();
    await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
    await page.getByLabel("Hostname", { exact: true }).fill("app.guard.test");
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);

    // The policies are folded away on a new zone; opened, each is switched on by its box.
    const toggle = page.getByRole("button", { name: /^Policies/ });
    expect(await toggle.getAttribute("aria-expanded")).toBe("false");
    await toggle.click();
    await page.getByRole("checkbox", { name: "Basic auth" }).check();
    const auth = page.getByRole("group", { name: "Basic auth" });
    await auth.getByLabel("Realm", { exact: true }).fill("Staff");
    await auth.getByLabel("User 1 name", { exact: true }).fill("ann");
    await auth.getByLabel("User 1 password", { exact: true }).fill("ann-s3cret");
    await page.getByRole("checkbox", { name: "Rate limit" }).check();
    const rate = page.getByRole("group", { name: "Rate limit" });
    await rate.getByLabel("Requests", { exact: true }).fill("0");
    await rate.getByLabel("Per (seconds)", { exact: true }).fill("60");
    await page.getByRole("checkbox", { name: /^HSTS/ }).check();
    await page.getByRole("checkbox", { name: "includeSubDomains" }).check();
    expect(await toggle.textContent()).toMatch(/auth.*rate limit.*HSTS/);
    await admin.sees("zone-policies-form");

    // The API checks the values: 0 requests is refused, next to that input.
    const review = page.getByRole("button", { name: "Review new zone" });
    await review.click();
    const requests = rate.getByLabel("Requests", { exact: true });
    await rate.getByText(/requests is 0; it must be 1–1000000/).waitFor();
    expect(await requests.getAttribute("aria-invalid")).toBe("true");
    expect(await description(requests)).toContain("requests is 0; it must be 1–1000000");
    await admin.sees("zone-policies-field-error");
    await requests.fill("100");

    // A live proxy that reads only data format 1: the API refuses policies, naming it,
    // and the page says so right above the save button.
    const removeOldProxy = await stack.oldProxy("old-edge-1");
    await review.click();
    const refusal = page.getByRole("alert").filter({ hasText: "Not saved: upgrade the proxies first" });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('"old-edge-1"');
    expect(await requests.getAttribute("aria-invalid")).toBe("false");
    // It is the form's last word before its buttons.
    const [refusalBox, buttonBox] = [await refusal.boundingBox(), await review.boundingBox()];
    expect(refusalBox && buttonBox && buttonBox.y - (refusalBox.y + refusalBox.height)).toBeLessThan(40);
    await admin.sees("zone-policies-old-proxy");
    await removeOldProxy();

    // The proxy upgraded, the dry run shows the policies; confirmed, the zone goes live.
    await review.click();
    const dialog = page.getByRole("dialog", { name: "Review the change" });
    await dialog.waitFor();
    const row = dialog.getByRole("row", { name: /Policies/ });
    expect(await row.textContent()).toMatch(/basic auth “Staff”: ann.*rate limit 100 per 60 s, by client IP/);
    expect(await dialog.getByRole("row", { name: /Policies/ }).textContent()).not.toContain("$argon2");
    await admin.sees("zone-policies-diff");
    await dialog.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { level: 1, name: "app.guard.test" }).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

    // The proxy asks for the password, and lets ann through.
    const refused = await eventually("the proxy asks for a password on app.guard.test", async () => {
      const r = await stack.proxy.get("app.guard.test", "/private");
      return r.status === 401 ? r : undefined;
    });
    expect(refused.upstream).toBeUndefined();
    const passed = await stack.proxy.get("app.guard.test", "/private", { authorization: `Basic ${Buffer.from("ann:ann-s3cret").toString("base64")}` });
    expect(passed.status).toBe(200);
    expect(passed.upstream).toBe(stack.backend.name);

    // After a reload the form shows what is stored: the policies open, ann's password
    // kept (the API answers users by username only, so no hash reaches the page).
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "app.guard.test" }).waitFor();
    expect(await toggle.getAttribute("aria-expanded")).toBe("true");
    expect(await page.getByRole("checkbox", { name: "Basic auth" }).isChecked()).toBe(true);
    expect(await auth.getByLabel("Realm", { exact: true }).inputValue()).toBe("Staff");
    expect(await auth.getByLabel("User 1 name", { exact: true }).inputValue()).toBe("ann");
    expect(await auth.getByLabel("User 1 password", { exact: true }).inputValue()).toBe("keep");
    expect(await auth.getByText(/Stored as a hash, which the panel never shows/).count()).toBe(1);
    expect(await page.getByRole("checkbox", { name: "Rate limit" }).isChecked()).toBe(true);
    expect(await rate.getByLabel("Requests", { exact: true }).inputValue()).toBe("100");
    expect(await rate.getByLabel("Per (seconds)", { exact: true }).inputValue()).toBe("60");
    expect(await page.getByRole("checkbox", { name: /^HSTS/ }).isChecked()).toBe(true);
    expect(await page.getByLabel("Max-age (seconds)", { exact: true }).inputValue()).toBe("31536000");
    expect(await page.getByRole("checkbox", { name: "includeSubDomains" }).isChecked()).toBe(true);
    expect(await page.content()).not.toContain("$argon2id$");
    await admin.sees("zone-policies-reloaded");

    // The section folds and unfolds from the keyboard, and reads in dark mode too.
    await toggle.focus();
    await page.keyboard.press("Enter");
    expect(await toggle.getAttribute("aria-expanded")).toBe("false");
    expect(await page.getByRole("checkbox", { name: "Rate limit" }).count()).toBe(0);
    await page.keyboard.press("Space");
    expect(await toggle.getAttribute("aria-expanded")).toBe("true");
    const theme = page.getByRole("button", { name: /^Theme:/ });
    for (let i = 0; i < 3 && (await theme.textContent())?.includes("Theme: dark") !== true; i++) await theme.click();
    expect(await darkTheme(page)).toBe(true);
    await admin.sees("zone-policies-dark");

    // The zones list shows them as badges.
    await openSection(page, "Zones");
    const badges = page.getByRole("table", { name: "Zones" }).getByRole("row", { name: /app\.guard\.test/ }).getByRole("list", { name: "Policies" });
    await badges.waitFor();
    expect(await badges.getByRole("listitem").allTextContents()).toEqual(["auth", "rate limit", "HSTS"]);
    await admin.sees("zones-with-policies");
  });
});
