// Each DNS provider's secret fields (cert-worker's JSON shape, as the API checks it) and
// the form's values → the request body. Secrets are write-only: never read back, never
// pre-filled; a rotation sends a whole new secret.
import type { CredentialPatch, NewCredential } from "./types";

export const PROVIDERS = ["cloudflare", "digitalocean", "porkbun", "manual"] as const;
export type Provider = (typeof PROVIDERS)[number];

export const PROVIDER_LABELS: Record<Provider, string> = {
  cloudflare: "Cloudflare",
  digitalocean: "DigitalOcean",
  porkbun: "Porkbun",
  manual: "Manual DNS (you publish the TXT records)",
};

export interface SecretField {
  name: string;
  label: string;
}

export const SECRET_FIELDS: Record<Provider, SecretField[]> = {
  cloudflare: [{ name: "api_token", label: "API token" }],
  digitalocean: [{ name: "token", label: "Token" }],
  porkbun: [
    { name: "api_key", label: "API key" },
    { name: "secret_api_key", label: "Secret API key" },
  ],
  manual: [],
};

export function isProvider(p: string): p is Provider {
  return (PROVIDERS as readonly string[]).includes(p);
}

export function secretFields(provider: string): SecretField[] {
  return isProvider(provider) ? SECRET_FIELDS[provider] : [];
}

/** The form's fields the API's problems may name, most specific first. */
export function errorFields(provider: string): string[] {
  return ["name", "provider", ...secretFields(provider).map((f) => `secret.${f.name}`), "secret", "api_base_url"];
}

/**
 * The secret object for `provider` from the typed values (trimmed; a field left empty is
 * sent empty, so the API names it). null for a provider without a secret.
 */
export function secretFromForm(provider: string, values: Record<string, string>): Record<string, string> | null {
  const fields = secretFields(provider);
  if (fields.length === 0) return null;
  return Object.fromEntries(fields.map((f) => [f.name, (values[f.name] ?? "").trim()]));
}

// The OpenAPI document types `secret` as an empty object (its fields depend on the
// provider), so the generated type cannot carry them: the one cast is here.
type SecretBody = NonNullable<NewCredential["secret"]>;

export function newCredentialBody(form: { name: string; provider: string; secret: Record<string, string>; apiBaseUrl: string }): NewCredential {
  const secret = secretFromForm(form.provider, form.secret);
  const url = form.apiBaseUrl.trim();
  return {
    name: form.name.trim(),
    provider: form.provider,
    ...(secret ? { secret: secret as unknown as SecretBody } : {}),
    ...(url ? { api_base_url: url } : {}),
  };
}

/** A rotation: a new secret, and/or a changed base URL (empty leaves it as it is). */
export function rotationBody(form: { provider: string; secret: Record<string, string>; apiBaseUrl: string }): CredentialPatch {
  const secret = secretFromForm(form.provider, form.secret);
  const url = form.apiBaseUrl.trim();
  return {
    ...(secret ? { secret: secret as unknown as SecretBody } : {}),
    ...(url ? { api_base_url: url } : {}),
  };
}
