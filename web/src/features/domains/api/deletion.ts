// What deleting a domain takes with it, from the API's dry run (`DELETE
// /domains/{id}?dry_run=true&cascade=true`): its zones, its certificate (with the ACME
// orders cert-worker still runs and the Redis key the proxies serve it from) and the
// grants on it. The confirm dialog shows this before anything is deleted.
import { changesOf, summaryField, type Diff } from "@/lib/changes";

export interface DeletionSummary {
  /** `app.example.com`, `app.example.com/api`: each zone that goes, in the API's order. */
  zones: string[];
  certificate: { names: string[]; pendingOrders: number; redisKey: string | null } | null;
  /** How many users lose a grant on the domain. */
  grants: number;
}

function zoneLabel(hostname: string, pathPrefix: string): string {
  return pathPrefix ? `${hostname}${pathPrefix}` : hostname;
}

export function describeDeletion(diff: Diff): DeletionSummary {
  const [cert] = changesOf(diff, "certificate.delete");
  const names = summaryField(cert, "before", "names");
  const pending = summaryField(cert, "before", "pending_acme_orders");
  const key = summaryField(cert, "before", "redis_key");
  return {
    zones: diff.deleted.map((z) => zoneLabel(z.hostname, z.path_prefix ?? "")),
    certificate: cert
      ? {
          names: Array.isArray(names) ? names.filter((n): n is string => typeof n === "string") : [],
          pendingOrders: typeof pending === "number" ? pending : 0,
          redisKey: typeof key === "string" ? key : null,
        }
      : null,
    grants: changesOf(diff, "grant.delete").length,
  };
}

/** The confirm button's words: what the click deletes. */
export function confirmLabel(domain: string, summary: DeletionSummary): string {
  const n = summary.zones.length;
  if (n === 0) return `Delete ${domain}`;
  return `Delete ${domain} and ${n === 1 ? "its zone" : `${n} zones`}`;
}
