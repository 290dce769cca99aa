// Story: an admin protects a zone with a JWT policy (HS256, a shared secret) in the zone
// form. Through the real proxy a request without a token is refused 401 and one with a
// token signed by that secret passes. After a reload the secret is never shown, only kept:
// an edit that keeps it still lets the same token through; a new secret set in the form
// (marked "(new secret)" in the review) refuses the old token and accepts a new one.
import { createHmac } from "node:crypto";
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("zone-jwt");

/** Two HMAC secrets of at least 32 bytes, as an operator would paste them. */
const FIRST_SECRET = "e2e-first-hmac-secret-0123456789abcdef";
const SECOND_SECRET = "e2e-second-hmac-secret-fedcba9876543210";

const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** An HS256 token (RFC 7519) for `sub`, valid for ten minutes, signed with `secret`. */
function token(secret: string, sub: string): string {
  const head = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = base64url(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + 600 }));
  const signature = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${signature}`;
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

test("an admin protects a zone with a JWT policy; its secret is kept, then replaced", async () => {
  const { stack } = world;
  await stack.domain("tokens.test");
  const host = "api.tokens.test";
  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Zones");
    await page.getByRole("button", { name: "New zone" }).click();
    await page.getByRole("heading", { level: 1, name: "New zone" }).waitFor();
    await page.getByLabel("Hostname", { exact: true }).fill(host);
    await page.getByLabel("Upstream 1 URL", { exact: true }).fill(stack.backend.url);

    // JWT: HS256 with a shared secret, the token in Authorization: Bearer (the default).
    await page.getByRole("button", { name: /^Policies/ }).click();
    await page.getByRole("checkbox", { name: "JWT" }).check();
    const jwt = page.getByRole("group", { name: "JWT" });
    await jwt.getByRole("checkbox", { name: "HS256" }).check();
    await jwt.getByLabel("Key source", { exact: true }).selectOption("secret");
    const secret = jwt.getByLabel("HMAC secret", { exact: true });
    expect(await secret.getAttribute("type")).toBe("password");
    await secret.fill(FIRST_SECRET);
    await jwt.getByLabel("JWT realm", { exact: true }).fill("tokens");
    await admin.sees("zone-jwt-form");

    await page.getByRole("button", { name: "Review new zone" }).click();
    const dialog = page.getByRole("dialog", { name: "Review the change" });
    await dialog.waitFor();
    const row = dialog.getByRole("row", { name: /Policies/ });
    expect(await row.textContent()).toContain("JWT HS256 “tokens”, HMAC secret");
    // The secret is nowhere in the review, not even in the Redis record the dry run shows.
    expect(await dialog.textContent()).not.toContain(FIRST_SECRET);
    await dialog.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { level: 1, name: host }).waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });

    // Through the proxy: no token, 401 (nothing reaches the backend); a signed one, 200.
    const refused = await eventually(`the proxy asks for a token on ${host}`, async () => {
      const r = await stack.proxy.get(host, "/orders");
      return r.status === 401 ? r : undefined;
    });
    expect(refused.upstream).toBeUndefined();
    const first = token(FIRST_SECRET, "ann");
    const passed = await stack.proxy.get(host, "/orders", bearer(first));
    expect(passed.status).toBe(200);
    expect(passed.upstream).toBe(stack.backend.name);
    expect((await stack.proxy.get(host, "/orders", bearer(token("some-other-secret-of-32-bytes-or-more", "ann")))).status).toBe(401);

    // Reloaded: the secret is stored, never shown; an edit that keeps it (another realm)
    // is sent without any key source and the same token still passes.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: host }).waitFor();
    expect(await jwt.getByLabel("HMAC secret", { exact: true }).inputValue()).toBe("keep");
    expect(await page.content()).not.toContain(FIRST_SECRET);
    await admin.sees("zone-jwt-stored-secret");
    await jwt.getByLabel("JWT realm", { exact: true }).fill("orders");
    await page.getByRole("button", { name: "Review changes" }).click();
    await dialog.waitFor();
    const kept = await dialog.getByRole("row", { name: /Policies/ }).textContent();
    expect(kept).toContain("JWT HS256 “orders”, HMAC secret");
    expect(kept).not.toContain("(new secret)");
    await dialog.getByRole("button", { name: "Apply" }).click();
    await page.getByText("Saved: version 2").waitFor();
    await page.getByText(/Live on 1\/1 proxy/).waitFor({ timeout: 30_000 });
    expect((await stack.proxy.get(host, "/orders", bearer(first))).status).toBe(200);

    // A new secret: marked in the review; live, the old token is refused and a new one passes.
    await page.reload();
    await page.getByRole("heading", { level: 1, name: host }).waitFor();
    await jwt.getByLabel("HMAC secret", { exact: true }).selectOption("replace");
    await jwt.getByLabel("New HMAC secret", { exact: true }).fill(SECOND_SECRET);
    await page.getByRole("button", { name: "Review changes" }).click();
    await dialog.waitFor();
    const replaced = dialog.getByRole("row", { name: /Policies/ });
    expect(await replaced.textContent()).toContain("HMAC secret (new secret)");
    expect(await dialog.textContent()).not.toContain(SECOND_SECRET);
    await admin.sees("zone-jwt-new-secret");
    await dialog.getByRole("button", { name: "Apply" }).click();
    await page.getByText("Saved: version 3").waitFor();
    await eventually("the proxy refuses the token signed with the old secret", async () => ((await stack.proxy.get(host, "/orders", bearer(first))).status === 401 ? true : undefined));
    const second = await stack.proxy.get(host, "/orders", bearer(token(SECOND_SECRET, "ann")));
    expect(second.status).toBe(200);
    expect(second.upstream).toBe(stack.backend.name);

    // The zones list badges the policy.
    await openSection(page, "Zones");
    const badges = page.getByRole("table", { name: "Zones" }).getByRole("row", { name: /api\.tokens\.test/ }).getByRole("list", { name: "Policies" });
    await badges.waitFor();
    expect(await badges.getByRole("listitem").allTextContents()).toEqual(["JWT"]);
    await admin.sees("zones-with-jwt");
  });
});
