// Story: the theme toggle switches the panel to dark, and the choice survives a reload.
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { darkTheme, logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("dark-mode");

test("dark mode is turned on with the toggle and remembered across a reload", async () => {
  const { stack } = world;
  await stack.domain("dark.test");
  await stack.zone("www.dark.test");
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Zones");
    await page.getByRole("table", { name: "Zones" }).getByRole("link", { name: "www.dark.test" }).waitFor();
    // The system prefers light, so the panel starts light.
    expect(await darkTheme(page)).toBe(false);
    await admin.sees("zones-light");

    // The toggle cycles system → light → dark.
    const toggle = page.getByRole("button", { name: /^Theme:/ });
    for (let i = 0; i < 3 && (await toggle.textContent())?.includes("Theme: dark") !== true; i++) await toggle.click();
    await page.getByRole("button", { name: "Theme: dark" }).waitFor();
    expect(await darkTheme(page)).toBe(true);
    await admin.sees("zones-dark");

    // A reload (the first paint included) keeps it dark.
    await page.reload();
    expect(await darkTheme(page)).toBe(true);
    await page.getByRole("table", { name: "Zones" }).getByRole("link", { name: "www.dark.test" }).waitFor();
    await page.getByRole("button", { name: "Theme: dark" }).waitFor();
    await admin.sees("zones-dark-after-reload");
    await openSection(page, "Overview");
    await admin.sees("overview-dark");
  });
});
