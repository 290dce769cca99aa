// A route's match conditions in the zone form ↔ the API's `match` (docs/routing.md), and
// the API's problems with them (`match.headers[0].regex`, `match.methods[1]`) → the
// form's inputs.
//
// Only what is filled in is sent: a blank header or query row is left out, and with no
// condition at all there is no `match` key. The form checks only what is plainly missing
// (a row's name, an exact path or pattern asked for and not given); what a valid pattern,
// method or path is, is the API's to say.
import type { FieldProblem } from "@/lib/api/errors";
import { matchBadges, type HeaderCondition, type QueryCondition, type RouteMatch } from "@/lib/routeMatch";

/** The methods offered as chips; any other token goes in the free text. */
export const COMMON_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

export type PathKind = "none" | "exact" | "regex";
export type HeaderKind = "present" | "equals" | "regex";
export type QueryKind = "present" | "equals";

export interface MatchHeaderRow {
  name: string;
  kind: HeaderKind;
  value: string;
}

export interface MatchQueryRow {
  name: string;
  kind: QueryKind;
  value: string;
}

export interface MatchFormValues {
  /** One path condition at most: the API refuses an exact path together with a pattern. */
  pathKind: PathKind;
  path: string;
  /** The chips switched on (of COMMON_METHODS). */
  methods: string[];
  /** Other methods, separated by spaces or commas (`PROPFIND, MKCOL`). */
  otherMethods: string;
  headers: MatchHeaderRow[];
  query: MatchQueryRow[];
}

export const emptyMatchForm: MatchFormValues = { pathKind: "none", path: "", methods: [], otherMethods: "", headers: [], query: [] };

export const blankHeaderCondition = (): MatchHeaderRow => ({ name: "", kind: "present", value: "" });
export const blankQueryCondition = (): MatchQueryRow => ({ name: "", kind: "present", value: "" });

const isCommon = (m: string) => (COMMON_METHODS as readonly string[]).includes(m);

/** The form filled from a zone's conditions as the API shows them. */
export function matchFormFromApi(m: RouteMatch | null | undefined): MatchFormValues {
  if (!m) return emptyMatchForm;
  const methods = m.methods ?? [];
  return {
    pathKind: m.path_exact != null ? "exact" : m.path_regex != null ? "regex" : "none",
    path: m.path_exact ?? m.path_regex ?? "",
    methods: methods.filter(isCommon),
    otherMethods: methods.filter((x) => !isCommon(x)).join(" "),
    headers: (m.headers ?? []).map((h) =>
      h.equals != null ? { name: h.name, kind: "equals", value: h.equals } : h.regex != null ? { name: h.name, kind: "regex", value: h.regex } : { name: h.name, kind: "present", value: "" },
    ),
    query: (m.query ?? []).map((q) => (q.equals != null ? { name: q.name, kind: "equals", value: q.equals } : { name: q.name, kind: "present", value: "" })),
  };
}

// --- which rows are sent ------------------------------------------------------------------
// Blank rows are left out, so the API's positions (`headers[0]`) are those of the rows
// sent; these give, for each position, the form's row.

const keptRows = (rows: { name: string; kind: string; value: string }[]) =>
  rows.flatMap((r, i) => (r.name.trim() !== "" || (r.kind !== "present" && r.value !== "") ? [i] : []));

/** The methods sent, in this order: the chips (in COMMON_METHODS' order), then the others as typed, upper-cased, once each. */
export function methodsOf(form: MatchFormValues): string[] {
  const chips = COMMON_METHODS.filter((m) => form.methods.includes(m));
  const others = form.otherMethods
    .split(/[\s,]+/)
    .map((t) => t.trim().toUpperCase())
    .filter((t) => t !== "");
  return [...new Set<string>([...chips, ...others])];
}

/**
 * The `match` the form describes, with only what is filled in; `undefined` when there is
 * no condition. What plainly cannot be sent is added to `problems`, named by the API's field.
 */
export function matchFromForm(form: MatchFormValues, problems: FieldProblem[]): RouteMatch | undefined {
  const m: RouteMatch = {};
  if (form.pathKind !== "none") {
    const field = form.pathKind === "exact" ? "match.path_exact" : "match.path_regex";
    // A path is trimmed; a pattern is sent as typed (a space may be part of it).
    const path = form.pathKind === "exact" ? form.path.trim() : form.path;
    if (path.trim() === "") problems.push({ field, problem: form.pathKind === "exact" ? "give the exact path, e.g. /api/health" : "give the pattern, e.g. ^/v[0-9]+/" });
    else if (form.pathKind === "exact") m.path_exact = path;
    else m.path_regex = path;
  }
  const methods = methodsOf(form);
  if (methods.length > 0) m.methods = methods;
  const headers: HeaderCondition[] = keptRows(form.headers).map((i, k) => {
    const r = form.headers[i] ?? blankHeaderCondition();
    const name = r.name.trim();
    if (name === "") problems.push({ field: `match.headers[${k}].name`, problem: "give the header name" });
    return r.kind === "equals" ? { name, equals: r.value } : r.kind === "regex" ? { name, regex: r.value } : { name };
  });
  if (headers.length > 0) m.headers = headers;
  const query: QueryCondition[] = keptRows(form.query).map((i, k) => {
    const r = form.query[i] ?? blankQueryCondition();
    const name = r.name.trim();
    if (name === "") problems.push({ field: `match.query[${k}].name`, problem: "give the parameter name" });
    return r.kind === "equals" ? { name, equals: r.value } : { name };
  });
  if (query.length > 0) m.query = query;
  return Object.keys(m).length > 0 ? m : undefined;
}

// --- the API's problems → the form's inputs ----------------------------------------------

/** A field of the match part of the form: `match`, or a path in it (form row indices). */
export type MatchField =
  | "match"
  | "match.path"
  | "match.methods"
  | "match.headers"
  | `match.headers[${number}].name`
  | `match.headers[${number}].value`
  | "match.query"
  | `match.query[${number}].name`
  | `match.query[${number}].value`;

/**
 * Where a problem with `field` (`match…`, as the API names it) is shown: the exact path
 * and the pattern on the path input; a method (`match.methods[1]`) on the methods, named;
 * a header or query condition on its row's name or value (the API's positions turned into
 * the form's rows: blank rows are not sent). Anything else on the section itself.
 */
export function matchErrorTarget(field: string, form?: MatchFormValues): { field: MatchField; prefix: string } {
  const at = (f: MatchField, prefix = "") => ({ field: f, prefix });
  const rest = field === "match" ? "" : field.replace(/^match\.?/, "");
  const row = (rows: MatchFormValues["headers"] | MatchFormValues["query"] | undefined, i: string) => (rows ? (keptRows(rows)[Number(i)] ?? Number(i)) : Number(i));
  let m: RegExpExecArray | null;
  if (rest === "") return at("match");
  if (rest === "path_exact" || rest === "path_regex") return at("match.path");
  if ((m = /^methods\[(\d+)\]$/.exec(rest))) {
    const method = form ? methodsOf(form)[Number(m[1])] : undefined;
    return at("match.methods", method ?? "");
  }
  if (/^methods(\.|$)/.test(rest)) return at("match.methods");
  if ((m = /^(headers|query)\[(\d+)\](?:\.(name|equals|regex))?$/.exec(rest))) {
    const list = m[1] as "headers" | "query";
    const i = row(form?.[list], m[2] ?? "0");
    const part = m[3] === undefined || m[3] === "name" ? "name" : "value";
    return at(`match.${list}[${i}].${part}`);
  }
  if ((m = /^(headers|query)(\.|$)/.exec(rest))) return at(`match.${m[1] as "headers" | "query"}`);
  return at("match", rest);
}

// --- what is on, in words --------------------------------------------------------------------

/** The badges for what the form has filled in (whether or not it can be sent yet). */
export function formMatchBadges(form: MatchFormValues): string[] {
  return matchBadges(matchFromForm(form, []));
}

/** Every condition in words, for the dry run's before → after; "none" without any. */
export function describeMatch(m: RouteMatch | null | undefined): string {
  if (!m) return "none";
  const parts = [
    m.path_exact != null ? `path is ${m.path_exact}` : null,
    m.path_regex != null ? `path matches ${m.path_regex}` : null,
    m.methods && m.methods.length > 0 ? `methods ${m.methods.join(", ")}` : null,
    ...(m.headers ?? []).map((h) => (h.equals != null ? `header ${h.name} = “${h.equals}”` : h.regex != null ? `header ${h.name} matches ${h.regex}` : `header ${h.name} present`)),
    ...(m.query ?? []).map((q) => (q.equals != null ? `query ${q.name} = “${q.equals}”` : `query ${q.name} present`)),
  ].filter((p): p is string => p !== null);
  return parts.length > 0 ? parts.join("; ") : "none";
}
