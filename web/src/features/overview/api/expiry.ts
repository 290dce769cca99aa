import type { Health } from "@/lib/health";

export type ExpiringCert = Health["expiring_certificates"][number];

/** Why a certificate near its expiry is not replaced yet, in words (the API's `why`). */
export function expiryWhy(c: ExpiringCert): string {
  switch (c.why) {
    case "renewal_failing":
      return `Renewal failing: ${c.error ?? "no error recorded"}`;
    case "not_renewable":
      return "Uploaded, never renewed automatically: upload its successor";
    case "renewal_scheduled":
      return "Renewal scheduled";
    case "renewal_unknown":
      return "Renewal state unknown (PostgreSQL does not answer)";
  }
}
