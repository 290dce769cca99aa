import type { components } from "@/lib/api/schema.gen";

export type CredentialView = components["schemas"]["CredentialView"];
export type NewCredential = components["schemas"]["NewCredential"];
export type CredentialPatch = components["schemas"]["CredentialPatch"];
