// A certificate's state (GET /domains/{id}/certificate) in words: what it is, whether
// anything is wrong, and what happens next.
import { formatAge } from "@/lib/format";
import type { CertificateView, DomainView } from "./types";

export type Tone = "ok" | "waiting" | "bad" | "warn";

export interface CertificateSummary {
  /** Short, for a badge: "Active", "Pending", "Failed", … */
  label: string;
  tone: Tone;
  /** Sentences for the details, most important first. */
  lines: string[];
}

const LABELS: Record<string, string> = {
  pending: "Pending",
  active: "Active",
  renewing: "Renewing",
  failed: "Failed",
  failed_renewal: "Renewal failed",
};

function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function relative(iso: string, now: number): string {
  const secs = (new Date(iso).getTime() - now) / 1000;
  if (!Number.isFinite(secs)) return "";
  if (Math.abs(secs) < 5) return "now";
  return secs >= 0 ? `in ${formatAge(secs)}` : `${formatAge(-secs)} ago`;
}

/** Days until `not_after` (negative once expired); null without one. */
export function daysLeft(cert: CertificateView, now: number): number | null {
  if (!cert.not_after) return null;
  const t = new Date(cert.not_after).getTime();
  return Number.isNaN(t) ? null : Math.floor((t - now) / 86_400_000);
}

/** What a `per_host` domain's wildcard row means: it is never ordered or renewed. */
function perHostWildcard(cert: CertificateView | null, validUntil: string | null): CertificateSummary {
  const own = "Each zone hostname gets its own certificate by HTTP-01 (this domain's choice); no wildcard is ordered.";
  if (cert === null || !cert.not_after) return { label: "Not ordered", tone: "ok", lines: [own] };
  return { label: "Not renewed", tone: "warn", lines: [validUntil ?? "", "The wildcard issued earlier keeps serving until it expires; it is not renewed.", own].filter((l) => l !== "") };
}

/**
 * `null`: the domain has no certificate order (the API answered 404). `choice`: the
 * domain's `certificates` — a `per_host` domain's wildcard is never ordered.
 */
export function summarizeCertificate(cert: CertificateView | null, now: number, choice: DomainView["certificates"] = "wildcard"): CertificateSummary {
  const left = cert ? daysLeft(cert, now) : null;
  const validUntil = cert?.not_after ? `Valid until ${when(cert.not_after)}${left !== null ? (left >= 0 ? ` (${left} days left)` : " (expired)") : ""}.` : null;
  if (choice === "per_host") return perHostWildcard(cert, validUntil);
  if (cert === null) return { label: "No certificate", tone: "warn", lines: ["This domain has no certificate order."] };
  const lines: string[] = [];
  const label = LABELS[cert.status] ?? cert.status;
  const next = `Next attempt ${when(cert.next_attempt_at)} (${relative(cert.next_attempt_at, now)}).`;
  let tone: Tone;
  switch (cert.status) {
    case "active":
      tone = left !== null && left < 14 ? "warn" : "ok";
      if (validUntil) lines.push(validUntil);
      lines.push(`Renewal due ${when(cert.next_attempt_at)}.`);
      break;
    case "pending":
      tone = "waiting";
      lines.push(cert.manual_dns ? "Waiting for the TXT records below to be published." : "Waiting for the first certificate.");
      lines.push(next);
      break;
    case "renewing":
      tone = "waiting";
      lines.push("A new certificate is being ordered; the current one keeps serving.");
      if (validUntil) lines.push(validUntil);
      lines.push(next);
      break;
    case "failed":
      tone = "bad";
      lines.push(cert.last_error ? `Last error: ${cert.last_error}` : "The last attempt failed (no error was recorded).");
      lines.push(next);
      break;
    case "failed_renewal":
      tone = "bad";
      lines.push(cert.last_error ? `Renewal failed: ${cert.last_error}` : "The renewal failed (no error was recorded).");
      lines.push(validUntil ?? "The current certificate's expiry is not known.");
      lines.push(next);
      break;
    default:
      tone = "warn";
      lines.push(next);
  }
  if (cert.last_error && cert.status !== "failed" && cert.status !== "failed_renewal") lines.push(`Previous error: ${cert.last_error}`);
  if (cert.attempts > 0) lines.push(`${cert.attempts} attempt${cert.attempts === 1 ? "" : "s"} so far.`);
  return { label, tone, lines };
}

/** While an order is in flight its state changes by itself: poll it. */
export function isInFlight(cert: CertificateView | null | undefined): boolean {
  return cert != null && (cert.status === "pending" || cert.status === "renewing");
}

/** The names on the certificate (`["*.example.com", "example.com"]`), whatever JSON the API holds. */
export function certificateNames(cert: CertificateView): string[] {
  return Array.isArray(cert.names) ? cert.names.filter((n): n is string => typeof n === "string") : [];
}
