// Which certificate a zone's hostname gets today (GET /zones/{id}/certificate): the
// proxies' own rule — exact beats wildcard; for the same name uploaded beats issued —
// answered by the panel, put in words.
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { components } from "@/lib/api/schema.gen";
import { zoneKeys } from "./zones";

export type ZoneCertificate = components["schemas"]["ZoneCertificate"];

/** Days left below which an expiry is worth a warning. */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

export interface ServingSummary {
  /** Short, for a badge: "Uploaded", "Issued", "No certificate". */
  label: string;
  tone: "ok" | "warn" | "bad";
  /** Sentences for the details, most important first. */
  lines: string[];
}

/** The answer in words, as of `now` (ms). */
export function describeServing(answer: ZoneCertificate, now: number): ServingSummary {
  const cert = answer.certificate;
  if (!cert) {
    return {
      label: "No certificate",
      tone: "bad",
      lines: [`No certificate covers ${answer.hostname}: HTTPS handshakes for it fail (unless the proxies have a default certificate).`],
    };
  }
  const days = Math.floor((Date.parse(cert.not_after) - now) / DAY_MS);
  const how = cert.coverage === "exact" ? `names ${answer.hostname} itself` : `covers it as ${cert.name}`;
  const lines = [`The ${cert.source} certificate ${cert.name} ${how}.`];
  let tone: ServingSummary["tone"] = "ok";
  if (days < 0) {
    tone = "bad";
    lines.push(`It expired on ${new Date(cert.not_after).toLocaleDateString()}.`);
  } else {
    if (days < EXPIRY_WARNING_DAYS) tone = "warn";
    lines.push(`Valid until ${new Date(cert.not_after).toLocaleDateString()} (${days} days left).`);
  }
  if (cert.source === "uploaded") lines.push("Uploaded certificates are never renewed automatically: replace it before it expires.");
  return { label: cert.source === "uploaded" ? "Uploaded" : "Issued", tone, lines };
}

export function useZoneCertificate(zoneId: string) {
  return useQuery({
    queryKey: zoneKeys.certificate(zoneId),
    queryFn: ({ signal }): Promise<ZoneCertificate> =>
      unwrap(api.GET("/api/v1/zones/{id}/certificate", { params: { path: { id: zoneId } }, signal })),
  });
}
