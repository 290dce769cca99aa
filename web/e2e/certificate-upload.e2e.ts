// Story: an admin brings their own certificate for one hostname the overview lists as
// covered by no certificate. A chain whose names do
// not cover the hostname and a key that is not the leaf's are each refused beside the
// field they concern, and nothing is stored; "Check" validates without storing; the right
// pair is uploaded, listed with its expiry, and within seconds the proxy presents exactly
// that certificate for the hostname (SNI) while the zone says "Uploaded"; replaced by an
// RSA one, the proxy presents the new one; deleted, it is gone from the list and the proxy.
import { expect, test } from "vitest";
import { ADMIN } from "./support/stack";
import { selfSigned } from "./support/certs";
import { eventually } from "./support/eventually";
import { logIn, openSection } from "./support/steps";
import { story } from "./support/story";

const world = story("certificate-upload", { https: true });
const HOST = "shop.up.test";

test("an uploaded certificate is checked field by field, then served by SNI", async () => {
  const { stack } = world;
  const domainId = await stack.domain("up.test");
  const zoneId = await stack.zone(HOST);
  const good = selfSigned([HOST]);
  const wrongNames = selfSigned(["elsewhere.test"]);
  const replacement = selfSigned([HOST], { rsa: true });
  const uploads = async () => ((await stack.admin.call("GET", `/domains/${domainId}/uploaded-certificates`)).json as { items: { id: string }[] }).items;
  // Before any upload no certificate covers the hostname: the handshake fails.
  await expect(stack.proxy.peerCertificate(HOST)).rejects.toThrow();

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    // The overview names the zone no certificate covers yet, linked to it.
    await openSection(page, "Overview");
    await page.getByRole("list", { name: "Zones no certificate covers" }).getByRole("link", { name: HOST }).waitFor();
    await openSection(page, "Domains");
    await page.getByText("None: the issued certificate serves up.test.").waitFor();
    await page.getByRole("button", { name: "Upload certificate for up.test" }).click();
    const dialog = page.getByRole("dialog", { name: "Upload a certificate for up.test" });
    await dialog.getByLabel("Hostname (optional)").fill(HOST);

    // Names that do not cover the hostname: said under the chain.
    await dialog.getByLabel("Certificate chain (PEM)", { exact: true }).fill(wrongNames.chainPem);
    await dialog.getByLabel("Private key (PEM)", { exact: true }).fill(wrongNames.keyPem);
    await dialog.getByRole("button", { name: "Upload", exact: true }).click();
    await dialog.getByText(/the leaf's names \(elsewhere\.test\) do not cover shop\.up\.test/).waitFor();
    expect(await uploads()).toEqual([]);

    // The right chain with another certificate's key: said under the key.
    await dialog.getByLabel("Certificate chain (PEM)", { exact: true }).fill(good.chainPem);
    await dialog.getByRole("button", { name: "Upload", exact: true }).click();
    await dialog.getByText(/does not belong to the leaf certificate/).waitFor();
    await admin.sees("certificate-upload-refused");
    expect(await uploads()).toEqual([]);

    // The right pair: "Check" validates and stores nothing; "Upload" stores it.
    await dialog.getByLabel("Private key (PEM)", { exact: true }).fill(good.keyPem);
    await dialog.getByRole("button", { name: "Check" }).click();
    await dialog.getByText("Chain and key are valid for these names. Nothing is stored until you upload.").waitFor();
    expect(await uploads()).toEqual([]);
    await dialog.getByRole("button", { name: "Upload", exact: true }).click();
    await page.getByText(`Uploaded the certificate for ${HOST}; the proxies serve it within seconds.`).waitFor();
    const list = page.getByRole("list", { name: "Uploaded certificates of up.test" });
    await list.getByText(HOST, { exact: true }).waitFor();
    await list.getByText(/never renewed automatically/).waitFor();
    await list.getByText(/ecdsa-p256/).waitFor();
    await admin.sees("certificate-uploaded");
  });

  expect(await uploads()).toHaveLength(1);
  await eventually("the proxy presents the uploaded certificate", async () => {
    const peer = await stack.proxy.peerCertificate(HOST).catch(() => undefined);
    return peer?.fingerprint256 === good.fingerprint256 ? true : undefined;
  });
  expect((await stack.admin.call("GET", "/certificates/uncovered")).json).toMatchObject({ items: [], total: 0 });
  const serving = (await stack.admin.call("GET", `/zones/${zoneId}/certificate`)).json as { certificate: { source: string; coverage: string } | null };
  expect(serving.certificate).toMatchObject({ source: "uploaded", coverage: "exact" });

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Domains");
    await page.getByRole("button", { name: `Replace the uploaded certificate for ${HOST}` }).click();
    const dialog = page.getByRole("dialog", { name: `Replace the certificate for ${HOST}` });
    await dialog.getByLabel("Certificate chain (PEM)", { exact: true }).fill(replacement.chainPem);
    await dialog.getByLabel("Private key (PEM)", { exact: true }).fill(replacement.keyPem);
    await dialog.getByRole("button", { name: "Replace", exact: true }).click();
    await page.getByText(`Replaced the certificate for ${HOST}; the proxies serve it within seconds.`).waitFor();
    await page.getByRole("list", { name: "Uploaded certificates of up.test" }).getByText(/rsa-2048/).waitFor();
  });
  await eventually("the proxy presents the replacement", async () => {
    const peer = await stack.proxy.peerCertificate(HOST).catch(() => undefined);
    return peer?.fingerprint256 === replacement.fingerprint256 ? true : undefined;
  });

  await world.as("admin", async (admin) => {
    const { page } = admin;
    await logIn(page, ADMIN.username, ADMIN.password);
    await openSection(page, "Domains");
    await page.getByRole("button", { name: `Delete the uploaded certificate for ${HOST}` }).click();
    const dialog = page.getByRole("dialog", { name: `Delete the uploaded certificate for ${HOST}?` });
    await dialog.getByRole("button", { name: "Delete", exact: true }).click();
    await page.getByText(`Deleted the uploaded certificate for ${HOST}.`).waitFor();
    await page.getByText("None: the issued certificate serves up.test.").waitFor();
  });
  expect(await uploads()).toEqual([]);
  await eventually("the proxy no longer presents it", async () => {
    const peer = await stack.proxy.peerCertificate(HOST).catch(() => undefined);
    return peer === undefined ? true : undefined;
  });
});
