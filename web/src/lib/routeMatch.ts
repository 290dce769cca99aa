// A route's match conditions (docs/routing.md) in a few words, for every page that names a
// zone. A zone is identified by hostname, path prefix *and* its conditions: two zones may
// share a hostname and prefix, so wherever one is named the conditions are named too.
import type { components } from "@/lib/api/schema.gen";

export type RouteMatch = components["schemas"]["RouteMatch"];
export type HeaderCondition = components["schemas"]["HeaderCondition"];
export type QueryCondition = components["schemas"]["QueryCondition"];

/** One header condition: `x-beta=1`, `x-beta~^a`, `x-beta present`. */
function headerBadge(h: HeaderCondition): string {
  if (h.equals != null) return `${h.name}=${h.equals}`;
  if (h.regex != null) return `${h.name}~${h.regex}`;
  return `${h.name} present`;
}

/** One query condition: `?v=2`, `?debug`. */
function queryBadge(q: QueryCondition): string {
  return q.equals != null ? `?${q.name}=${q.equals}` : `?${q.name}`;
}

/**
 * The conditions as compact badges, in the order the proxy weighs them: `= /api/health`
 * (exact path), `~ ^/v[0-9]+/` (path pattern), `POST PUT` (methods), `x-beta=1`,
 * `x-beta~^a`, `x-beta present` (headers), `?v=2`, `?debug` (query). None: `[]`.
 */
export function matchBadges(m: RouteMatch | null | undefined): string[] {
  if (!m) return [];
  return [
    m.path_exact != null && m.path_exact !== "" ? `= ${m.path_exact}` : null,
    m.path_regex != null && m.path_regex !== "" ? `~ ${m.path_regex}` : null,
    m.methods && m.methods.length > 0 ? m.methods.join(" ") : null,
    ...(m.headers ?? []).map(headerBadge),
    ...(m.query ?? []).map(queryBadge),
  ].filter((b): b is string => b !== null);
}

/** Whether a zone has no conditions (it matches every request under its prefix). */
export function isEmptyMatch(m: RouteMatch | null | undefined): boolean {
  return matchBadges(m).length === 0;
}

/**
 * A zone named for a person: `app.example.com/api`, and with conditions
 * `app.example.com/api [POST PUT, x-beta=1]` — so two zones that share a hostname and
 * prefix read differently.
 */
export function zoneLabel(hostname: string, pathPrefix: string | null | undefined, match?: RouteMatch | null): string {
  const badges = matchBadges(match);
  return `${hostname}${pathPrefix ?? ""}${badges.length > 0 ? ` [${badges.join(", ")}]` : ""}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * The well-formed part of a `match` the user gave (an import file, a bulk JSON entry),
 * to name the entry by; anything of the wrong shape is left out (the API names it).
 */
export function matchOfInput(v: unknown): RouteMatch | undefined {
  if (!isObject(v)) return undefined;
  const named = (items: unknown) => (Array.isArray(items) ? items.filter(isObject).filter((i) => typeof i.name === "string") : []);
  const m: RouteMatch = {};
  const exact = text(v.path_exact);
  const regex = text(v.path_regex);
  if (exact !== undefined) m.path_exact = exact;
  if (regex !== undefined) m.path_regex = regex;
  if (Array.isArray(v.methods)) m.methods = v.methods.filter((x): x is string => typeof x === "string");
  m.headers = named(v.headers).map((h) => {
    const c: HeaderCondition = { name: h.name as string };
    const equals = text(h.equals);
    const re = text(h.regex);
    if (equals !== undefined) c.equals = equals;
    if (re !== undefined) c.regex = re;
    return c;
  });
  m.query = named(v.query).map((q) => {
    const c: QueryCondition = { name: q.name as string };
    const equals = text(q.equals);
    if (equals !== undefined) c.equals = equals;
    return c;
  });
  return m;
}
