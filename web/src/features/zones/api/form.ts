// The zone form ↔ the API's ZoneSpec, and the API's 422 field errors → the form's fields.
// The form keeps text as typed (numbers, one address per line, `name=value` lines);
// only what cannot be sent at all (a timeout that is not a number) is refused here —
// every other check is the API's, shown next to the field it names. The route policies'
// part of the form is policies.ts, the match conditions' match.ts.
import type { FieldProblem } from "@/lib/api/errors";
import { emptyMatchForm, matchErrorTarget, matchFormFromApi, matchFromForm, type MatchField, type MatchFormValues } from "./match";
import { emptyPolicyForm, policiesFromForm, policyErrorTarget, policyFormFromApi, type PolicyField, type PolicyFormValues } from "./policies";
import type { AnyZone, BackendSpec, ZoneSpec } from "./types";

export type BackendKind = BackendSpec["kind"];

export interface UpstreamRow {
  url: string;
  weight: string;
}

export interface ZoneFormValues {
  hostname: string;
  path_prefix: string;
  backendKind: BackendKind;
  upstreams: UpstreamRow[];
  namedName: string;
  /** One `name=value` per line. */
  namedParams: string;
  force_https: boolean;
  preserve_host: boolean;
  /** One CIDR or address per line. */
  allow: string;
  connect_ms: string;
  read_ms: string;
  /** The client's longest pause during an exchange (data format 2). */
  idle_ms: string;
  /** The whole exchange's longest time (data format 2). */
  total_ms: string;
  /** What a request must also meet (docs/routing.md). */
  match: MatchFormValues;
  policies: PolicyFormValues;
}

export const emptyZoneForm: ZoneFormValues = {
  hostname: "",
  path_prefix: "",
  backendKind: "upstreams",
  upstreams: [{ url: "", weight: "1" }],
  namedName: "",
  namedParams: "",
  force_https: false,
  preserve_host: false,
  allow: "",
  connect_ms: "",
  read_ms: "",
  idle_ms: "",
  total_ms: "",
  match: emptyMatchForm,
  policies: emptyPolicyForm,
};

/** The form filled from a zone as the API shows it. */
export function formFromZone(zone: AnyZone | ZoneSpec): ZoneFormValues {
  const b = zone.backend;
  return {
    hostname: zone.hostname,
    path_prefix: zone.path_prefix ?? "",
    backendKind: b.kind,
    upstreams:
      b.kind === "upstreams" && b.upstreams.length > 0
        ? b.upstreams.map((u) => ({ url: u.url, weight: String(u.weight) }))
        : [{ url: "", weight: "1" }],
    namedName: b.kind === "named" ? b.name : "",
    namedParams:
      b.kind === "named"
        ? Object.entries(b.params ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join("\n")
        : "",
    force_https: zone.force_https ?? false,
    preserve_host: zone.preserve_host ?? false,
    allow: (zone.allow ?? []).join("\n"),
    connect_ms: zone.timeouts?.connect_ms != null ? String(zone.timeouts.connect_ms) : "",
    read_ms: zone.timeouts?.read_ms != null ? String(zone.timeouts.read_ms) : "",
    idle_ms: zone.timeouts?.idle_ms != null ? String(zone.timeouts.idle_ms) : "",
    total_ms: zone.timeouts?.total_ms != null ? String(zone.timeouts.total_ms) : "",
    match: matchFormFromApi(zone.match),
    policies: policyFormFromApi(zone.policies),
  };
}

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** "" → absent; a whole number → that number; anything else → a problem. */
function optionalInteger(text: string, field: string, problems: FieldProblem[]): number | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  if (!/^\d+$/.test(t)) {
    problems.push({ field, problem: `"${t}" is not a whole number of milliseconds` });
    return undefined;
  }
  return Number(t);
}

export type SpecResult = { ok: true; spec: ZoneSpec } | { ok: false; problems: FieldProblem[] };

/** The ZoneSpec the form describes, or what keeps it from being sent. */
export function specFromForm(form: ZoneFormValues): SpecResult {
  const problems: FieldProblem[] = [];
  let backend: BackendSpec;
  switch (form.backendKind) {
    case "none":
      backend = { kind: "none" };
      break;
    case "upstreams": {
      // Every row is sent, so the API's positions (`backend.upstreams[1]`) are the form's.
      backend = {
        kind: "upstreams",
        upstreams: form.upstreams.map((u, i) => {
          const w = u.weight.trim();
          if (!/^\d+$/.test(w)) {
            problems.push({ field: `backend.upstreams[${i}].weight`, problem: `"${w}" is not a whole number` });
          }
          return { url: u.url.trim(), weight: /^\d+$/.test(w) ? Number(w) : 1 };
        }),
      };
      break;
    }
    case "named": {
      const params: Record<string, string> = {};
      for (const [n, line] of lines(form.namedParams).entries()) {
        const eq = line.indexOf("=");
        if (eq <= 0) {
          problems.push({ field: "backend.params", problem: `line ${n + 1} ("${line}") is not name=value` });
          continue;
        }
        params[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
      }
      backend = { kind: "named", name: form.namedName.trim(), params };
      break;
    }
  }
  const connect_ms = optionalInteger(form.connect_ms, "timeouts.connect_ms", problems);
  const read_ms = optionalInteger(form.read_ms, "timeouts.read_ms", problems);
  const idle_ms = optionalInteger(form.idle_ms, "timeouts.idle_ms", problems);
  const total_ms = optionalInteger(form.total_ms, "timeouts.total_ms", problems);
  const match = matchFromForm(form.match, problems);
  const policies = policiesFromForm(form.policies, problems);
  if (problems.length > 0) return { ok: false, problems };
  const timeouts: ZoneSpec["timeouts"] = {};
  if (connect_ms !== undefined) timeouts.connect_ms = connect_ms;
  if (read_ms !== undefined) timeouts.read_ms = read_ms;
  if (idle_ms !== undefined) timeouts.idle_ms = idle_ms;
  if (total_ms !== undefined) timeouts.total_ms = total_ms;
  return {
    ok: true,
    spec: {
      hostname: form.hostname.trim(),
      path_prefix: form.path_prefix.trim(),
      backend,
      force_https: form.force_https,
      preserve_host: form.preserve_host,
      allow: lines(form.allow),
      timeouts,
      // Only with a condition in it: a zone without conditions is sent without the key.
      ...(match ? { match } : {}),
      // Only with something in it: a zone without policies is sent without the key.
      ...(policies ? { policies } : {}),
    },
  };
}

/** The fields the form shows errors next to. */
export type FormField =
  | "hostname"
  | "path_prefix"
  | "backend"
  | "backend.upstreams"
  | `backend.upstreams[${number}].url`
  | `backend.upstreams[${number}].weight`
  | "backend.name"
  | "backend.params"
  | "allow"
  | "timeouts.connect_ms"
  | "timeouts.read_ms"
  | "timeouts.idle_ms"
  | "timeouts.total_ms"
  | MatchField
  | PolicyField;

export interface FormErrors {
  /** Problems by the form field they belong next to. */
  fields: Partial<Record<FormField, string[]>>;
  /** Problems that name no field the form shows (shown above the form, with their field). */
  other: string[];
}

const DIRECT = new Set<string>(["hostname", "path_prefix", "backend", "backend.upstreams", "backend.name", "backend.params", "allow", "timeouts.connect_ms", "timeouts.read_ms", "timeouts.idle_ms", "timeouts.total_ms"]);

/**
 * Places each of the API's `{field, problem}` next to a form field: `allow[3]` on the
 * allow list ("line 4: …"), `backend.upstreams[1]` on that upstream's URL,
 * `backend.params.port` on the parameters, `backend.kind` on the kind. A problem with
 * no field, or one the form does not show, goes to `other` with its field named.
 * `match…` goes next to the condition's input (match.ts), `policies…` next to the
 * policy's input (policies.ts); `form`, the values the
 * request was built from, turns the API's list positions into the form's rows.
 */
export function formErrors(details: FieldProblem[], form?: ZoneFormValues): FormErrors {
  const out: FormErrors = { fields: {}, other: [] };
  const add = (field: FormField, problem: string) => {
    (out.fields[field] ??= []).push(problem);
  };
  for (const { field, problem } of details) {
    // A bulk-shaped position (`create[0].hostname`, `update[0].zone.hostname`) names the same field.
    const f = field.replace(/^(create\[\d+\]\.|update\[\d+\]\.zone\.)/, "");
    let m: RegExpMatchArray | null;
    if (DIRECT.has(f)) add(f as FormField, problem);
    else if ((m = /^allow\[(\d+)\]$/.exec(f))) add("allow", `line ${Number(m[1]) + 1}: ${problem}`);
    else if ((m = /^backend\.upstreams\[(\d+)\](?:\.(url|weight))?$/.exec(f)))
      add(`backend.upstreams[${Number(m[1])}].${(m[2] ?? "url") as "url" | "weight"}`, problem);
    else if (/^backend\.params(\.|\[|$)/.test(f)) add("backend.params", problem);
    else if (f === "backend.kind") add("backend", problem);
    else if (f === "timeouts") add("timeouts.connect_ms", problem);
    else if (/^match(\.|\[|$)/.test(f)) {
      const target = matchErrorTarget(f, form?.match);
      add(target.field, target.prefix ? `${target.prefix}: ${problem}` : problem);
    } else if (/^policies(\.|\[|$)/.test(f)) {
      const target = policyErrorTarget(f, form?.policies);
      add(target.field, target.prefix ? `${target.prefix}: ${problem}` : problem);
    }
    else out.other.push(f ? `${f}: ${problem}` : problem);
  }
  return out;
}

/**
 * Whether a 409's details are the format gate's (a live proxy reads only data format 1):
 * it puts its problem on the field that needs the newer format, `policies`, `match` or `timeouts`
 * (`create[3].match` in a bulk write). Any other 409 is a conflict with what is stored.
 */
export function refusedByFormatGate(details: FieldProblem[]): boolean {
  return details.some((d) => /(^|\.)(policies|match|timeouts)$/.test(d.field));
}

export function hasErrors(errors: FormErrors): boolean {
  return errors.other.length > 0 || Object.keys(errors.fields).length > 0;
}
