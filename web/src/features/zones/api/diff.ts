// A write's diff (the API's dry-run answer) as what a person reads: per zone, created /
// changed / deleted, the fields that differ before → after, and the route the proxies
// will read from Redis for it.
import type { AnyZone, BackendSpec, Diff, ZoneSpec, ZoneView } from "./types";

export type FieldName = "hostname" | "path_prefix" | "backend" | "force_https" | "preserve_host" | "allow" | "timeouts";

export const FIELD_LABELS: Record<FieldName, string> = {
  hostname: "Hostname",
  path_prefix: "Path prefix",
  backend: "Backend",
  force_https: "Force HTTPS",
  preserve_host: "Preserve Host",
  allow: "Allowed clients",
  timeouts: "Timeouts",
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
  const timeouts = [t.connect_ms != null ? `connect ${t.connect_ms} ms` : null, t.read_ms != null ? `read ${t.read_ms} ms` : null].filter(Boolean).join(", ");
  return {
    hostname: z.hostname,
    path_prefix: z.path_prefix ? z.path_prefix : "(whole host)",
    backend: describeBackend(z.backend),
    force_https: z.force_https ? "yes" : "no",
    preserve_host: z.preserve_host ? "yes" : "no",
    allow: z.allow && z.allow.length > 0 ? z.allow.join(", ") : "everyone",
    timeouts: timeouts || "defaults",
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
  /** For a change only the fields that differ; for a create or delete every field. */
  changes: FieldChange[];
  before: ZoneView | null;
  after: ZoneView | null;
}

export function fieldChanges(before: ZoneSpec | AnyZone | null, after: ZoneSpec | AnyZone | null): FieldChange[] {
  const b = before ? describeZone(before) : null;
  const a = after ? describeZone(after) : null;
  return FIELDS.filter((f) => b?.[f] !== a?.[f] || b === null || a === null).map((field) => ({
    field,
    label: FIELD_LABELS[field],
    before: b ? b[field] : null,
    after: a ? a[field] : null,
  }));
}

/** The diff's zones in one list: created, then changed, then deleted. */
export function diffEntries(diff: Diff): ZoneDiffEntry[] {
  return [
    ...diff.created.map((z) => ({ kind: "created" as const, id: z.id, hostname: z.hostname, path_prefix: z.path_prefix ?? "", changes: fieldChanges(null, z), before: null, after: z })),
    ...diff.changed.map((c) => ({ kind: "changed" as const, id: c.id, hostname: c.after.hostname, path_prefix: c.after.path_prefix ?? "", changes: fieldChanges(c.before, c.after), before: c.before, after: c.after })),
    ...diff.deleted.map((z) => ({ kind: "deleted" as const, id: z.id, hostname: z.hostname, path_prefix: z.path_prefix ?? "", changes: fieldChanges(z, null), before: z, after: null })),
  ];
}

export function isEmptyDiff(diff: Diff): boolean {
  return diff.created.length + diff.deleted.length === 0 && diff.changed.every((c) => fieldChanges(c.before, c.after).length === 0);
}

/** Renders a named backend's URL template for a zone (`{host}`, `{first_label}`, params). */
export function renderTemplate(template: string, hostname: string, params: Record<string, string>): { url: string } | { problem: string } {
  let out = "";
  for (let i = 0; i < template.length; i++) {
    const c = template.charAt(i);
    const next = template.charAt(i + 1);
    if ((c === "{" && next === "{") || (c === "}" && next === "}")) {
      out += c;
      i++;
    } else if (c === "{") {
      const end = template.indexOf("}", i);
      if (end < 0) return { problem: `unclosed “{” in ${template}` };
      const name = template.slice(i + 1, end);
      if (name === "host") out += hostname;
      else if (name === "first_label") {
        const first = hostname.split(".")[0] ?? "";
        if (first === "*" || first === "**") return { problem: `uses {first_label} but “${hostname}” starts with a wildcard` };
        out += first;
      } else if (name in params) out += params[name] ?? "";
      else return { problem: `needs the parameter “${name}”` };
      i = end;
    } else out += c;
  }
  return { url: out };
}

/** One route in a hostname's Redis record, as the proxies read it (shared::model::Route). */
export interface RedisRoute {
  zone_id: string;
  path_prefix: string;
  upstreams: { url: string; weight: number }[];
  named_backend?: string;
  force_https: boolean;
  preserve_host: boolean;
  allow: string[];
  timeouts: { connect_ms?: number; read_ms?: number };
}

export interface RedisView {
  /** The key under the deployment's prefix (e.g. `switchyard:zone:app.example.com`). */
  key: string;
  route: RedisRoute | null;
  /** Why the upstreams could not be shown (a named backend whose template is unknown). */
  note: string | null;
}

/**
 * The route this zone becomes in Redis — what the dry run's diff implies the proxies will
 * serve. A named backend is rendered with its template when it is known.
 */
export function redisView(zone: ZoneView, template: string | null | undefined): RedisView {
  const key = `zone:${zone.hostname}`;
  const t = zone.timeouts ?? {};
  const timeouts: RedisRoute["timeouts"] = {};
  if (t.connect_ms != null) timeouts.connect_ms = t.connect_ms;
  if (t.read_ms != null) timeouts.read_ms = t.read_ms;
  const route: RedisRoute = {
    zone_id: zone.id,
    path_prefix: zone.path_prefix ?? "",
    upstreams: [],
    force_https: zone.force_https ?? false,
    preserve_host: zone.preserve_host ?? false,
    allow: zone.allow ?? [],
    timeouts,
  };
  const b = zone.backend;
  let note: string | null = null;
  if (b.kind === "upstreams") route.upstreams = b.upstreams.map((u) => ({ url: u.url, weight: u.weight }));
  if (b.kind === "named") {
    route.named_backend = b.name;
    if (template == null) note = `rendered from named backend “${b.name}” (its template could not be read)`;
    else {
      const r = renderTemplate(template, zone.hostname, b.params ?? {});
      if ("url" in r) route.upstreams = [{ url: r.url, weight: 1 }];
      else note = `named backend “${b.name}” ${r.problem}`;
    }
  }
  return { key, route, note };
}
