// Story: an admin creates an API key on the API keys page, sees its secret once, uses it,
// then revokes it and the key stops working.
import { expect, test } from "vitest";
import { Api } from "./support/stack";
import { ADMIN } from "./support/stack";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("api-keys");
const KEY_SHAPE = /sy_[0-9a-f]+_[0-9a-f]{16,}/;

test("an API key is created, its secret shown once, then revoked", async () => {
  const { stack } = world;
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "API keys");
    await admin.sees("api-keys");

    // Create "deploy script": the secret is shown, this once.
    await page.getByRole("button", { name: /^new (api )?key$/i }).click();
    const form = page.getByRole("dialog", { name: /new (api )?key/i });
    await form.getByLabel("Name", { exact: true }).fill("deploy script");
    await admin.sees("new-key-form");
    await form.getByRole("button", { name: /^create( key)?$/i }).click();
    const shown = page.getByRole("dialog", { name: /created/i });
    await shown.waitFor();
    const secret = (await shown.textContent())?.match(KEY_SHAPE)?.[0];
    expect(secret, "the dialog shows the new key").toBeDefined();
    await admin.sees("key-shown-once");

    // The key works for scripts.
    const script = new Api(stack.url, `Bearer ${secret ?? ""}`);
    expect((await script.call("GET", "/me")).status).toBe(200);

    // Once dismissed, the secret is nowhere on the page, not even after a reload.
    await shown.getByRole("button", { name: /saved it|done|close/i }).click();
    const keys = page.getByRole("table");
    await keys.getByText("deploy script").waitFor();
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await keys.getByText("deploy script").waitFor();
    expect(await page.content()).not.toContain(secret);
    await admin.sees("keys-listed");

    // Revoke it: the list says so, and the key no longer authenticates.
    await page.getByRole("button", { name: "Revoke deploy script" }).click();
    const confirm = page.getByRole("dialog", { name: /revoke deploy script/i });
    await admin.sees("revoke-confirm");
    await confirm.getByRole("button", { name: /^revoke( key)?$/i }).click();
    await page.getByRole("row", { name: /deploy script/ }).getByText(/revoked/i).first().waitFor();
    await admin.sees("key-revoked");
    expect((await script.call("GET", "/me")).status).toBe(401);
  });
});
