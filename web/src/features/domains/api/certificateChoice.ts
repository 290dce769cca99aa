import type { DomainView } from "./types";

/** How a domain's names get certificates (the API's `certificates`). */
export type CertificateChoice = DomainView["certificates"];

/** The choices, in the order the dialogs offer them (the API's default first). */
export const CERTIFICATE_CHOICES: readonly CertificateChoice[] = ["wildcard", "per_host"];

/** What the domain's card and the dialogs call a choice, short. */
export function choiceLabel(choice: CertificateChoice): string {
  return choice === "per_host" ? "One per hostname (HTTP-01)" : "Wildcard (DNS-01)";
}

/** What a choice means for `domain`'s names, in a sentence (the dialogs' hint). */
export function choiceHint(choice: CertificateChoice, domain: string): string {
  const d = domain.trim() || "example.com";
  return choice === "per_host"
    ? `No wildcard is ordered, even with a DNS credential: each zone hostname under ${d} gets its own certificate by HTTP-01 once it points at the fleet. Zones with * get none.`
    : `One certificate for *.${d} and ${d} by DNS-01; only hostnames two labels below ${d} or more get their own by HTTP-01.`;
}

/**
 * What changes when a domain switches from `from` to `to` (the Edit dialog says it
 * before saving); `null` when nothing does.
 */
export function switchEffect(from: CertificateChoice, to: CertificateChoice): string | null {
  if (from === to) return null;
  return to === "per_host"
    ? "Each hostname's certificate is ordered now; the wildcard already issued keeps serving until then (and until it expires — it is no longer renewed)."
    : "The wildcard is ordered again; each hostname keeps its own certificate until the wildcard is issued.";
}
