import type { components } from "@/lib/api/schema.gen";

export type DomainView = components["schemas"]["DomainView"];
export type DomainRead = components["schemas"]["DomainRead"];
export type DomainPage = components["schemas"]["DomainPage"];
export type NewDomain = components["schemas"]["NewDomain"];
export type DomainPatch = components["schemas"]["DomainPatch"];
export type CertificateView = components["schemas"]["CertificateView"];
export type CredentialView = components["schemas"]["CredentialView"];
