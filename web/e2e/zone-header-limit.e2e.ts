// Story: an admin caps the request head size of a zone in the zone form. 100 KiB is
// refused by the API next to that input (the proxy holds every route to 64 KiB anyway);
// 1 KiB is saved, and through the proxy a request with a 1.5 KB header is answered 431
// while an ordinary one reaches the backend. After a reload the form shows 1 KiB.
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-header-limit");

test("an admin caps a zone's request head size and oversized heads get 431", async () => {
  const { stack } = world;
  await stack.domain("limits.test");
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Zones");
    await page.getByRole("button", { name: "New zone" }).click();
    await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
    await page.getByLabel("Hostname", { exact: true }).fill("app.limits.test");
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);

    await page.getByRole("button", { name: /^Policies/ }).click();
    await page.getByRole("checkbox", { name: "Max request head size" }).check();
    const block = page.getByRole("group", { name: "Max request head size" });
    const amount = block.getByLabel("Largest request head", { exact: true });
    await amount.fill("100");
    expect(await block.getByLabel("Head size unit", { exact: true }).inputValue()).toBe("KiB");
    const review = page.getByRole("button", { name: "Review new zone" });
    await review.click();
    await block.getByText(/max_header_bytes is 102400; it must be 1024–65536/).waitFor();
    expect(await amount.getAttribute("aria-invalid")).toBe("true");
    await admin.sees("zone-header-limit-field-error");

    await amount.fill("1");
    await review.click();
    const dialog = page.getByRole("dialog", { name: "Review the change" });
    await dialog.waitFor();
    expect(await dialog.getByRole("row", { name: /Policies/ }).textContent()).toContain("request head ≤ 1 KiB");
    await dialog.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { level: 1, name: "app.limits.test" }).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

    const ordinary = await eventually("app.limits.test is served", async () => {
      const r = await stack.proxy.get("app.limits.test");
      return r.status === 200 ? r : undefined;
    });
    expect(ordinary.upstream).toBe(stack.backend.name);
    const big = await stack.proxy.get("app.limits.test", "/", { "x-big": "a".repeat(1500) });
    expect(big.status).toBe(431);
    expect(big.upstream).toBeUndefined();

    await page.reload();
    await page.getByRole("heading", { level: 1, name: "app.limits.test" }).waitFor();
    expect(await page.getByRole("checkbox", { name: "Max request head size" }).isChecked()).toBe(true);
    expect(await amount.inputValue()).toBe("1");
    expect(await block.getByLabel("Head size unit", { exact: true }).inputValue()).toBe("KiB");
    expect(await page.getByRole("button", { name: /^Policies/ }).textContent()).toContain("header limit");
    await admin.sees("zone-header-limit-reloaded");
  });
});
