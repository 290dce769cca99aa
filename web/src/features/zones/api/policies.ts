// A route's policies in the zone form ↔ the API's `Policies` (docs/policies.md), and the
// API's problems with them (`policies.rate_limit.requests`,
// `policies.basic_auth.users[0].hash`) → the form's inputs.
//
// The payload holds only what is on: a policy switched off, a blank header row or an
// empty list is left out, and with nothing on there is no `policies` at all. The API
// never answers a basic-auth hash (users come as `{username}` only); a user it already
// holds is sent back by username only, which keeps the stored password, unless the
// operator gives a new password, which goes as `password` (the panel hashes it). A JWT
// HMAC `secret` is write-only too: the API answers a `jwt` policy with a stored secret
// with no key source at all, and such a policy sent back without one keeps the stored
// secret; a new secret (or another key source) replaces it. As in the rest of the form,
// only what cannot be sent at all (a number that is not one) is refused here; limits are
// the API's to check.
import type { FieldProblem } from "@/lib/api/errors";
import type { BasicUser, CircuitBreaker, ForwardAuth, HeaderRules, HealthCheck, Jwt, Policies, Retry, Rewrite, Split } from "./types";

export const REDIRECT_CODES = ["301", "302", "307", "308"] as const;
export type RedirectCode = (typeof REDIRECT_CODES)[number];

/** The proxy's own answers a custom page may replace. */
export const ERROR_PAGE_STATUSES = ["401", "403", "413", "429", "502", "503", "504"] as const;
export type ErrorPageStatus = (typeof ERROR_PAGE_STATUSES)[number];

export const SIZE_UNITS = ["B", "KiB", "MiB", "GiB"] as const;
export type SizeUnit = (typeof SIZE_UNITS)[number];
export const UNIT_BYTES: Record<SizeUnit, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** The API's limits, for hints (it checks them itself). */
export const MAX_BODY_BYTES = 64 * 1024 ** 3;
export const ONE_YEAR_SECS = 31_536_000;
export const MAX_HSTS_SECS = 63_072_000;
export const DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8";
export const DEFAULT_REALM = "Restricted";
/** The JWT policy's defaults (docs/policies.md). */
export const DEFAULT_JWT_REALM = "api";
export const DEFAULT_JWT_LEEWAY_SECS = 30;
export const MIN_JWT_SECRET_BYTES = 32;
export const DEFAULT_FORWARD_AUTH_TIMEOUT_MS = 5000;
/** The request head limit's range (docs/policies.md, `max_header_bytes`). */
export const MIN_HEADER_BYTES = 1024;
export const MAX_HEADER_BYTES = 64 * 1024;
/** The units a head limit is typed in. */
export const HEADER_UNITS = ["B", "KiB"] as const satisfies readonly SizeUnit[];
/** A split's limits and defaults (docs/policies.md, "Traffic split"). */
export const MAX_SPLIT_GROUPS = 8;
export const DEFAULT_STICKY_MAX_AGE_SECS = 86_400;
export const DEFAULT_STICKY_COOKIE = "sy_cohort";
/** The health check's defaults (docs/policies.md, "Active HTTP health checks"). */
export const DEFAULT_HEALTH_PATH = "/healthz";
export const DEFAULT_EXPECTED_STATUS = "200-399";
export const DEFAULT_CHECK_INTERVAL_MS = 5000;
export const DEFAULT_CHECK_TIMEOUT_MS = 1000;
export const DEFAULT_HEALTHY_THRESHOLD = 2;
export const DEFAULT_UNHEALTHY_THRESHOLD = 3;
/** The `retry` policy's defaults and the statuses it may retry (docs/policies.md). */
export const RETRY_STATUSES = [502, 503, 504] as const;
export const RETRY_DEFAULTS = { attempts: 3, budgetPercent: 20, minPerSec: 10, backoffMs: 25, maxBackoffMs: 250 } as const;
/** The `circuit_breaker` policy's defaults. */
export const BREAKER_DEFAULTS = { consecutiveFailures: 5, windowSecs: 10, minRequests: 20, openSecs: 10, halfOpenRequests: 1 } as const;

/** The algorithms the API accepts, in its order: public-key ones, then HMAC (with a secret). */
export const JWT_PUBLIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"] as const;
export const JWT_HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"] as const;
export const JWT_ALGORITHMS: readonly string[] = [...JWT_PUBLIC_ALGORITHMS, ...JWT_HMAC_ALGORITHMS];
/** The API's counters are u32: a larger number is not even read. */
const U32_MAX = 4_294_967_295;

export type HeaderDirection = "request_headers" | "response_headers";

export interface HeaderRow {
  name: string;
  value: string;
}

export interface HeaderEditsForm {
  /** Header names, one a row. */
  remove: string[];
  set: HeaderRow[];
  add: HeaderRow[];
}

export interface AuthUserRow {
  username: string;
  /** The username the API holds a password for (kept when sent back by that name); null for a user added here. */
  stored: string | null;
  /** A stored user whose password is being replaced by `password`. */
  replace: boolean;
  /** A new user's password, or a stored user's new one. */
  password: string;
}

export interface ErrorPageRow {
  status: ErrorPageStatus;
  /** Empty: the API's default, HTML. */
  contentType: string;
  body: string;
}

export type RewriteKind = "none" | Rewrite["kind"];
export type RateKeyKind = "client_ip" | "header";
/** Where a rate limit is counted: each proxy alone, or the fleet together through Redis. */
export type RateScope = "proxy" | "fleet";

export interface RetryForm {
  on: boolean;
  attempts: string;
  /** Which of 502, 503, 504 are retried. */
  onStatus: number[];
  onReset: boolean;
  budgetPercent: string;
  minPerSec: string;
  backoffMs: string;
  maxBackoffMs: string;
}

export interface BreakerForm {
  on: boolean;
  consecutiveFailures: string;
  /** Empty: only consecutive failures open the circuit. */
  errorPercent: string;
  windowSecs: string;
  minRequests: string;
  openSecs: string;
  halfOpenRequests: string;
}
/** Where the JWT policy's key comes from (exactly one). */
export type JwtKeyKind = "secret" | "public_key_pem" | "jwks_url";
/** Where the token is read: `Authorization: Bearer …` (the default), another header, or a cookie. */
export type JwtTokenFrom = "authorization" | "header" | "cookie";

export interface ClaimRow {
  claim: string;
  header: string;
}

export interface JwtForm {
  on: boolean;
  issuer: string;
  /** One audience a row. */
  audiences: string[];
  /** Checked algorithms, in the API's order. */
  algorithms: string[];
  keyKind: JwtKeyKind;
  /** The API holds an HMAC secret for this zone (it answered the policy with no key source). */
  storedSecret: boolean;
  /** The stored secret is being replaced by `secret`. */
  replaceSecret: boolean;
  secret: string;
  publicKeyPem: string;
  jwksUrl: string;
  tokenFrom: JwtTokenFrom;
  tokenHeader: string;
  tokenCookie: string;
  claims: ClaimRow[];
  leewaySecs: string;
  realm: string;
}

export interface ForwardAuthForm {
  on: boolean;
  url: string;
  /** Header names, one a row. */
  requestHeaders: string[];
  responseHeaders: string[];
  timeoutMs: string;
}

export interface SplitUpstreamRow {
  url: string;
  weight: string;
}

export interface SplitGroupRow {
  name: string;
  weight: string;
  /** Its own upstreams (else the route's own, the zone's backend). */
  own: boolean;
  upstreams: SplitUpstreamRow[];
}

/** What keeps a user on a group: nothing (each request drawn anew), a cookie, or a request header. */
export type StickyKind = "none" | "cookie" | "header";

export interface SplitForm {
  on: boolean;
  groups: SplitGroupRow[];
  stickyKind: StickyKind;
  stickyCookie: string;
  stickyMaxAge: string;
  stickyHeader: string;
  /** Forced cohort: a header and/or a cookie naming a group; empty: none. */
  forceHeader: string;
  forceCookie: string;
}

export interface HealthCheckForm {
  on: boolean;
  path: string;
  /** Codes and ranges, e.g. 200-399 or 200,204,301-302; empty: the default. */
  expectedStatus: string;
  intervalMs: string;
  timeoutMs: string;
  healthyThreshold: string;
  unhealthyThreshold: string;
  /** The probe's Host header; empty: the upstream's own authority. */
  host: string;
}

export interface PolicyFormValues {
  rewrite: { kind: RewriteKind; with: string; pattern: string; replacement: string };
  redirect: { on: boolean; code: RedirectCode; pattern: string; target: string; keepQuery: boolean };
  request_headers: HeaderEditsForm;
  response_headers: HeaderEditsForm;
  hsts: { on: boolean; maxAge: string; includeSubdomains: boolean; preload: boolean };
  securityHeaders: boolean;
  maxBody: { on: boolean; amount: string; unit: SizeUnit };
  maxHeader: { on: boolean; amount: string; unit: SizeUnit };
  basicAuth: { on: boolean; realm: string; users: AuthUserRow[] };
  jwt: JwtForm;
  forwardAuth: ForwardAuthForm;
  rateLimit: { on: boolean; requests: string; perSecs: string; burst: string; keyKind: RateKeyKind; keyHeader: string; scope: RateScope };
  retry: RetryForm;
  breaker: BreakerForm;
  errorPages: ErrorPageRow[];
  split: SplitForm;
  healthCheck: HealthCheckForm;
  /**
   * The zone's policies this form has no editor for (whatever a newer API adds), sent back
   * unchanged so that saving never drops them.
   */
  passthrough: Policies;
}

/** The policies the form edits; every other field of the API's `Policies` passes through. */
const EDITED_POLICIES = [
  "rewrite",
  "redirect",
  "request_headers",
  "response_headers",
  "hsts",
  "security_headers",
  "max_body_bytes",
  "max_header_bytes",
  "basic_auth",
  "jwt",
  "forward_auth",
  "rate_limit",
  "retry",
  "circuit_breaker",
  "error_pages",
  "split",
  "health_check",
] as const satisfies readonly (keyof Policies)[];

/** `p` without the policies the form edits. */
export function passthroughPolicies(p: Policies): Policies {
  const edited: readonly string[] = EDITED_POLICIES;
  return Object.fromEntries(Object.entries(p).filter(([key]) => !edited.includes(key)));
}

export const blankUser = (): AuthUserRow => ({ username: "", stored: null, replace: false, password: "" });
export const blankSplitUpstream = (): SplitUpstreamRow => ({ url: "", weight: "1" });
/** A group to fill in: its own upstreams, one row. */
export const blankSplitGroup = (): SplitGroupRow => ({ name: "", weight: "0", own: true, upstreams: [blankSplitUpstream()] });
/** A split switched on: the usual canary shape, the zone's backend stable and a canary beside it. */
export const starterSplitGroups = (): SplitGroupRow[] => [
  { name: "stable", weight: "90", own: false, upstreams: [] },
  { name: "canary", weight: "10", own: true, upstreams: [blankSplitUpstream()] },
];

const noHeaderEdits: HeaderEditsForm = { remove: [], set: [], add: [] };

export const emptyPolicyForm: PolicyFormValues = {
  rewrite: { kind: "none", with: "", pattern: "", replacement: "" },
  redirect: { on: false, code: "302", pattern: "", target: "", keepQuery: false },
  request_headers: noHeaderEdits,
  response_headers: noHeaderEdits,
  hsts: { on: false, maxAge: String(ONE_YEAR_SECS), includeSubdomains: false, preload: false },
  securityHeaders: false,
  maxBody: { on: false, amount: "10", unit: "MiB" },
  maxHeader: { on: false, amount: "16", unit: "KiB" },
  basicAuth: { on: false, realm: DEFAULT_REALM, users: [] },
  jwt: {
    on: false,
    issuer: "",
    audiences: [],
    algorithms: [],
    keyKind: "jwks_url",
    storedSecret: false,
    replaceSecret: false,
    secret: "",
    publicKeyPem: "",
    jwksUrl: "",
    tokenFrom: "authorization",
    tokenHeader: "",
    tokenCookie: "",
    claims: [],
    leewaySecs: String(DEFAULT_JWT_LEEWAY_SECS),
    realm: DEFAULT_JWT_REALM,
  },
  forwardAuth: { on: false, url: "", requestHeaders: [], responseHeaders: [], timeoutMs: String(DEFAULT_FORWARD_AUTH_TIMEOUT_MS) },
  rateLimit: { on: false, requests: "", perSecs: "1", burst: "", keyKind: "client_ip", keyHeader: "", scope: "proxy" },
  retry: {
    on: false,
    attempts: String(RETRY_DEFAULTS.attempts),
    onStatus: [...RETRY_STATUSES],
    onReset: true,
    budgetPercent: String(RETRY_DEFAULTS.budgetPercent),
    minPerSec: String(RETRY_DEFAULTS.minPerSec),
    backoffMs: String(RETRY_DEFAULTS.backoffMs),
    maxBackoffMs: String(RETRY_DEFAULTS.maxBackoffMs),
  },
  breaker: {
    on: false,
    consecutiveFailures: String(BREAKER_DEFAULTS.consecutiveFailures),
    errorPercent: "",
    windowSecs: String(BREAKER_DEFAULTS.windowSecs),
    minRequests: String(BREAKER_DEFAULTS.minRequests),
    openSecs: String(BREAKER_DEFAULTS.openSecs),
    halfOpenRequests: String(BREAKER_DEFAULTS.halfOpenRequests),
  },
  errorPages: [],
  split: {
    on: false,
    groups: [],
    stickyKind: "cookie",
    stickyCookie: DEFAULT_STICKY_COOKIE,
    stickyMaxAge: String(DEFAULT_STICKY_MAX_AGE_SECS),
    stickyHeader: "",
    forceHeader: "",
    forceCookie: "",
  },
  healthCheck: {
    on: false,
    path: DEFAULT_HEALTH_PATH,
    expectedStatus: DEFAULT_EXPECTED_STATUS,
    intervalMs: String(DEFAULT_CHECK_INTERVAL_MS),
    timeoutMs: String(DEFAULT_CHECK_TIMEOUT_MS),
    healthyThreshold: String(DEFAULT_HEALTHY_THRESHOLD),
    unhealthyThreshold: String(DEFAULT_UNHEALTHY_THRESHOLD),
    host: "",
  },
  passthrough: {},
};

function retryFormFromApi(r: Retry | null | undefined): RetryForm {
  if (!r) return emptyPolicyForm.retry;
  return {
    on: true,
    attempts: String(r.attempts),
    onStatus: [...r.on_status],
    onReset: r.on_reset,
    budgetPercent: String(r.budget_percent),
    minPerSec: String(r.min_per_sec),
    backoffMs: String(r.backoff_ms),
    maxBackoffMs: String(r.max_backoff_ms),
  };
}

function breakerFormFromApi(b: CircuitBreaker | null | undefined): BreakerForm {
  if (!b) return emptyPolicyForm.breaker;
  return {
    on: true,
    consecutiveFailures: String(b.consecutive_failures),
    errorPercent: b.error_percent != null ? String(b.error_percent) : "",
    windowSecs: String(b.window_secs),
    minRequests: String(b.min_requests),
    openSecs: String(b.open_secs),
    halfOpenRequests: String(b.half_open_requests),
  };
}

/** `bytes` in the largest unit that holds it exactly (10485760 → 10 MiB). */
export function splitBytes(bytes: number): { amount: string; unit: SizeUnit } {
  for (const unit of [...SIZE_UNITS].reverse()) {
    if (bytes >= UNIT_BYTES[unit] && bytes % UNIT_BYTES[unit] === 0) return { amount: String(bytes / UNIT_BYTES[unit]), unit };
  }
  return { amount: String(bytes), unit: "B" };
}

/** The JWT part of the form from the policy as the API shows it (never with its secret). */
function jwtFormFromApi(j: Jwt | null | undefined): JwtForm {
  if (!j) return emptyPolicyForm.jwt;
  // No key source in the answer: the API holds a secret it never shows.
  const keyKind: JwtKeyKind = j.public_key_pem != null ? "public_key_pem" : j.jwks_url != null ? "jwks_url" : "secret";
  const header = j.header ?? null;
  return {
    on: true,
    issuer: j.issuer ?? "",
    audiences: [...(j.audiences ?? [])],
    algorithms: [...j.algorithms],
    keyKind,
    storedSecret: keyKind === "secret",
    replaceSecret: false,
    secret: "",
    publicKeyPem: j.public_key_pem ?? "",
    jwksUrl: j.jwks_url ?? "",
    tokenFrom: j.cookie != null ? "cookie" : header !== null && header !== "authorization" ? "header" : "authorization",
    tokenHeader: header !== null && header !== "authorization" ? header : "",
    tokenCookie: j.cookie ?? "",
    claims: Object.entries(j.claims_to_headers ?? {}).map(([claim, h]) => ({ claim, header: h })),
    leewaySecs: String(j.leeway_secs),
    realm: j.realm,
  };
}

function forwardAuthFormFromApi(f: ForwardAuth | null | undefined): ForwardAuthForm {
  if (!f) return emptyPolicyForm.forwardAuth;
  return {
    on: true,
    url: f.url,
    requestHeaders: [...(f.request_headers ?? [])],
    responseHeaders: [...(f.response_headers ?? [])],
    timeoutMs: String(f.timeout_ms),
  };
}

function splitFormFromApi(sp: Split | null | undefined): SplitForm {
  if (!sp) return emptyPolicyForm.split;
  const sticky = sp.sticky ?? null;
  return {
    on: true,
    groups: sp.groups.map((g) => ({
      name: g.name,
      weight: String(g.weight),
      own: g.upstreams != null,
      upstreams: (g.upstreams ?? []).map((u) => ({ url: u.url, weight: String(u.weight) })),
    })),
    stickyKind: sticky?.kind ?? "none",
    stickyCookie: sticky?.kind === "cookie" ? sticky.name : DEFAULT_STICKY_COOKIE,
    stickyMaxAge: String(sticky?.kind === "cookie" ? sticky.max_age_secs : DEFAULT_STICKY_MAX_AGE_SECS),
    stickyHeader: sticky?.kind === "header" ? sticky.name : "",
    forceHeader: sp.force?.header ?? "",
    forceCookie: sp.force?.cookie ?? "",
  };
}

function healthCheckFormFromApi(h: HealthCheck | null | undefined): HealthCheckForm {
  if (!h) return emptyPolicyForm.healthCheck;
  return {
    on: true,
    path: h.path,
    expectedStatus: h.expected_status,
    intervalMs: String(h.interval_ms),
    timeoutMs: String(h.timeout_ms),
    healthyThreshold: String(h.healthy_threshold),
    unhealthyThreshold: String(h.unhealthy_threshold),
    host: h.host ?? "",
  };
}

/** The form filled from a zone's policies as the API shows them. */
export function policyFormFromApi(p: Policies | null | undefined): PolicyFormValues {
  if (!p) return emptyPolicyForm;
  const headers = (r: HeaderRules | undefined): HeaderEditsForm => ({
    remove: [...(r?.remove ?? [])],
    set: (r?.set ?? []).map((h) => ({ name: h.name, value: h.value })),
    add: (r?.add ?? []).map((h) => ({ name: h.name, value: h.value })),
  });
  const rw = p.rewrite;
  const redirect = p.redirect;
  const code = String(redirect?.code ?? 302);
  const rate = p.rate_limit;
  return {
    rewrite: {
      kind: rw?.kind ?? "none",
      with: rw?.kind === "replace_prefix" ? rw.with : "",
      pattern: rw?.kind === "regex" ? rw.pattern : "",
      replacement: rw?.kind === "regex" ? rw.replacement : "",
    },
    redirect: redirect
      ? {
          on: true,
          code: (REDIRECT_CODES as readonly string[]).includes(code) ? (code as RedirectCode) : "302",
          pattern: redirect.pattern ?? "",
          target: redirect.target,
          keepQuery: redirect.keep_query ?? false,
        }
      : emptyPolicyForm.redirect,
    request_headers: headers(p.request_headers),
    response_headers: headers(p.response_headers),
    hsts: p.hsts
      ? { on: true, maxAge: String(p.hsts.max_age_secs), includeSubdomains: p.hsts.include_subdomains ?? false, preload: p.hsts.preload ?? false }
      : emptyPolicyForm.hsts,
    securityHeaders: p.security_headers ?? false,
    maxBody: p.max_body_bytes != null ? { on: true, ...splitBytes(p.max_body_bytes) } : emptyPolicyForm.maxBody,
    maxHeader: p.max_header_bytes != null ? { on: true, ...splitBytes(p.max_header_bytes) } : emptyPolicyForm.maxHeader,
    basicAuth: p.basic_auth
      ? {
          on: true,
          realm: p.basic_auth.realm,
          users: p.basic_auth.users.map((u) => ({ username: u.username, stored: u.username, replace: false, password: "" })),
        }
      : emptyPolicyForm.basicAuth,
    jwt: jwtFormFromApi(p.jwt),
    forwardAuth: forwardAuthFormFromApi(p.forward_auth),
    rateLimit: rate
      ? {
          on: true,
          requests: String(rate.requests),
          perSecs: String(rate.per_secs),
          burst: rate.burst != null ? String(rate.burst) : "",
          keyKind: rate.key?.kind ?? "client_ip",
          keyHeader: rate.key?.kind === "header" ? rate.key.name : "",
          scope: rate.scope ?? "proxy",
        }
      : emptyPolicyForm.rateLimit,
    retry: retryFormFromApi(p.retry),
    breaker: breakerFormFromApi(p.circuit_breaker),
    errorPages: Object.entries(p.error_pages ?? {})
      .filter((entry): entry is [ErrorPageStatus, (typeof entry)[1]] => (ERROR_PAGE_STATUSES as readonly string[]).includes(entry[0]))
      .map(([status, page]) => ({ status, contentType: page.content_type === DEFAULT_CONTENT_TYPE ? "" : page.content_type, body: page.body })),
    split: splitFormFromApi(p.split),
    healthCheck: healthCheckFormFromApi(p.health_check),
    passthrough: passthroughPolicies(p),
  };
}

// --- which rows are sent ------------------------------------------------------------------
// Blank rows are left out, so the API's positions (`set[0]`) are those of the rows sent;
// these give, for each position, the form's row (the mapping of problems uses them too).

const keptHeaderRows = (rows: HeaderRow[]) => rows.flatMap((r, i) => (r.name.trim() !== "" || r.value.trim() !== "" ? [i] : []));
const keptNames = (rows: string[]) => rows.flatMap((r, i) => (r.trim() !== "" ? [i] : []));
const keptUsers = (rows: AuthUserRow[]) => rows.flatMap((u, i) => (u.stored !== null || u.username.trim() !== "" || u.password !== "" ? [i] : []));
const keptSplitUpstreams = (rows: SplitUpstreamRow[]) => rows.flatMap((r, i) => (r.url.trim() !== "" || r.weight.trim() !== "1" ? [i] : []));
const keptClaims = (rows: ClaimRow[]) => rows.flatMap((r, i) => (r.claim.trim() !== "" || r.header.trim() !== "" ? [i] : []));

/** Whether the JWT form sends no key source, so that the API keeps the secret it stores. */
export const keepsStoredSecret = (j: JwtForm) => j.keyKind === "secret" && j.storedSecret && !j.replaceSecret;

/** A whole number as typed, or a problem (`what` names it); "" → absent, or a problem when required. */
function wholeNumber(text: string, field: string, what: string, problems: FieldProblem[], { required = false, max = U32_MAX } = {}): number | undefined {
  const t = text.trim();
  if (t === "") {
    if (required) problems.push({ field, problem: `give the ${what}` });
    return undefined;
  }
  if (!/^\d+$/.test(t)) {
    problems.push({ field, problem: `"${t}" is not a whole number` });
    return undefined;
  }
  const n = Number(t);
  if (n > max) {
    problems.push({ field, problem: `${t} is more than ${max.toLocaleString("en")}` });
    return undefined;
  }
  return n;
}

function headerRules(form: HeaderEditsForm): HeaderRules | undefined {
  const rules: HeaderRules = {};
  const remove = keptNames(form.remove).map((i) => (form.remove[i] ?? "").trim());
  const row = (r: HeaderRow | undefined) => ({ name: (r?.name ?? "").trim(), value: r?.value ?? "" });
  const set = keptHeaderRows(form.set).map((i) => row(form.set[i]));
  const add = keptHeaderRows(form.add).map((i) => row(form.add[i]));
  if (remove.length > 0) rules.remove = remove;
  if (set.length > 0) rules.set = set;
  if (add.length > 0) rules.add = add;
  return Object.keys(rules).length > 0 ? rules : undefined;
}

/**
 * The `policies` the form describes, with only what is on; `undefined` when nothing is.
 * What cannot be sent is added to `problems`, named by the API's field.
 */
export function policiesFromForm(form: PolicyFormValues, problems: FieldProblem[]): Policies | undefined {
  const p: Policies = { ...form.passthrough };
  const rw = form.rewrite;
  switch (rw.kind) {
    case "none":
      break;
    case "strip_prefix":
      p.rewrite = { kind: "strip_prefix" };
      break;
    case "replace_prefix":
      p.rewrite = { kind: "replace_prefix", with: rw.with.trim() };
      break;
    case "regex":
      p.rewrite = { kind: "regex", pattern: rw.pattern.trim(), replacement: rw.replacement.trim() };
      break;
  }
  const rd = form.redirect;
  if (rd.on) {
    p.redirect = { code: Number(rd.code), target: rd.target.trim() };
    if (rd.pattern.trim() !== "") p.redirect.pattern = rd.pattern.trim();
    if (rd.keepQuery) p.redirect.keep_query = true;
  }
  for (const dir of ["request_headers", "response_headers"] as const) {
    const rules = headerRules(form[dir]);
    if (rules) p[dir] = rules;
  }
  const h = form.hsts;
  if (h.on) {
    const maxAge = wholeNumber(h.maxAge, "policies.hsts.max_age_secs", "max-age in seconds", problems, { required: true });
    if (maxAge !== undefined) {
      p.hsts = { max_age_secs: maxAge };
      if (h.includeSubdomains) p.hsts.include_subdomains = true;
      if (h.preload) p.hsts.preload = true;
    }
  }
  if (form.securityHeaders) p.security_headers = true;
  const mb = form.maxBody;
  if (mb.on) {
    const field = "policies.max_body_bytes";
    const t = mb.amount.trim();
    const bytes = Number(t) * UNIT_BYTES[mb.unit];
    if (t === "") problems.push({ field, problem: "give the largest body size" });
    else if (!/^\d+(\.\d+)?$/.test(t)) problems.push({ field, problem: `"${t}" is not a number` });
    else if (!Number.isSafeInteger(bytes)) problems.push({ field, problem: `${t} ${mb.unit} is not a whole number of bytes` });
    else p.max_body_bytes = bytes;
  }
  const mh = form.maxHeader;
  if (mh.on) {
    const field = "policies.max_header_bytes";
    const t = mh.amount.trim();
    const bytes = Number(t) * UNIT_BYTES[mh.unit];
    if (t === "") problems.push({ field, problem: "give the largest request head" });
    else if (!/^\d+(\.\d+)?$/.test(t)) problems.push({ field, problem: `"${t}" is not a number` });
    else if (!Number.isSafeInteger(bytes) || bytes > U32_MAX) problems.push({ field, problem: `${t} ${mh.unit} is not a whole number of bytes the API can read` });
    else p.max_header_bytes = bytes;
  }
  const auth = form.basicAuth;
  if (auth.on) {
    const users: BasicUser[] = keptUsers(auth.users).map((i) => {
      const u = auth.users[i] ?? blankUser();
      const username = u.username.trim();
      // A stored user sent by username only keeps its stored password (the API fills in
      // the hash it holds for that name) unless a new password replaces it.
      return u.stored !== null && !u.replace ? { username } : { username, password: u.password };
    });
    p.basic_auth = { realm: auth.realm.trim() === "" ? DEFAULT_REALM : auth.realm.trim(), users };
  }
  if (form.jwt.on) {
    const jwt = jwtFromForm(form.jwt, problems);
    if (jwt) p.jwt = jwt;
  }
  const fa = form.forwardAuth;
  if (fa.on) {
    const timeout = wholeNumber(fa.timeoutMs, "policies.forward_auth.timeout_ms", "timeout in milliseconds", problems);
    p.forward_auth = {
      url: fa.url.trim(),
      timeout_ms: timeout ?? DEFAULT_FORWARD_AUTH_TIMEOUT_MS,
    };
    const request = keptNames(fa.requestHeaders).map((i) => (fa.requestHeaders[i] ?? "").trim());
    const response = keptNames(fa.responseHeaders).map((i) => (fa.responseHeaders[i] ?? "").trim());
    if (request.length > 0) p.forward_auth.request_headers = request;
    if (response.length > 0) p.forward_auth.response_headers = response;
  }
  const rl = form.rateLimit;
  if (rl.on) {
    const requests = wholeNumber(rl.requests, "policies.rate_limit.requests", "number of requests", problems, { required: true });
    const perSecs = wholeNumber(rl.perSecs, "policies.rate_limit.per_secs", "window in seconds", problems);
    const burst = wholeNumber(rl.burst, "policies.rate_limit.burst", "burst", problems);
    if (requests !== undefined) {
      p.rate_limit = { requests, per_secs: perSecs ?? 1 };
      if (burst !== undefined) p.rate_limit.burst = burst;
      if (rl.keyKind === "header") p.rate_limit.key = { kind: "header", name: rl.keyHeader.trim() };
      if (rl.scope === "fleet") p.rate_limit.scope = "fleet";
    }
  }
  const rt = form.retry;
  if (rt.on) {
    const n = (text: string, field: string, what: string, fallback: number) => wholeNumber(text, `policies.retry.${field}`, what, problems) ?? fallback;
    const attempts = wholeNumber(rt.attempts, "policies.retry.attempts", "number of tries", problems, { required: true });
    if (attempts !== undefined) {
      p.retry = {
        attempts,
        on_status: RETRY_STATUSES.filter((s) => rt.onStatus.includes(s)),
        on_reset: rt.onReset,
        budget_percent: n(rt.budgetPercent, "budget_percent", "budget in percent", RETRY_DEFAULTS.budgetPercent),
        min_per_sec: n(rt.minPerSec, "min_per_sec", "retries a second", RETRY_DEFAULTS.minPerSec),
        backoff_ms: n(rt.backoffMs, "backoff_ms", "backoff in milliseconds", RETRY_DEFAULTS.backoffMs),
        max_backoff_ms: n(rt.maxBackoffMs, "max_backoff_ms", "longest backoff in milliseconds", RETRY_DEFAULTS.maxBackoffMs),
      };
    }
  }
  const cb = form.breaker;
  if (cb.on) {
    const n = (text: string, field: string, what: string, fallback: number) =>
      wholeNumber(text, `policies.circuit_breaker.${field}`, what, problems) ?? fallback;
    const breaker: CircuitBreaker = {
      consecutive_failures: n(cb.consecutiveFailures, "consecutive_failures", "failures in a row", BREAKER_DEFAULTS.consecutiveFailures),
      window_secs: n(cb.windowSecs, "window_secs", "window in seconds", BREAKER_DEFAULTS.windowSecs),
      min_requests: n(cb.minRequests, "min_requests", "number of requests", BREAKER_DEFAULTS.minRequests),
      open_secs: n(cb.openSecs, "open_secs", "seconds open", BREAKER_DEFAULTS.openSecs),
      half_open_requests: n(cb.halfOpenRequests, "half_open_requests", "number of probes", BREAKER_DEFAULTS.halfOpenRequests),
    };
    const share = wholeNumber(cb.errorPercent, "policies.circuit_breaker.error_percent", "error share in percent", problems);
    if (share !== undefined) breaker.error_percent = share;
    p.circuit_breaker = breaker;
  }
  if (form.errorPages.length > 0) {
    const pages: NonNullable<Policies["error_pages"]> = {};
    form.errorPages.forEach((page, i) => {
      if (page.status in pages) {
        problems.push({ field: `policies.error_pages[${i}].status`, problem: `${page.status} has a page above already; a status has one page` });
        return;
      }
      pages[page.status] = { body: page.body, content_type: page.contentType.trim() === "" ? DEFAULT_CONTENT_TYPE : page.contentType.trim() };
    });
    p.error_pages = pages;
  }
  if (form.split.on) p.split = splitFromForm(form.split, problems);
  const hc = form.healthCheck;
  if (hc.on) {
    const number = (text: string, name: keyof HealthCheck, what: string, fallback: number) =>
      wholeNumber(text, `policies.health_check.${name}`, what, problems) ?? fallback;
    p.health_check = {
      path: hc.path.trim(),
      expected_status: hc.expectedStatus.trim() === "" ? DEFAULT_EXPECTED_STATUS : hc.expectedStatus.trim(),
      interval_ms: number(hc.intervalMs, "interval_ms", "interval in milliseconds", DEFAULT_CHECK_INTERVAL_MS),
      timeout_ms: number(hc.timeoutMs, "timeout_ms", "timeout in milliseconds", DEFAULT_CHECK_TIMEOUT_MS),
      healthy_threshold: number(hc.healthyThreshold, "healthy_threshold", "number of passes", DEFAULT_HEALTHY_THRESHOLD),
      unhealthy_threshold: number(hc.unhealthyThreshold, "unhealthy_threshold", "number of failures", DEFAULT_UNHEALTHY_THRESHOLD),
    };
    if (hc.host.trim() !== "") p.health_check.host = hc.host.trim();
  }
  return Object.keys(p).length > 0 ? p : undefined;
}

/**
 * The `split` policy the form describes. Every group row is sent (the API's positions are
 * the form's); within a group, upstream rows left blank are not.
 */
function splitFromForm(f: SplitForm, problems: FieldProblem[]): Split {
  const groups = f.groups.map((g, i) => {
    const base = `policies.split.groups[${i}]`;
    const weight = wholeNumber(g.weight, `${base}.weight`, "weight", problems, { required: true }) ?? 0;
    const group: Split["groups"][number] = { name: g.name.trim(), weight };
    if (g.own) {
      // Named by the position sent, as the API would name it (policyErrorTarget maps it back to the row).
      group.upstreams = keptSplitUpstreams(g.upstreams).map((j, sent) => {
        const u = g.upstreams[j] ?? blankSplitUpstream();
        const w = wholeNumber(u.weight, `${base}.upstreams[${sent}].weight`, "weight", problems) ?? 1;
        return { url: u.url.trim(), weight: w };
      });
    }
    return group;
  });
  const split: Split = { groups };
  if (f.stickyKind === "cookie") {
    const maxAge = wholeNumber(f.stickyMaxAge, "policies.split.sticky.max_age_secs", "max-age in seconds", problems) ?? DEFAULT_STICKY_MAX_AGE_SECS;
    split.sticky = { kind: "cookie", name: f.stickyCookie.trim(), max_age_secs: maxAge };
  }
  if (f.stickyKind === "header") split.sticky = { kind: "header", name: f.stickyHeader.trim() };
  const [header, cookie] = [f.forceHeader.trim(), f.forceCookie.trim()];
  if (header !== "" || cookie !== "") split.force = { ...(header !== "" ? { header } : {}), ...(cookie !== "" ? { cookie } : {}) };
  return split;
}

/**
 * The `jwt` policy the form describes. The secret is sent only when typed (a new zone, a
 * new secret, or a switch to a secret from another key source); a stored secret being
 * kept is expressed by sending no key source at all, as the API expects.
 */
function jwtFromForm(j: JwtForm, problems: FieldProblem[]): Jwt | undefined {
  const leeway = wholeNumber(j.leewaySecs, "policies.jwt.leeway_secs", "leeway in seconds", problems);
  // The API's order, whatever order the boxes were checked in; one it does not know stays last.
  const algorithms = [...JWT_ALGORITHMS.filter((a) => j.algorithms.includes(a)), ...j.algorithms.filter((a) => !JWT_ALGORITHMS.includes(a))];
  const jwt: Jwt = { algorithms, leeway_secs: leeway ?? DEFAULT_JWT_LEEWAY_SECS, realm: j.realm.trim() === "" ? DEFAULT_JWT_REALM : j.realm.trim() };
  if (j.issuer.trim() !== "") jwt.issuer = j.issuer.trim();
  const audiences = keptNames(j.audiences).map((i) => (j.audiences[i] ?? "").trim());
  if (audiences.length > 0) jwt.audiences = audiences;
  switch (j.keyKind) {
    case "secret":
      // Kept: no key source. The secret is sent as typed (not trimmed: its bytes are the key).
      if (!keepsStoredSecret(j)) jwt.secret = j.secret;
      break;
    case "public_key_pem":
      jwt.public_key_pem = j.publicKeyPem.trim();
      break;
    case "jwks_url":
      jwt.jwks_url = j.jwksUrl.trim();
      break;
  }
  if (j.tokenFrom === "header") jwt.header = j.tokenHeader.trim();
  if (j.tokenFrom === "cookie") jwt.cookie = j.tokenCookie.trim();
  const claims: Record<string, string> = {};
  for (const i of keptClaims(j.claims)) {
    const row = j.claims[i] ?? { claim: "", header: "" };
    const claim = row.claim.trim();
    if (Object.hasOwn(claims, claim)) {
      problems.push({ field: `policies.jwt.claims_to_headers[${i}].claim`, problem: `the claim "${claim}" has a row above already; a claim goes to one header` });
      continue;
    }
    claims[claim] = row.header.trim();
  }
  if (Object.keys(claims).length > 0) jwt.claims_to_headers = claims;
  return jwt;
}

// --- the API's problems → the form's inputs ----------------------------------------------

/** A field of the policies part of the form: `policies`, or a path in it (form row indices). */
export type PolicyField = `policies${string}`;

/**
 * Where a problem with `field` (`policies…`, as the API names it) is shown: the form's
 * input for it, with the API's list positions turned into the form's rows (blank rows are
 * not sent) and an error page's status into its row. What names no input goes on the
 * policy's main input, or on the section itself (`policies`) with the rest of its path.
 */
export function policyErrorTarget(field: string, form?: PolicyFormValues): { field: PolicyField; prefix: string } {
  const at = (f: PolicyField) => ({ field: f, prefix: "" });
  const rest = field === "policies" ? "" : field.replace(/^policies\.?/, "");
  const row = (kept: number[] | undefined, i: string) => (kept ? (kept[Number(i)] ?? Number(i)) : Number(i));
  let m: RegExpExecArray | null;
  if (rest === "") return at("policies");
  if ((m = /^rewrite\.(with|pattern|replacement)$/.exec(rest))) return at(`policies.rewrite.${m[1] ?? ""}`);
  if (/^rewrite(\.|$)/.test(rest)) return at("policies.rewrite");
  if ((m = /^redirect\.(code|pattern)$/.exec(rest))) return at(`policies.redirect.${m[1] ?? ""}`);
  if (/^redirect(\.|$)/.test(rest)) return at("policies.redirect.target");
  if ((m = /^(request_headers|response_headers)\.remove\[(\d+)\]$/.exec(rest))) {
    const dir = m[1] as HeaderDirection;
    return at(`policies.${dir}.remove[${row(form && keptNames(form[dir].remove), m[2] ?? "0")}]`);
  }
  if ((m = /^(request_headers|response_headers)\.(set|add)\[(\d+)\](?:\.(name|value))?$/.exec(rest))) {
    const dir = m[1] as HeaderDirection;
    const kind = m[2] as "set" | "add";
    return at(`policies.${dir}.${kind}[${row(form && keptHeaderRows(form[dir][kind]), m[3] ?? "0")}].${m[4] ?? "name"}`);
  }
  if ((m = /^(request_headers|response_headers)(\.|$)/.exec(rest))) return at(`policies.${m[1] ?? ""}`);
  if ((m = /^hsts\.(max_age_secs|include_subdomains|preload)$/.exec(rest))) return at(`policies.hsts.${m[1] ?? ""}`);
  if (/^hsts(\.|$)/.test(rest)) return at("policies.hsts.max_age_secs");
  if (/^max_body_bytes$/.test(rest)) return at("policies.max_body_bytes");
  if (/^max_header_bytes$/.test(rest)) return at("policies.max_header_bytes");
  if ((m = /^split\.groups\[(\d+)\]\.upstreams\[(\d+)\](?:\.(url|weight))?$/.exec(rest))) {
    const g = Number(m[1] ?? "0");
    const rows = form?.split.groups[g]?.upstreams;
    return at(`policies.split.groups[${g}].upstreams[${row(rows && keptSplitUpstreams(rows), m[2] ?? "0")}].${m[3] ?? "url"}`);
  }
  if ((m = /^split\.groups\[(\d+)\]\.(name|weight|upstreams)$/.exec(rest))) return at(`policies.split.groups[${m[1] ?? "0"}].${m[2] ?? "name"}`);
  if ((m = /^split\.sticky\.(name|max_age_secs)$/.exec(rest))) return at(`policies.split.sticky.${m[1] ?? "name"}`);
  if ((m = /^split\.force\.(header|cookie)$/.exec(rest))) return at(`policies.split.force.${m[1] ?? "header"}`);
  if (rest === "split.force") return at("policies.split.force");
  if (/^split(\.|$)/.test(rest)) return rest === "split.groups" || rest === "split" ? at("policies.split.groups") : { field: "policies.split.groups", prefix: rest.replace(/^split\./, "") };
  if (/^security_headers$/.test(rest)) return at("policies.security_headers");
  if (rest === "basic_auth.realm") return at("policies.basic_auth.realm");
  if ((m = /^basic_auth\.users\[(\d+)\](?:\.(\w+))?$/.exec(rest))) {
    const i = row(form && keptUsers(form.basicAuth.users), m[1] ?? "0");
    // `hash` (a stored hash refused) and the user as a whole ("gives neither hash nor
    // password") are shown on the user's password control.
    const part = m[2] === "username" || m[2] === "password" ? m[2] : "credential";
    return at(`policies.basic_auth.users[${i}].${part}`);
  }
  if (/^basic_auth(\.|$)/.test(rest)) return at("policies.basic_auth.users");
  if ((m = /^rate_limit\.(requests|per_secs|burst)$/.exec(rest))) return at(`policies.rate_limit.${m[1] ?? ""}`);
  if (rest === "rate_limit.key.name") return at("policies.rate_limit.key.name");
  if (/^rate_limit\.key(\.|$)/.test(rest)) return at("policies.rate_limit.key");
  if ((m = /^jwt\.(issuer|secret|public_key_pem|jwks_url|header|cookie|leeway_secs|realm)$/.exec(rest))) return at(`policies.jwt.${m[1] ?? ""}`);
  // Each algorithm is a box: a problem with one (or with the list) goes under the boxes.
  if (/^jwt\.algorithms(\[\d+\])?$/.test(rest)) return at("policies.jwt.algorithms");
  if ((m = /^jwt\.audiences\[(\d+)\]$/.exec(rest))) return at(`policies.jwt.audiences[${row(form && keptNames(form.jwt.audiences), m[1] ?? "0")}]`);
  if (rest === "jwt.audiences") return at("policies.jwt.audiences");
  if ((m = /^jwt\.claims_to_headers\.(.*)$/.exec(rest))) {
    // The API names a claim (a map key): the row with that claim, its header input.
    const claim = m[1] ?? "";
    const i = form ? form.jwt.claims.findIndex((r, j) => r.claim.trim() === claim && keptClaims(form.jwt.claims).includes(j)) : -1;
    if (i >= 0) return at(`policies.jwt.claims_to_headers[${i}].header`);
    return { field: "policies.jwt.claims_to_headers", prefix: claim === "" ? "" : `claim ${claim}` };
  }
  if (/^jwt\.claims_to_headers$/.test(rest)) return at("policies.jwt.claims_to_headers");
  if (/^jwt(\.|$)/.test(rest)) return rest === "jwt" ? at("policies.jwt") : { field: "policies.jwt", prefix: rest.replace(/^jwt\./, "") };
  if ((m = /^forward_auth\.(request_headers|response_headers)\[(\d+)\]$/.exec(rest))) {
    const kind = m[1] as "request_headers" | "response_headers";
    const rows = form ? (kind === "request_headers" ? form.forwardAuth.requestHeaders : form.forwardAuth.responseHeaders) : undefined;
    return at(`policies.forward_auth.${kind}[${row(rows && keptNames(rows), m[2] ?? "0")}]`);
  }
  if ((m = /^forward_auth\.(url|timeout_ms|request_headers|response_headers)$/.exec(rest))) return at(`policies.forward_auth.${m[1] ?? ""}`);
  if (/^forward_auth(\.|$)/.test(rest)) return at("policies.forward_auth.url");
  if (/^rate_limit(\.|$)/.test(rest)) return at("policies.rate_limit.requests");
  if (/^retry\.on_status(\[\d+\])?$/.test(rest)) return at("policies.retry.on_status");
  if ((m = /^retry\.(attempts|on_reset|budget_percent|min_per_sec|backoff_ms|max_backoff_ms)$/.exec(rest))) return at(`policies.retry.${m[1] ?? ""}`);
  if (/^retry(\.|$)/.test(rest)) return at("policies.retry.attempts");
  if ((m = /^circuit_breaker\.(consecutive_failures|error_percent|window_secs|min_requests|open_secs|half_open_requests)$/.exec(rest)))
    return at(`policies.circuit_breaker.${m[1] ?? ""}`);
  if (/^circuit_breaker(\.|$)/.test(rest)) return at("policies.circuit_breaker.consecutive_failures");
  if ((m = /^error_pages\[(\d+)\]\.(status|content_type|body)$/.exec(rest))) return at(`policies.error_pages[${m[1] ?? "0"}].${m[2] ?? "status"}`);
  if ((m = /^error_pages\.(\d+)(?:\.(content_type|body))?$/.exec(rest))) {
    const i = form ? form.errorPages.findIndex((p) => p.status === m?.[1]) : -1;
    if (i >= 0) return at(`policies.error_pages[${i}].${m[2] ?? "status"}`);
  }
  if (/^error_pages(\.|$)/.test(rest)) return { field: "policies.error_pages", prefix: rest.replace(/^error_pages\.?/, "") };
  if ((m = /^health_check\.(path|expected_status|interval_ms|timeout_ms|healthy_threshold|unhealthy_threshold|host)$/.exec(rest))) return at(`policies.health_check.${m[1] ?? ""}`);
  if (/^health_check(\.|$)/.test(rest)) return rest === "health_check" ? at("policies.health_check.path") : { field: "policies.health_check.path", prefix: rest.replace(/^health_check\./, "") };
  return { field: "policies", prefix: rest };
}

// --- what is on, in words --------------------------------------------------------------------

const hasHeaderRules = (r: HeaderRules | undefined) => (r?.remove?.length ?? 0) + (r?.set?.length ?? 0) + (r?.add?.length ?? 0) > 0;

/** Short names of the policies a zone has, for badges ("auth", "rate limit", "HSTS", …). */
export function policyBadges(p: Policies | null | undefined): string[] {
  if (!p) return [];
  return [
    p.basic_auth ? "auth" : null,
    p.jwt ? "JWT" : null,
    p.forward_auth ? "forward auth" : null,
    p.rate_limit ? (p.rate_limit.scope === "fleet" ? "fleet rate limit" : "rate limit") : null,
    p.retry ? "retry" : null,
    p.circuit_breaker ? "circuit breaker" : null,
    p.hsts ? "HSTS" : null,
    p.security_headers ? "security headers" : null,
    p.rewrite ? "rewrite" : null,
    p.redirect ? "redirect" : null,
    hasHeaderRules(p.request_headers) || hasHeaderRules(p.response_headers) ? "headers" : null,
    p.max_body_bytes != null ? "body limit" : null,
    p.max_header_bytes != null ? "header limit" : null,
    p.split ? "split" : null,
    Object.keys(p.error_pages ?? {}).length > 0 ? "error pages" : null,
    p.health_check ? "health check" : null,
  ].filter((b): b is string => b !== null);
}

/** The same names for what the form has switched on (whether or not it can be sent yet). */
export function formPolicyBadges(f: PolicyFormValues): string[] {
  const headers = (h: HeaderEditsForm) => keptNames(h.remove).length + keptHeaderRows(h.set).length + keptHeaderRows(h.add).length > 0;
  return [
    f.basicAuth.on ? "auth" : null,
    f.jwt.on ? "JWT" : null,
    f.forwardAuth.on ? "forward auth" : null,
    f.rateLimit.on ? (f.rateLimit.scope === "fleet" ? "fleet rate limit" : "rate limit") : null,
    f.retry.on ? "retry" : null,
    f.breaker.on ? "circuit breaker" : null,
    f.hsts.on ? "HSTS" : null,
    f.securityHeaders ? "security headers" : null,
    f.rewrite.kind !== "none" ? "rewrite" : null,
    f.redirect.on ? "redirect" : null,
    headers(f.request_headers) || headers(f.response_headers) ? "headers" : null,
    f.maxBody.on ? "body limit" : null,
    f.maxHeader.on ? "header limit" : null,
    f.split.on ? "split" : null,
    f.errorPages.length > 0 ? "error pages" : null,
    f.healthCheck.on ? "health check" : null,
  ].filter((b): b is string => b !== null);
}

/** "10 MiB", "1,500 B". */
export function formatBytes(bytes: number): string {
  const { amount, unit } = splitBytes(bytes);
  return `${Number(amount).toLocaleString("en")} ${unit}`;
}

function describeHeaders(r: HeaderRules): string {
  return [
    ...(r.remove ?? []).map((n) => `remove ${n}`),
    ...(r.set ?? []).map((h) => `set ${h.name}: ${h.value}`),
    ...(r.add ?? []).map((h) => `add ${h.name}: ${h.value}`),
  ].join(", ");
}

/**
 * What a write sets that the API's answers cannot show (it never answers hashes or
 * secrets), read from the write's payload ([`secretsSet`]): the basic-auth users given a
 * new password, and whether the JWT policy gets a new secret.
 */
export interface NewSecrets {
  passwords: readonly string[];
  jwtSecret: boolean;
}

export const NO_NEW_SECRETS: NewSecrets = { passwords: [], jwtSecret: false };

function describeJwt(j: Jwt, newSecret: boolean): string {
  const key = j.public_key_pem != null ? "public key" : j.jwks_url != null ? `JWK set ${j.jwks_url}` : newSecret ? "HMAC secret (new secret)" : "HMAC secret";
  const token = j.cookie != null ? `cookie ${j.cookie}` : j.header != null && j.header !== "authorization" ? `header ${j.header}` : null;
  const claims = Object.entries(j.claims_to_headers ?? {}).map(([c, h]) => `${c} → ${h}`);
  return [
    `JWT ${j.algorithms.join(", ")} “${j.realm}”, ${key}`,
    j.issuer != null ? `issuer ${j.issuer}` : null,
    (j.audiences?.length ?? 0) > 0 ? `audience ${(j.audiences ?? []).join(" or ")}` : null,
    token ? `token from ${token}` : null,
    claims.length > 0 ? `claims ${claims.join(", ")}` : null,
    j.leeway_secs !== DEFAULT_JWT_LEEWAY_SECS ? `leeway ${j.leeway_secs} s` : null,
  ]
    .filter((x): x is string => x !== null)
    .join(", ");
}

function describeForwardAuth(f: ForwardAuth): string {
  return [
    `forward auth ${f.url}`,
    (f.request_headers?.length ?? 0) > 0 ? `sending ${(f.request_headers ?? []).join(", ")}` : null,
    (f.response_headers?.length ?? 0) > 0 ? `copying ${(f.response_headers ?? []).join(", ")}` : null,
    `timeout ${f.timeout_ms} ms`,
  ]
    .filter((x): x is string => x !== null)
    .join(", ");
}

function describeSplit(sp: Split): string {
  const groups = sp.groups.map((g) => {
    const where = g.upstreams == null ? "the zone's backend" : g.upstreams.map((u) => (u.weight === 1 ? u.url : `${u.url} ×${u.weight}`)).join(", ");
    return `${g.name} ${g.weight} (${where})`;
  });
  const sticky = sp.sticky ?? null;
  const force = [sp.force?.header != null ? `header ${sp.force.header}` : null, sp.force?.cookie != null ? `cookie ${sp.force.cookie}` : null].filter((x): x is string => x !== null);
  return [
    `split ${groups.join(" / ")}`,
    sticky?.kind === "cookie" ? `sticky by cookie ${sticky.name} (${sticky.max_age_secs} s)` : sticky?.kind === "header" ? `sticky by header ${sticky.name}` : "drawn per request",
    force.length > 0 ? `forced by ${force.join(" or ")}` : null,
  ]
    .filter((x): x is string => x !== null)
    .join(", ");
}

/**
 * Every policy of a zone in words, for the dry run's before → after. Basic-auth users are
 * named (the API never answers their hashes); one that `before` has too and whose
 * password the write sets (`secrets.passwords`, from the write's payload) is marked
 * "(new password)". A JWT secret is never shown, only that there is one, marked
 * "(new secret)" when the write sets one (`secrets.jwtSecret`).
 */
export function describePolicies(p: Policies | null | undefined, before?: Policies | null, secrets: NewSecrets = NO_NEW_SECRETS): string {
  if (!p) return "none";
  const parts: string[] = [];
  const rw = p.rewrite;
  if (rw) {
    parts.push(
      rw.kind === "strip_prefix" ? "rewrite: strip the prefix" : rw.kind === "replace_prefix" ? `rewrite: prefix → ${rw.with}` : `rewrite: ${rw.pattern} → ${rw.replacement}`,
    );
  }
  const rd = p.redirect;
  if (rd) parts.push(`redirect ${rd.code}${rd.pattern ? ` ${rd.pattern}` : ""} → ${rd.target}${rd.keep_query ? " (with the query)" : ""}`);
  if (p.request_headers && hasHeaderRules(p.request_headers)) parts.push(`request headers: ${describeHeaders(p.request_headers)}`);
  if (p.response_headers && hasHeaderRules(p.response_headers)) parts.push(`response headers: ${describeHeaders(p.response_headers)}`);
  if (p.hsts) parts.push(`HSTS max-age ${p.hsts.max_age_secs}${p.hsts.include_subdomains ? ", includeSubDomains" : ""}${p.hsts.preload ? ", preload" : ""}`);
  if (p.security_headers) parts.push("security headers");
  if (p.max_body_bytes != null) parts.push(`body ≤ ${formatBytes(p.max_body_bytes)}`);
  if (p.max_header_bytes != null) parts.push(`request head ≤ ${formatBytes(p.max_header_bytes)}`);
  if (p.basic_auth) {
    const old = new Set((before?.basic_auth?.users ?? []).map((u) => u.username));
    const users = p.basic_auth.users.map((u) => (old.has(u.username) && secrets.passwords.includes(u.username) ? `${u.username} (new password)` : u.username));
    parts.push(`basic auth “${p.basic_auth.realm}”: ${users.join(", ") || "no users"}`);
  }
  if (p.jwt) parts.push(describeJwt(p.jwt, secrets.jwtSecret));
  if (p.forward_auth) parts.push(describeForwardAuth(p.forward_auth));
  const rl = p.rate_limit;
  if (rl) {
    const key = rl.key?.kind === "header" ? `by header ${rl.key.name}` : "by client IP";
    parts.push(`rate limit ${rl.requests} per ${rl.per_secs} s${rl.burst != null ? `, burst ${rl.burst}` : ""}, ${key}${rl.scope === "fleet" ? ", fleet-wide" : ""}`);
  }
  const rt = p.retry;
  if (rt) {
    const on = [...rt.on_status.map(String), ...(rt.on_reset ? ["resets"] : [])];
    parts.push(
      `retry ${rt.attempts} tries on ${on.join(", ") || "connection failures only"}, budget ${rt.budget_percent}%, backoff ${rt.backoff_ms}–${rt.max_backoff_ms} ms`,
    );
  }
  const cb = p.circuit_breaker;
  if (cb) {
    const share = cb.error_percent != null ? ` or ${cb.error_percent}% of ≥ ${cb.min_requests} in ${cb.window_secs} s` : "";
    parts.push(`circuit breaker after ${cb.consecutive_failures} failures${share}, open ${cb.open_secs} s`);
  }
  const pages = Object.keys(p.error_pages ?? {});
  if (pages.length > 0) parts.push(`error pages: ${pages.join(", ")}`);
  if (p.split) parts.push(describeSplit(p.split));
  const hc = p.health_check;
  if (hc) {
    parts.push(
      `health check GET ${hc.path}${hc.host != null ? ` (Host ${hc.host})` : ""} expecting ${hc.expected_status} every ${hc.interval_ms} ms, timeout ${hc.timeout_ms} ms, out after ${hc.unhealthy_threshold} failure${hc.unhealthy_threshold === 1 ? "" : "s"}, back after ${hc.healthy_threshold} pass${hc.healthy_threshold === 1 ? "" : "es"}`,
    );
  }
  return parts.length > 0 ? parts.join("; ") : "none";
}

/** The basic-auth users a write gives a new password (by username): the dry run's diff cannot show them, as the API answers no hashes. */
export function passwordsSet(p: Policies | null | undefined): string[] {
  return (p?.basic_auth?.users ?? []).filter((u) => u.password != null).map((u) => u.username);
}

/** What a write's policies set that the dry run's answer cannot show: new passwords, a new JWT secret. */
export function secretsSet(p: Policies | null | undefined): NewSecrets {
  return { passwords: passwordsSet(p), jwtSecret: p?.jwt?.secret != null };
}
