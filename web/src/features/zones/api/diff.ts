// A write's diff (the API's dry-run answer) as what a person reads: per zone, created /
// changed / deleted, the fields that differ before → after, and the Redis record the
// proxies will read for its hostname — exactly as the API renders it (`records`).
import { describeMatch } from "./match";
import { describePolicies, NO_NEW_SECRETS, type NewSecrets } from "./policies";
import type { RouteMatch } from "@/lib/routeMatch";
import type { AnyZone, BackendSpec, Diff, RecordChange, ZoneSpec, ZoneView } from "./types";

export type FieldName = "hostname" | "path_prefix" | "match" | "backend" | "force_https" | "preserve_host" | "allow" | "timeouts" | "policies";

export const FIELD_LABELS: Record<FieldName, string> = {
  hostname: "Hostname",
  path_prefix: "Path prefix",
  match: "Match conditions",
  backend: "Backend",
  force_https: "Force HTTPS",
  preserve_host: "Preserve Host",
  allow: "Allowed clients",
  timeouts: "Timeouts",
  policies: "Policies",
};

const FIELDS = Object.keys(FIELD_LABELS) as FieldName[];

export function describeBackend(b: BackendSpec): string {
  switch (b.kind) {
    case "none":
      return "none (answers 503 “service not configured”)";
    case "upstreams":
      return b.upstreams.length === 0 ? "no upstreams" : b.upstreams.map((u) => (u.weight === 1 ? u.url : `${u.url} (weight ${u.weight})`)).join(", ");
    case "named": {
      const params = Object.entries(b.params ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      return params ? `named “${b.name}” (${params})` : `named “${b.name}”`;
    }
  }
}

/** Every field of a zone as text, so two versions compare and print alike. */
export function describeZone(z: ZoneSpec | AnyZone): Record<FieldName, string> {
  const t = z.timeouts ?? {};
  const timeouts = [
    t.connect_ms != null ? `connect ${t.connect_ms} ms` : null,
    t.read_ms != null ? `read ${t.read_ms} ms` : null,
    t.idle_ms != null ? `idle ${t.idle_ms} ms` : null,
    t.total_ms != null ? `total ${t.total_ms} ms` : null,
  ]
    .filter(Boolean)
    .join(", ");
  return {
    hostname: z.hostname,
    path_prefix: z.path_prefix ? z.path_prefix : "(whole host)",
    match: describeMatch(z.match),
    backend: describeBackend(z.backend),
    force_https: z.force_https ? "yes" : "no",
    preserve_host: z.preserve_host ? "yes" : "no",
    allow: z.allow && z.allow.length > 0 ? z.allow.join(", ") : "everyone",
    timeouts: timeouts || "defaults",
    policies: describePolicies(z.policies),
  };
}

export interface FieldChange {
  field: FieldName;
  label: string;
  before: string | null;
  after: string | null;
}

export interface ZoneDiffEntry {
  kind: "created" | "changed" | "deleted";
  id: string;
  hostname: string;
  path_prefix: string;
  /** The zone's conditions (after the write; before it, for a delete): part of what names it. */
  match: RouteMatch | undefined;
  /** For a change only the fields that differ; for a create or delete every field. */
  changes: FieldChange[];
  before: ZoneView | null;
  after: ZoneView | null;
}

/** A zone's policies as JSON to compare, `{}` and none alike. */
function policiesJson(z: ZoneSpec | AnyZone): string {
  const p = z.policies;
  return p && Object.keys(p).length > 0 ? JSON.stringify(p) : "";
}

/** `secrets`: the basic-auth users the write gives a new password and whether it sets a new JWT secret ([`secretsSet`]). */
export function fieldChanges(before: ZoneSpec | AnyZone | null, after: ZoneSpec | AnyZone | null, secrets: NewSecrets = NO_NEW_SECRETS): FieldChange[] {
  const b = before ? describeZone(before) : null;
  const a = after ? describeZone(after) : null;
  if (a && after && before) {
    // A user's new password or a new JWT secret does not show in the API's answer (it
    // returns no hashes or secrets): the write's payload says what is set. Any other change
    // the words leave out (an error page's body) is still a change.
    a.policies = describePolicies(after.policies, before.policies, secrets);
    if (a.policies === b?.policies && policiesJson(after) !== policiesJson(before)) a.policies += " (details changed)";
  }
  return FIELDS.filter((f) => b?.[f] !== a?.[f] || b === null || a === null).map((field) => ({
    field,
    label: FIELD_LABELS[field],
    before: b ? b[field] : null,
    after: a ? a[field] : null,
  }));
}

/** The diff's zones in one list: created, then changed, then deleted. `secrets`: see [`fieldChanges`]. */
export function diffEntries(diff: Diff, secrets: NewSecrets = NO_NEW_SECRETS): ZoneDiffEntry[] {
  return [
    ...diff.created.map((z) => ({ kind: "created" as const, id: z.id, hostname: z.hostname, path_prefix: z.path_prefix ?? "", match: z.match, changes: fieldChanges(null, z), before: null, after: z })),
    ...diff.changed.map((c) => ({ kind: "changed" as const, id: c.id, hostname: c.after.hostname, path_prefix: c.after.path_prefix ?? "", match: c.after.match, changes: fieldChanges(c.before, c.after, secrets), before: c.before, after: c.after })),
    ...diff.deleted.map((z) => ({ kind: "deleted" as const, id: z.id, hostname: z.hostname, path_prefix: z.path_prefix ?? "", match: z.match, changes: fieldChanges(z, null), before: z, after: null })),
  ];
}

export function isEmptyDiff(diff: Diff, secrets: NewSecrets = NO_NEW_SECRETS): boolean {
  return diff.created.length + diff.deleted.length === 0 && diff.changed.every((c) => fieldChanges(c.before, c.after, secrets).length === 0);
}

/**
 * The Redis records a diff entry touches, as the API's dry run rendered them: the record
 * of its hostname (and of its old hostname, when a change moves it), now and after.
 */
export function recordsOf(diff: Diff, entry: ZoneDiffEntry): RecordChange[] {
  const hosts = new Set([entry.before?.hostname, entry.after?.hostname].filter((h): h is string => h !== undefined));
  return diff.records.filter((r) => hosts.has(r.hostname));
}
