// The audit filters live in the URL (?actor=&resource_type=&resource_id=&action=&since=&until=&offset=)
// and become the API's query: times typed in the browser's zone → RFC 3339.
import type { operations } from "@/lib/api/schema.gen";

export type AuditQuery = NonNullable<operations["audit_list"]["parameters"]["query"]>;

export const PAGE_SIZE = 50;

/** The resource types the API writes audit records for. */
export const RESOURCE_TYPES = ["zone", "domain", "certificate", "named_backend", "dns_credential", "user", "grant", "api_key", "session"] as const;

export interface AuditFilters {
  actor: string;
  resource_type: string;
  resource_id: string;
  action: string;
  /** As a datetime-local input holds it: `2026-06-01T10:00`. */
  since: string;
  until: string;
}

export const FILTER_NAMES = ["actor", "resource_type", "resource_id", "action", "since", "until"] as const satisfies readonly (keyof AuditFilters)[];

export function filtersFromParams(params: URLSearchParams): AuditFilters {
  return {
    actor: params.get("actor") ?? "",
    resource_type: params.get("resource_type") ?? "",
    resource_id: params.get("resource_id") ?? "",
    action: params.get("action") ?? "",
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
  };
}

export function offsetFromParams(params: URLSearchParams): number {
  const n = Number(params.get("offset") ?? "0");
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/** The URL for filters and a page (empty filters left out). */
export function paramsFrom(filters: AuditFilters, offset: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FILTER_NAMES) {
    const v = filters[name].trim();
    if (v) out[name] = v;
  }
  if (offset > 0) out.offset = String(offset);
  return out;
}

/** A datetime-local value (the browser's zone) as RFC 3339 UTC; null when it is no time. */
export function localToRfc3339(local: string): string | null {
  const v = local.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return null;
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

/** The API's query for these filters; a time that does not parse is a problem for its field. */
export function auditQuery(filters: AuditFilters, offset: number): { query: AuditQuery; problems: { field: string; problem: string }[] } {
  const query: AuditQuery = { limit: PAGE_SIZE, offset };
  const problems: { field: string; problem: string }[] = [];
  if (filters.actor.trim()) query.actor = filters.actor.trim();
  if (filters.resource_type.trim()) query.resource_type = filters.resource_type.trim();
  if (filters.resource_id.trim()) query.resource_id = filters.resource_id.trim();
  if (filters.action.trim()) query.action = filters.action.trim();
  for (const name of ["since", "until"] as const) {
    if (!filters[name].trim()) continue;
    const t = localToRfc3339(filters[name]);
    if (t) query[name] = t;
    else problems.push({ field: name, problem: "not a date and time" });
  }
  return { query, problems };
}
