// Story: an admin deletes a domain that zones still use — the confirm dialog first lists,
// from the API's dry run, the zones that would go — and the zones stop being routed; then
// a user changes their own password: a wrong current one is refused beside its field,
// the right one ends their other session, and the old password no longer logs in; and
// an admin deletes a user once the dry run has listed what goes with them.
import { expect, test } from "vitest";
import { Api } from "./support/stack";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("domain-lifecycle");
const USER = { username: "dana", password: "dana-password-7c4e", next: "dana-new-password-91b0" };

test("a domain in use is deleted with its zones after the dry run lists them", async () => {
  const { stack } = world;
  await stack.domain("gone.test");
  await stack.domain("kept.test");
  await stack.zone("www.gone.test");
  await stack.zone("api.gone.test");
  await stack.zone("www.kept.test");
  await eventually("the zone is routed", async () => ((await stack.proxy.get("www.gone.test", "/")).status === 200 ? true : undefined));

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Domains");
    await page.getByRole("button", { name: "Delete gone.test" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete gone.test?" });
    const zones = dialog.getByRole("list", { name: "Zones that will be deleted" });
    await zones.getByText("www.gone.test").waitFor();
    await zones.getByText("api.gone.test").waitFor();
    expect(await zones.getByRole("listitem").count()).toBe(2);
    await admin.sees("delete-domain-preview");
    // The preview changed nothing.
    expect((await stack.admin.call("GET", "/zones?q=gone.test")).json).toMatchObject({ total: 2 });

    await dialog.getByRole("button", { name: "Delete gone.test and 2 zones" }).click();
    await page.getByText("Deleted gone.test.").waitFor();
    await admin.sees("domain-deleted");
    expect(await page.getByRole("heading", { name: "gone.test" }).count()).toBe(0);
    await page.getByRole("heading", { name: "kept.test" }).waitFor();
  });
  expect((await stack.admin.call("GET", "/zones?q=gone.test")).json).toMatchObject({ total: 0 });
  await eventually("the deleted zone is no longer routed", async () => ((await stack.proxy.get("www.gone.test", "/")).status === 404 ? true : undefined));
  expect((await stack.proxy.get("www.kept.test", "/")).status).toBe(200);
});

test("a user changes their own password and their other session ends", async () => {
  const { stack } = world;
  await stack.user(USER.username, USER.password);
  // Another session of theirs, elsewhere.
  const elsewhere = await fetch(`${stack.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: USER.username, password: USER.password }),
  });
  const cookie = (elsewhere.headers.get("set-cookie") ?? "").match(/sy_session=[^;]+/)?.[0] ?? "";
  expect(cookie).not.toBe("");
  const other = () => fetch(`${stack.url}/api/v1/me`, { headers: { cookie } }).then((r) => r.status);
  expect(await other()).toBe(200);

  await world.as("user", async (user) => {
    const { page } = user;
    await logIn(page, USER.username, USER.password);
    await page.getByRole("button", { name: new RegExp(USER.username) }).click();
    await page.getByRole("link", { name: "Change password" }).click();
    await page.getByRole("heading", { level: 1, name: "Change password" }).waitFor();
    await user.sees("change-password");

    // Typed twice differently: said beside the field, nothing asked of the API.
    await page.getByLabel("Current password").fill(USER.password);
    await page.getByLabel("New password", { exact: true }).fill(USER.next);
    await page.getByLabel("New password again").fill(`${USER.next}x`);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Does not match the new password.").waitFor();

    // A wrong current password: the API's answer beside that field.
    await page.getByLabel("Current password").fill("not-my-password-at-all");
    await page.getByLabel("New password again").fill(USER.next);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText(/current_password is not your current password/).waitFor();
    await user.sees("wrong-current-password");
    expect(await other()).toBe(200);

    await page.getByLabel("Current password").fill(USER.password);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed. Your other sessions have ended.").waitFor();
    await user.sees("password-changed");
    // This session goes on.
    await openSection(page, "Zones");
  });
  expect(await other()).toBe(401);
  const login = (password: string) =>
    new Api(stack.url, null).call("POST", "/auth/login", { username: USER.username, password }).then((r) => r.status);
  expect(await login(USER.password)).toBe(401);
  expect(await login(USER.next)).toBe(200);
});

test("an admin deletes a user, after the dry run lists what goes with them", async () => {
  const { stack } = world;
  const id = await stack.user("eli", "eli-password-4d2a");
  const eli = await Api.forUser(stack.url, "eli", "eli-password-4d2a");
  expect((await eli.call("GET", "/me")).status).toBe(200);

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await page.goto(`/users/${id}`);
    await page.getByRole("heading", { level: 1, name: "eli" }).waitFor();
    await page.getByRole("button", { name: "Delete user…" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete eli?" });
    await dialog.getByRole("list", { name: "What goes with the user" }).getByText(/1 API key deleted \(sy_/).waitFor();
    await admin.sees("delete-user-preview");
    expect((await eli.call("GET", "/me")).status).toBe(200);
    await dialog.getByRole("button", { name: "Delete eli" }).click();
    await page.getByText("Deleted eli, with their sessions, API keys and grants.").waitFor();
    await admin.sees("user-deleted");
  });
  expect((await eli.call("GET", "/me")).status).toBe(401);
});
