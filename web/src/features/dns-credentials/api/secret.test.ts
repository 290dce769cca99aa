import { describe, expect, it } from "vitest";
import { errorFields, newCredentialBody, rotationBody, secretFromForm } from "./secret";

describe("DNS credential secrets", () => {
  it("sends each provider's own fields, trimmed, and none for manual", () => {
    expect(secretFromForm("porkbun", { api_key: " pk1 ", secret_api_key: "sk1", api_token: "stray" })).toEqual({ api_key: "pk1", secret_api_key: "sk1" });
    expect(secretFromForm("cloudflare", {})).toEqual({ api_token: "" });
    expect(secretFromForm("manual", { api_token: "x" })).toBeNull();
  });

  it("builds the create body, leaving out what is empty", () => {
    expect(newCredentialBody({ name: " cf ", provider: "cloudflare", secret: { api_token: "t" }, apiBaseUrl: "" })).toEqual({ name: "cf", provider: "cloudflare", secret: { api_token: "t" } });
    expect(newCredentialBody({ name: "m", provider: "manual", secret: {}, apiBaseUrl: " http://dns.test " })).toEqual({ name: "m", provider: "manual", api_base_url: "http://dns.test" });
  });

  it("a rotation carries the new secret and optionally the URL", () => {
    expect(rotationBody({ provider: "digitalocean", secret: { token: "new" }, apiBaseUrl: "" })).toEqual({ secret: { token: "new" } });
  });

  it("names the fields the API's problems may point at", () => {
    expect(errorFields("porkbun")).toEqual(["name", "provider", "secret.api_key", "secret.secret_api_key", "secret", "api_base_url"]);
  });
});
