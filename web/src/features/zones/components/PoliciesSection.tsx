import { useId, useState, type ReactNode } from "react";
import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { Checkbox, Field } from "@/components/ui/Field";
import type { FormErrors, FormField } from "../api/form";
import {
  blankUser,
  DEFAULT_FORWARD_AUTH_TIMEOUT_MS,
  DEFAULT_JWT_LEEWAY_SECS,
  DEFAULT_JWT_REALM,
  ERROR_PAGE_STATUSES,
  JWT_HMAC_ALGORITHMS,
  JWT_PUBLIC_ALGORITHMS,
  MIN_JWT_SECRET_BYTES,
  formatBytes,
  formPolicyBadges,
  MAX_HSTS_SECS,
  ONE_YEAR_SECS,
  REDIRECT_CODES,
  RETRY_STATUSES,
  SIZE_UNITS,
  UNIT_BYTES,
  DEFAULT_CONTENT_TYPE,
  DEFAULT_CHECK_INTERVAL_MS,
  DEFAULT_CHECK_TIMEOUT_MS,
  DEFAULT_EXPECTED_STATUS,
  DEFAULT_HEALTHY_THRESHOLD,
  DEFAULT_UNHEALTHY_THRESHOLD,
  DEFAULT_STICKY_COOKIE,
  DEFAULT_STICKY_MAX_AGE_SECS,
  HEADER_UNITS,
  MAX_SPLIT_GROUPS,
  blankSplitGroup,
  blankSplitUpstream,
  starterSplitGroups,
  type SplitGroupRow,
  type StickyKind,
  type AuthUserRow,
  type ErrorPageStatus,
  type HeaderDirection,
  type HeaderEditsForm,
  type HeaderRow,
  type JwtForm,
  type JwtKeyKind,
  type JwtTokenFrom,
  type PolicyFormValues,
  type RateKeyKind,
  type RateScope,
  type RedirectCode,
  type RewriteKind,
  type SizeUnit,
} from "../api/policies";

type Err = (f: FormField) => string[] | undefined;

interface Props {
  values: PolicyFormValues;
  onChange: (values: PolicyFormValues) => void;
  errors: FormErrors;
  /** Writes are off: every control but the section's toggle is disabled. */
  disabled: boolean;
  /** The zone has a path prefix (prefix rewrites need one). */
  hasPathPrefix: boolean;
  /** Expanded at first (the zone has policies). */
  defaultOpen: boolean;
}

const REDIRECT_LABELS: Record<RedirectCode, string> = {
  "301": "301 Moved Permanently",
  "302": "302 Found",
  "307": "307 Temporary Redirect",
  "308": "308 Permanent Redirect",
};

const STATUS_LABELS: Record<ErrorPageStatus, string> = {
  "401": "401 Unauthorized (basic auth, JWT)",
  "403": "403 Forbidden (allow-list)",
  "413": "413 Content Too Large (body size)",
  "429": "429 Too Many Requests (rate limit)",
  "502": "502 Bad Gateway",
  "503": "503 Service Unavailable",
  "504": "504 Gateway Timeout",
};

const hasPolicyErrors = (errors: FormErrors) => Object.keys(errors.fields).some((f) => f.startsWith("policies"));

/** Problems under a list or a block, for the screen reader too. */
function Problems({ errors }: { errors: string[] | undefined }) {
  if (!errors || errors.length === 0) return null;
  return (
    <div role="alert">
      <ul className="space-y-0.5 text-sm text-red-700 dark:text-red-400">
        {errors.map((e) => (
          <li key={e}>{e}</li>
        ))}
      </ul>
    </div>
  );
}

function Hint({ children }: { children: ReactNode }) {
  return <p className="text-xs text-slate-500 dark:text-slate-400">{children}</p>;
}

/**
 * One policy: a group named by its legend. With `on`, the legend is the checkbox that
 * switches the policy on, and its fields show only while it is.
 */
function Block({ title, on, onToggle, hint, children }: { title: string; on?: boolean; onToggle?: (on: boolean) => void; hint?: ReactNode; children?: ReactNode }) {
  const id = useId();
  return (
    <fieldset className={cn("space-y-3 rounded-md border border-slate-200 px-4 dark:border-slate-700", on === false ? "pb-2" : "pt-2 pb-4")}>
      <legend className="px-1 text-sm font-semibold">
        {onToggle ? (
          <span className="flex items-center gap-2">
            <input
              id={id}
              type="checkbox"
              className="size-4 rounded border-slate-300 accent-teal-700 dark:border-slate-600"
              checked={on ?? false}
              onChange={(e) => {
                onToggle(e.target.checked);
              }}
            />
            <label htmlFor={id}>{title}</label>
          </span>
        ) : (
          title
        )}
      </legend>
      {hint && <Hint>{hint}</Hint>}
      {(on ?? true) && children}
    </fieldset>
  );
}

/** "≈ 1 year", "≈ 30 days", "2 h". */
function aboutDuration(secs: number): string {
  if (secs >= ONE_YEAR_SECS) return `≈ ${+(secs / ONE_YEAR_SECS).toFixed(2)} year${secs === ONE_YEAR_SECS ? "" : "s"}`;
  if (secs >= 86_400) return `≈ ${+(secs / 86_400).toFixed(1)} days`;
  if (secs >= 3600) return `≈ ${+(secs / 3600).toFixed(1)} h`;
  return `${secs} s`;
}

/** Route policies: collapsed with a summary of what is on, each policy a sub-form. */
export function PoliciesSection({ values, onChange, errors, disabled, hasPathPrefix, defaultOpen }: Props) {
  const [open, setOpen] = useState(defaultOpen);
  // New problems with a policy open the section, so each shows next to its input.
  const [seenErrors, setSeenErrors] = useState(errors);
  if (errors !== seenErrors) {
    setSeenErrors(errors);
    if (hasPolicyErrors(errors)) setOpen(true);
  }
  const panelId = useId();
  const badges = formPolicyBadges(values);
  const err: Err = (f) => errors.fields[f];
  const set = <K extends keyof PolicyFormValues>(key: K, value: PolicyFormValues[K]) => {
    onChange({ ...values, [key]: value });
  };
  const patch = <K extends PatchKey>(key: K, part: Partial<PolicyFormValues[K]>) => {
    onChange({ ...values, [key]: { ...values[key], ...part } });
  };

  return (
    <section aria-labelledby={`${panelId}-title`} className="rounded-md border border-slate-200 dark:border-slate-700">
      <h2 id={`${panelId}-title`} className="text-sm font-semibold">
        <button
          type="button"
          aria-expanded={open}
          aria-controls={panelId}
          onClick={() => {
            setOpen((o) => !o);
          }}
          className="flex w-full flex-wrap items-center gap-x-3 gap-y-1 rounded-md px-4 py-3 text-left hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-teal-600 dark:hover:bg-slate-800/60"
        >
          <span aria-hidden="true" className="inline-block w-3 text-slate-500 dark:text-slate-400">
            {open ? "▾" : "▸"}
          </span>
          <span>Policies</span>
          <span className="flex flex-wrap gap-1 font-normal">
            {badges.length === 0 ? (
              <span className="text-slate-500 dark:text-slate-400">none</span>
            ) : (
              badges.map((b) => <PolicyBadge key={b} label={b} />)
            )}
          </span>
        </button>
      </h2>
      {open && (
        <div id={panelId} className="space-y-4 border-t border-slate-200 p-4 dark:border-slate-700">
          <Hint>
            Applied by the proxy in this order: header size, rate limit, basic auth, JWT, redirect, body size; then the rewrite, the traffic split, forward auth and the header edits. Retries and the circuit breaker apply to the attempts upstream.
          </Hint>
          <Problems errors={err("policies")} />
          {Object.keys(values.passthrough).length > 0 && (
            <Hint>
              This zone also has {Object.keys(values.passthrough).map((k) => k.replaceAll("_", " ")).join(", ")}, set through the API: saving keeps{" "}
              {Object.keys(values.passthrough).length === 1 ? "it" : "them"} as they are (docs/policies.md).
            </Hint>
          )}
          <fieldset disabled={disabled} className="space-y-4">
            <RewriteBlock values={values} patch={patch} err={err} hasPathPrefix={hasPathPrefix} />
            <RedirectBlock values={values} patch={patch} err={err} />
            <HeaderBlock dir="request_headers" value={values.request_headers} onChange={(v) => { set("request_headers", v); }} err={err} />
            <HeaderBlock dir="response_headers" value={values.response_headers} onChange={(v) => { set("response_headers", v); }} err={err} />
            <HstsBlock values={values} patch={patch} err={err} />
            <Block title="Security headers" hint="Where the answer has none: X-Content-Type-Options: nosniff, X-Frame-Options: SAMEORIGIN, Referrer-Policy: strict-origin-when-cross-origin.">
              <Checkbox label="Add the security headers" checked={values.securityHeaders} errors={err("policies.security_headers")} onChange={(e) => { set("securityHeaders", e.target.checked); }} />
            </Block>
            <MaxBodyBlock values={values} patch={patch} err={err} />
            <MaxHeaderBlock values={values} patch={patch} err={err} />
            <BasicAuthBlock values={values} patch={patch} err={err} />
            <JwtBlock values={values} patch={patch} err={err} />
            <ForwardAuthBlock values={values} patch={patch} err={err} />
            <RateLimitBlock values={values} patch={patch} err={err} />
            <SplitBlock values={values} patch={patch} err={err} />
            <RetryBlock values={values} patch={patch} err={err} />
            <BreakerBlock values={values} patch={patch} err={err} />
            <ErrorPagesBlock value={values.errorPages} onChange={(v) => { set("errorPages", v); }} err={err} />
            <HealthCheckBlock values={values} patch={patch} err={err} />
          </fieldset>
        </div>
      )}
    </section>
  );
}

/** A policy's short name as a badge (the zones list shows the same). */
export function PolicyBadge({ label }: { label: string }) {
  return <span className="rounded bg-teal-50 px-1.5 py-0.5 text-xs font-medium text-teal-900 ring-1 ring-teal-200 ring-inset dark:bg-teal-950 dark:text-teal-100 dark:ring-teal-800">{label}</span>;
}

type PatchKey = "rewrite" | "redirect" | "hsts" | "maxBody" | "maxHeader" | "basicAuth" | "jwt" | "forwardAuth" | "rateLimit" | "split" | "healthCheck" | "retry" | "breaker";
type Patch = <K extends PatchKey>(key: K, part: Partial<PolicyFormValues[K]>) => void;

interface BlockProps {
  values: PolicyFormValues;
  patch: Patch;
  err: Err;
}

function RewriteBlock({ values, patch, err, hasPathPrefix }: BlockProps & { hasPathPrefix: boolean }) {
  const rw = values.rewrite;
  return (
    <Block title="Path rewrite" hint="The path sent upstream; the query is kept.">
      <Field label="Rewrite" errors={err("policies.rewrite")} hint={hasPathPrefix ? undefined : "Prefix rewrites need a path prefix on this zone."}>
        {(p) => (
          <select {...p} value={rw.kind} onChange={(e) => { patch("rewrite", { kind: e.target.value as RewriteKind }); }}>
            <option value="none">None</option>
            <option value="strip_prefix">Strip the path prefix (/api/v1 → /v1)</option>
            <option value="replace_prefix">Replace the path prefix with …</option>
            <option value="regex">Regular expression → replacement</option>
          </select>
        )}
      </Field>
      {rw.kind === "replace_prefix" && (
        <Field label="Replace the prefix with" errors={err("policies.rewrite.with")} hint="A path, e.g. /v2 (/api/x → /v2/x)">
          {(p) => <input {...p} spellCheck={false} value={rw.with} onChange={(e) => { patch("rewrite", { with: e.target.value }); }} />}
        </Field>
      )}
      {rw.kind === "regex" && (
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Rewrite pattern" errors={err("policies.rewrite.pattern")} hint="A regular expression over the path, e.g. ^/old/(.*)$">
            {(p) => <input {...p} spellCheck={false} value={rw.pattern} onChange={(e) => { patch("rewrite", { pattern: e.target.value }); }} />}
          </Field>
          <Field label="Replacement" errors={err("policies.rewrite.replacement")} hint="Starts with /; $1 or ${name} are the pattern's groups">
            {(p) => <input {...p} spellCheck={false} value={rw.replacement} onChange={(e) => { patch("rewrite", { replacement: e.target.value }); }} />}
          </Field>
        </div>
      )}
    </Block>
  );
}

function RedirectBlock({ values, patch, err }: BlockProps) {
  const rd = values.redirect;
  return (
    <Block title="Redirect rule" on={rd.on} onToggle={(on) => { patch("redirect", { on }); }}>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Redirect code" errors={err("policies.redirect.code")}>
          {(p) => (
            <select {...p} value={rd.code} onChange={(e) => { patch("redirect", { code: e.target.value as RedirectCode }); }}>
              {REDIRECT_CODES.map((c) => (
                <option key={c} value={c}>
                  {REDIRECT_LABELS[c]}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Redirect pattern" errors={err("policies.redirect.pattern")} hint="A regular expression over the path; empty redirects every path">
          {(p) => <input {...p} spellCheck={false} value={rd.pattern} onChange={(e) => { patch("redirect", { pattern: e.target.value }); }} />}
        </Field>
      </div>
      <Field label="Redirect target" errors={err("policies.redirect.target")} hint="https://… or /…; $1 or ${name} are the pattern's groups">
        {(p) => <input {...p} spellCheck={false} value={rd.target} onChange={(e) => { patch("redirect", { target: e.target.value }); }} />}
      </Field>
      <Checkbox label="Keep the query string" checked={rd.keepQuery} onChange={(e) => { patch("redirect", { keepQuery: e.target.checked }); }} />
    </Block>
  );
}

function HeaderBlock({ dir, value, onChange, err }: { dir: HeaderDirection; value: HeaderEditsForm; onChange: (v: HeaderEditsForm) => void; err: Err }) {
  const request = dir === "request_headers";
  const noun = request ? "request header" : "response header";
  const Noun = request ? "Request header" : "Response header";
  const setRow = (kind: "set" | "add", i: number, part: Partial<HeaderRow>) => {
    onChange({ ...value, [kind]: value[kind].map((r, j) => (j === i ? { ...r, ...part } : r)) });
  };
  return (
    <Block
      title={request ? "Request headers (to the backend)" : "Response headers (to the client)"}
      hint={
        <>
          Remove, then set (replacing), then add (appending). Values may use {"{client_ip}"}, {"{request_id}"}, {"{host}"}, {"{scheme}"}; write {"{{"} and {"}}"} for braces.
          {request ? " X-Forwarded-* and X-Real-IP are the proxy's own." : " Applies to the backend's answers."}
        </>
      }
    >
      <Problems errors={err(`policies.${dir}`)} />
      {value.remove.map((name, i) => (
        <div key={`remove-${i}`} className="grid items-start gap-2 sm:grid-cols-[1fr_auto]">
          <Field label={`${Noun} to remove ${i + 1}`} errors={err(`policies.${dir}.remove[${i}]`)}>
            {(p) => (
              <input
                {...p}
                spellCheck={false}
                autoComplete="off"
                value={name}
                onChange={(e) => {
                  onChange({ ...value, remove: value.remove.map((n, j) => (j === i ? e.target.value : n)) });
                }}
              />
            )}
          </Field>
          <Button
            variant="ghost"
            className="sm:mt-6"
            aria-label={`Delete ${noun} to remove ${i + 1}`}
            onClick={() => {
              onChange({ ...value, remove: value.remove.filter((_, j) => j !== i) });
            }}
          >
            Delete
          </Button>
        </div>
      ))}
      {(["set", "add"] as const).map((kind) =>
        value[kind].map((row, i) => (
          <div key={`${kind}-${i}`} className="grid items-start gap-2 sm:grid-cols-[1fr_1fr_auto]">
            <Field label={`${kind === "set" ? "Set" : "Add"} ${noun} ${i + 1} name`} errors={err(`policies.${dir}.${kind}[${i}].name`)}>
              {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.name} onChange={(e) => { setRow(kind, i, { name: e.target.value }); }} />}
            </Field>
            <Field label={`${kind === "set" ? "Set" : "Add"} ${noun} ${i + 1} value`} errors={err(`policies.${dir}.${kind}[${i}].value`)}>
              {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.value} onChange={(e) => { setRow(kind, i, { value: e.target.value }); }} />}
            </Field>
            <Button
              variant="ghost"
              className="sm:mt-6"
              aria-label={`Delete ${kind === "set" ? "set" : "add"} ${noun} ${i + 1}`}
              onClick={() => {
                onChange({ ...value, [kind]: value[kind].filter((_, j) => j !== i) });
              }}
            >
              Delete
            </Button>
          </div>
        )),
      )}
      <div className="flex flex-wrap gap-2">
        <Button onClick={() => { onChange({ ...value, remove: [...value.remove, ""] }); }}>+ Header to remove</Button>
        <Button onClick={() => { onChange({ ...value, set: [...value.set, { name: "", value: "" }] }); }}>+ Header to set</Button>
        <Button onClick={() => { onChange({ ...value, add: [...value.add, { name: "", value: "" }] }); }}>+ Header to add</Button>
      </div>
    </Block>
  );
}

function HstsBlock({ values, patch, err }: BlockProps) {
  const h = values.hsts;
  const secs = /^\d+$/.test(h.maxAge.trim()) ? Number(h.maxAge.trim()) : null;
  return (
    <Block title="HSTS (Strict-Transport-Security)" on={h.on} onToggle={(on) => { patch("hsts", { on }); }} hint={h.on ? "Sent on answers over HTTPS, replacing the backend's." : undefined}>
      <Field
        label="Max-age (seconds)"
        errors={err("policies.hsts.max_age_secs")}
        hint={`${secs !== null ? `${aboutDuration(secs)}; ` : ""}one year is ${ONE_YEAR_SECS.toLocaleString("en")}, at most ${MAX_HSTS_SECS.toLocaleString("en")} (two years); 0 tells browsers to forget the host`}
      >
        {(p) => <input {...p} inputMode="numeric" value={h.maxAge} onChange={(e) => { patch("hsts", { maxAge: e.target.value }); }} />}
      </Field>
      <div className="flex flex-wrap gap-6">
        <Checkbox label="includeSubDomains" checked={h.includeSubdomains} errors={err("policies.hsts.include_subdomains")} onChange={(e) => { patch("hsts", { includeSubdomains: e.target.checked }); }} />
        <Checkbox label="preload" hint="Needs includeSubDomains and at least one year" checked={h.preload} errors={err("policies.hsts.preload")} onChange={(e) => { patch("hsts", { preload: e.target.checked }); }} />
      </div>
    </Block>
  );
}

function MaxBodyBlock({ values, patch, err }: BlockProps) {
  const mb = values.maxBody;
  const t = mb.amount.trim();
  const bytes = /^\d+(\.\d+)?$/.test(t) ? Number(t) * UNIT_BYTES[mb.unit] : null;
  const hint =
    bytes !== null && Number.isSafeInteger(bytes)
      ? `= ${bytes.toLocaleString("en")} byte${bytes === 1 ? "" : "s"}${mb.unit === "B" && bytes >= 1024 ? ` (${formatBytes(bytes)})` : ""}; 1 B – 64 GiB; larger bodies are answered 413`
      : "1 B – 64 GiB; larger bodies are answered 413";
  return (
    <Block title="Max body size" on={mb.on} onToggle={(on) => { patch("maxBody", { on }); }}>
      <div className="grid items-start gap-2 sm:grid-cols-[1fr_8rem]">
        <Field label="Largest request body" errors={err("policies.max_body_bytes")} hint={hint}>
          {(p) => <input {...p} inputMode="decimal" value={mb.amount} onChange={(e) => { patch("maxBody", { amount: e.target.value }); }} />}
        </Field>
        <Field label="Unit">
          {(p) => (
            <select {...p} value={mb.unit} onChange={(e) => { patch("maxBody", { unit: e.target.value as SizeUnit }); }}>
              {SIZE_UNITS.map((u) => (
                <option key={u} value={u}>
                  {u === "B" ? "bytes" : u}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
    </Block>
  );
}

function MaxHeaderBlock({ values, patch, err }: BlockProps) {
  const mh = values.maxHeader;
  const t = mh.amount.trim();
  const bytes = /^\d+(\.\d+)?$/.test(t) ? Number(t) * UNIT_BYTES[mh.unit] : null;
  const range = "1–64 KiB, measured as HTTP/1.1 writes the request line and headers (HTTP/2 too); larger heads are answered 431";
  const hint = bytes !== null && Number.isSafeInteger(bytes) ? `= ${bytes.toLocaleString("en")} bytes; ${range}` : range;
  return (
    <Block title="Max request head size" on={mh.on} onToggle={(on) => { patch("maxHeader", { on }); }}>
      <div className="grid items-start gap-2 sm:grid-cols-[1fr_8rem]">
        <Field label="Largest request head" errors={err("policies.max_header_bytes")} hint={hint}>
          {(p) => <input {...p} inputMode="decimal" value={mh.amount} onChange={(e) => { patch("maxHeader", { amount: e.target.value }); }} />}
        </Field>
        <Field label="Head size unit">
          {(p) => (
            <select {...p} value={mh.unit} onChange={(e) => { patch("maxHeader", { unit: e.target.value as SizeUnit }); }}>
              {HEADER_UNITS.map((u) => (
                <option key={u} value={u}>
                  {u === "B" ? "bytes" : u}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
    </Block>
  );
}

const STICKY_LABELS: Record<StickyKind, string> = {
  none: "Nothing: every request is drawn by weight",
  cookie: "A cookie the proxy sets (the group's name)",
  header: "A request header identifying the user (its hash)",
};

function SplitGroupBox({ group, i, count, onChange, onRemove, err }: { group: SplitGroupRow; i: number; count: number; onChange: (g: SplitGroupRow) => void; onRemove: () => void; err: Err }) {
  const n = i + 1;
  const base = `policies.split.groups[${i}]` as const;
  const setUpstream = (j: number, part: Partial<SplitGroupRow["upstreams"][number]>) => {
    onChange({ ...group, upstreams: group.upstreams.map((u, k) => (k === j ? { ...u, ...part } : u)) });
  };
  return (
    <div role="group" aria-label={`Group ${n}`} className="space-y-2 rounded-md bg-slate-50 p-3 dark:bg-slate-800/40">
      <div className="grid items-start gap-2 sm:grid-cols-[1fr_8rem_1fr_auto]">
        <Field label={`Group ${n} name`} errors={err(`${base}.name`)} hint="a-z, 0-9, - and _; what the cookie and a forced cohort name">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={group.name} onChange={(e) => { onChange({ ...group, name: e.target.value }); }} />}
        </Field>
        <Field label={`Group ${n} weight`} errors={err(`${base}.weight`)} hint="0–1,000; 0: forced only">
          {(p) => <input {...p} inputMode="numeric" value={group.weight} onChange={(e) => { onChange({ ...group, weight: e.target.value }); }} />}
        </Field>
        <Field label={`Group ${n} upstreams`} errors={err(`${base}.upstreams`)}>
          {(p) => (
            <select
              {...p}
              value={group.own ? "own" : "route"}
              onChange={(e) => {
                const own = e.target.value === "own";
                onChange({ ...group, own, upstreams: own && group.upstreams.length === 0 ? [blankSplitUpstream()] : group.upstreams });
              }}
            >
              <option value="route">The zone&apos;s backend</option>
              <option value="own">Its own upstreams</option>
            </select>
          )}
        </Field>
        <Button variant="ghost" className="sm:mt-6" disabled={count <= 2} aria-label={`Remove group ${n}`} onClick={onRemove}>
          Remove
        </Button>
      </div>
      {group.own && (
        <>
          {group.upstreams.map((u, j) => (
            <div key={j} className="grid items-start gap-2 sm:grid-cols-[1fr_8rem_auto]">
              <Field label={`Group ${n} upstream ${j + 1} URL`} errors={err(`${base}.upstreams[${j}].url`)} hint="http(s)://host[:port]">
                {(p) => <input {...p} spellCheck={false} autoComplete="off" value={u.url} onChange={(e) => { setUpstream(j, { url: e.target.value }); }} />}
              </Field>
              <Field label={`Group ${n} upstream ${j + 1} weight`} errors={err(`${base}.upstreams[${j}].weight`)}>
                {(p) => <input {...p} inputMode="numeric" value={u.weight} onChange={(e) => { setUpstream(j, { weight: e.target.value }); }} />}
              </Field>
              <Button
                variant="ghost"
                className="sm:mt-6"
                aria-label={`Remove group ${n} upstream ${j + 1}`}
                onClick={() => {
                  onChange({ ...group, upstreams: group.upstreams.filter((_, k) => k !== j) });
                }}
              >
                Remove
              </Button>
            </div>
          ))}
          <Button onClick={() => { onChange({ ...group, upstreams: [...group.upstreams, blankSplitUpstream()] }); }}>+ Upstream of group {n}</Button>
        </>
      )}
    </div>
  );
}

function SplitBlock({ values, patch, err }: BlockProps) {
  const sp = values.split;
  const groups = sp.groups;
  const total = groups.reduce((sum, g) => sum + (/^\d+$/.test(g.weight.trim()) ? Number(g.weight.trim()) : 0), 0);
  const shares = total > 0 ? groups.map((g) => `${g.name.trim() || "?"} ${Math.round(((/^\d+$/.test(g.weight.trim()) ? Number(g.weight.trim()) : 0) / total) * 1000) / 10}%`).join(", ") : null;
  return (
    <Block
      title="Traffic split"
      on={sp.on}
      onToggle={(on) => {
        // Switched on with no group: the usual canary shape to fill in.
        patch("split", on && groups.length === 0 ? { on, groups: starterSplitGroups() } : { on });
      }}
      hint={
        sp.on
          ? "Each request goes to one group, by weight; a forced cohort wins, then the sticky cookie or header. A group whose upstreams are all down answers 503: its users are not moved to another group."
          : undefined
      }
    >
      <Problems errors={err("policies.split.groups")} />
      {groups.map((g, i) => (
        <SplitGroupBox
          key={i}
          group={g}
          i={i}
          count={groups.length}
          err={err}
          onChange={(next) => {
            patch("split", { groups: groups.map((x, j) => (j === i ? next : x)) });
          }}
          onRemove={() => {
            patch("split", { groups: groups.filter((_, j) => j !== i) });
          }}
        />
      ))}
      <div className="flex flex-wrap items-center gap-3">
        <Button disabled={groups.length >= MAX_SPLIT_GROUPS} onClick={() => { patch("split", { groups: [...groups, blankSplitGroup()] }); }}>
          + Group
        </Button>
        {shares && <Hint>Shares: {shares}</Hint>}
      </div>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Keep a user on their group by" errors={undefined}>
          {(p) => (
            <select {...p} value={sp.stickyKind} onChange={(e) => { patch("split", { stickyKind: e.target.value as StickyKind }); }}>
              {(["cookie", "header", "none"] as const).map((k) => (
                <option key={k} value={k}>
                  {STICKY_LABELS[k]}
                </option>
              ))}
            </select>
          )}
        </Field>
        {sp.stickyKind === "cookie" && (
          <Field label="Sticky cookie name" errors={err("policies.split.sticky.name")} hint={`e.g. ${DEFAULT_STICKY_COOKIE}`}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={sp.stickyCookie} onChange={(e) => { patch("split", { stickyCookie: e.target.value }); }} />}
          </Field>
        )}
        {sp.stickyKind === "cookie" && (
          <Field label="Cookie max-age (seconds)" errors={err("policies.split.sticky.max_age_secs")} hint={`1–31,536,000; empty is ${DEFAULT_STICKY_MAX_AGE_SECS.toLocaleString("en")} (a day)`}>
            {(p) => <input {...p} inputMode="numeric" value={sp.stickyMaxAge} onChange={(e) => { patch("split", { stickyMaxAge: e.target.value }); }} />}
          </Field>
        )}
        {sp.stickyKind === "header" && (
          <Field label="Sticky header" errors={err("policies.split.sticky.name")} hint="e.g. x-user-id: the same user lands in the same group on every proxy">
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={sp.stickyHeader} onChange={(e) => { patch("split", { stickyHeader: e.target.value }); }} />}
          </Field>
        )}
      </div>
      <Problems errors={err("policies.split.force")} />
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Forced cohort header" errors={err("policies.split.force.header")} hint="Optional, e.g. x-canary-cohort: its value names a group">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={sp.forceHeader} onChange={(e) => { patch("split", { forceHeader: e.target.value }); }} />}
        </Field>
        <Field label="Forced cohort cookie" errors={err("policies.split.force.cookie")} hint="Optional; a forced request never gets the sticky cookie">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={sp.forceCookie} onChange={(e) => { patch("split", { forceCookie: e.target.value }); }} />}
        </Field>
      </div>
    </Block>
  );
}

function UserRow({ user, i, onChange, onRemove, err }: { user: AuthUserRow; i: number; onChange: (part: Partial<AuthUserRow>) => void; onRemove: () => void; err: Err }) {
  const n = i + 1;
  const base = `policies.basic_auth.users[${i}]` as const;
  const credential = err(`${base}.credential`);
  return (
    <div className="grid items-start gap-2 rounded-md bg-slate-50 p-3 sm:grid-cols-[1fr_1fr_auto] dark:bg-slate-800/40">
      <Field label={`User ${n} name`} errors={err(`${base}.username`)}>
        {(p) => <input {...p} spellCheck={false} autoComplete="off" value={user.username} onChange={(e) => { onChange({ username: e.target.value }); }} />}
      </Field>
      {user.stored !== null ? (
        <div className="space-y-2">
          <Field
            label={`User ${n} password`}
            errors={credential}
            hint={user.username.trim() === user.stored ? "Stored as a hash, which the panel never shows; the password itself is never kept." : `Only the password of “${user.stored}” is stored: keeping one needs that username, or set a new password.`}
          >
            {(p) => (
              <select
                {...p}
                value={user.replace ? "replace" : "keep"}
                onChange={(e) => {
                  onChange({ replace: e.target.value === "replace", password: "" });
                }}
              >
                <option value="keep">Keep the stored password</option>
                <option value="replace">Set a new password</option>
              </select>
            )}
          </Field>
          {user.replace && (
            <Field label={`User ${n} new password`} errors={err(`${base}.password`)}>
              {(p) => <input {...p} type="password" autoComplete="new-password" value={user.password} onChange={(e) => { onChange({ password: e.target.value }); }} />}
            </Field>
          )}
        </div>
      ) : (
        <Field label={`User ${n} password`} errors={[...(err(`${base}.password`) ?? []), ...(credential ?? [])]} hint="Hashed (argon2id) by the panel; never stored as typed">
          {(p) => <input {...p} type="password" autoComplete="new-password" value={user.password} onChange={(e) => { onChange({ password: e.target.value }); }} />}
        </Field>
      )}
      <Button variant="ghost" className="sm:mt-6" aria-label={`Remove user ${n}`} onClick={onRemove}>
        Remove
      </Button>
    </div>
  );
}

function BasicAuthBlock({ values, patch, err }: BlockProps) {
  const auth = values.basicAuth;
  const users = auth.users;
  return (
    <Block
      title="Basic auth"
      on={auth.on}
      onToggle={(on) => {
        // Switched on with nobody to let in: start with one user to fill in.
        patch("basicAuth", on && users.length === 0 ? { on, users: [blankUser()] } : { on });
      }}
      hint={auth.on ? "Asked after the rate limit and the HTTPS redirect. Each wrong password costs a hash verification: pair basic auth with a rate limit." : undefined}
    >
      <Field label="Realm" errors={err("policies.basic_auth.realm")} hint="Shown in the browser's login prompt">
        {(p) => <input {...p} autoComplete="off" value={auth.realm} onChange={(e) => { patch("basicAuth", { realm: e.target.value }); }} />}
      </Field>
      <Problems errors={err("policies.basic_auth.users")} />
      {users.map((u, i) => (
        <UserRow
          key={i}
          user={u}
          i={i}
          err={err}
          onChange={(part) => {
            patch("basicAuth", { users: users.map((x, j) => (j === i ? { ...x, ...part } : x)) });
          }}
          onRemove={() => {
            patch("basicAuth", { users: users.filter((_, j) => j !== i) });
          }}
        />
      ))}
      <Button
        onClick={() => {
          patch("basicAuth", { users: [...users, blankUser()] });
        }}
      >
        Add user
      </Button>
    </Block>
  );
}

function RateLimitBlock({ values, patch, err }: BlockProps) {
  const rl = values.rateLimit;
  return (
    <Block
      title="Rate limit"
      on={rl.on}
      onToggle={(on) => { patch("rateLimit", { on }); }}
      hint={
        rl.on
          ? rl.scope === "fleet"
            ? "Counted for every proxy on this Redis together, per fixed window (each proxy's own bucket applies too, and alone while Redis does not answer). Beyond it: 429 with Retry-After."
            : "A token bucket per client (or header value) and per proxy: N proxies allow up to N× this rate. Beyond it: 429 with Retry-After."
          : undefined
      }
    >
      <div className="grid gap-4 sm:grid-cols-3">
        <Field label="Requests" errors={err("policies.rate_limit.requests")} hint="1–1,000,000">
          {(p) => <input {...p} inputMode="numeric" value={rl.requests} onChange={(e) => { patch("rateLimit", { requests: e.target.value }); }} />}
        </Field>
        <Field label="Per (seconds)" errors={err("policies.rate_limit.per_secs")} hint="1–3,600; empty is 1">
          {(p) => <input {...p} inputMode="numeric" value={rl.perSecs} onChange={(e) => { patch("rateLimit", { perSecs: e.target.value }); }} />}
        </Field>
        <Field label="Burst" errors={err("policies.rate_limit.burst")} hint="At once; empty: as many as the requests">
          {(p) => <input {...p} inputMode="numeric" value={rl.burst} onChange={(e) => { patch("rateLimit", { burst: e.target.value }); }} />}
        </Field>
      </div>
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Count requests by" errors={err("policies.rate_limit.key")}>
          {(p) => (
            <select {...p} value={rl.keyKind} onChange={(e) => { patch("rateLimit", { keyKind: e.target.value as RateKeyKind }); }}>
              <option value="client_ip">Client IP address</option>
              <option value="header">A request header</option>
            </select>
          )}
        </Field>
        {rl.keyKind === "header" && (
          <Field label="Header name" errors={err("policies.rate_limit.key.name")} hint="e.g. x-api-key; requests without it share one bucket">
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={rl.keyHeader} onChange={(e) => { patch("rateLimit", { keyHeader: e.target.value }); }} />}
          </Field>
        )}
        <Field label="Counted" errors={err("policies.rate_limit.scope")}>
          {(p) => (
            <select {...p} value={rl.scope} onChange={(e) => { patch("rateLimit", { scope: e.target.value as RateScope }); }}>
              <option value="proxy">By each proxy</option>
              <option value="fleet">By the whole fleet (through Redis)</option>
            </select>
          )}
        </Field>
      </div>
    </Block>
  );
}

function RetryBlock({ values, patch, err }: BlockProps) {
  const rt = values.retry;
  const toggle = (status: number, on: boolean) => {
    patch("retry", { onStatus: on ? [...rt.onStatus, status] : rt.onStatus.filter((s) => s !== status) });
  };
  return (
    <Block
      title="Retries"
      on={rt.on}
      onToggle={(on) => { patch("retry", { on }); }}
      hint={
        rt.on
          ? "A connection that could not be made is always tried on another upstream. The answers and resets below are retried only for GET, HEAD, OPTIONS, TRACE, PUT and DELETE with a body the proxy still holds — never a POST — within the budget."
          : undefined
      }
    >
      <div className="grid gap-4 sm:grid-cols-3">
        <Field label="Tries in all" errors={err("policies.retry.attempts")} hint="2–5, the first included">
          {(p) => <input {...p} inputMode="numeric" value={rt.attempts} onChange={(e) => { patch("retry", { attempts: e.target.value }); }} />}
        </Field>
        <Field label="Budget (% of requests)" errors={err("policies.retry.budget_percent")} hint="Retries over 10 s stay within this share; 1–100">
          {(p) => <input {...p} inputMode="numeric" value={rt.budgetPercent} onChange={(e) => { patch("retry", { budgetPercent: e.target.value }); }} />}
        </Field>
        <Field label="Always allowed (per second)" errors={err("policies.retry.min_per_sec")} hint="So a quiet route can retry; 0–1,000">
          {(p) => <input {...p} inputMode="numeric" value={rt.minPerSec} onChange={(e) => { patch("retry", { minPerSec: e.target.value }); }} />}
        </Field>
        <Field label="Backoff (ms)" errors={err("policies.retry.backoff_ms")} hint="A random wait up to this × 2^(retry − 1); 0 retries at once">
          {(p) => <input {...p} inputMode="numeric" value={rt.backoffMs} onChange={(e) => { patch("retry", { backoffMs: e.target.value }); }} />}
        </Field>
        <Field label="Longest backoff (ms)" errors={err("policies.retry.max_backoff_ms")} hint="At least the backoff; at most 10,000">
          {(p) => <input {...p} inputMode="numeric" value={rt.maxBackoffMs} onChange={(e) => { patch("retry", { maxBackoffMs: e.target.value }); }} />}
        </Field>
      </div>
      <div className="space-y-1">
        <p className="text-sm font-medium text-slate-700 dark:text-slate-200">Retry these answers</p>
        <div className="flex flex-wrap gap-4">
          {RETRY_STATUSES.map((s) => (
            <Checkbox key={s} label={String(s)} checked={rt.onStatus.includes(s)} onChange={(e) => { toggle(s, e.target.checked); }} />
          ))}
        </div>
        <Problems errors={err("policies.retry.on_status")} />
      </div>
      <Checkbox
        label="Retry a connection that broke before any byte of the answer"
        checked={rt.onReset}
        errors={err("policies.retry.on_reset")}
        onChange={(e) => { patch("retry", { onReset: e.target.checked }); }}
      />
    </Block>
  );
}

function BreakerBlock({ values, patch, err }: BlockProps) {
  const cb = values.breaker;
  return (
    <Block
      title="Circuit breaker"
      on={cb.on}
      onToggle={(on) => { patch("breaker", { on }); }}
      hint={
        cb.on
          ? "Per upstream of this zone: failures (no answer, or a 5xx) open its circuit and it gets no requests; after the open time, probes decide. When every circuit is open: 503 with X-Switchyard-Circuit: open."
          : undefined
      }
    >
      <div className="grid gap-4 sm:grid-cols-3">
        <Field label="Failures in a row" errors={err("policies.circuit_breaker.consecutive_failures")} hint="1–1,000">
          {(p) => <input {...p} inputMode="numeric" value={cb.consecutiveFailures} onChange={(e) => { patch("breaker", { consecutiveFailures: e.target.value }); }} />}
        </Field>
        <Field label="Or a failure share (%)" errors={err("policies.circuit_breaker.error_percent")} hint="1–100; empty: failures in a row only">
          {(p) => <input {...p} inputMode="numeric" value={cb.errorPercent} onChange={(e) => { patch("breaker", { errorPercent: e.target.value }); }} />}
        </Field>
        <Field label="Over (seconds)" errors={err("policies.circuit_breaker.window_secs")} hint="The share's window, 1–300">
          {(p) => <input {...p} inputMode="numeric" value={cb.windowSecs} onChange={(e) => { patch("breaker", { windowSecs: e.target.value }); }} />}
        </Field>
        <Field label="Of at least (requests)" errors={err("policies.circuit_breaker.min_requests")} hint="Before the share counts; 1–100,000">
          {(p) => <input {...p} inputMode="numeric" value={cb.minRequests} onChange={(e) => { patch("breaker", { minRequests: e.target.value }); }} />}
        </Field>
        <Field label="Open for (seconds)" errors={err("policies.circuit_breaker.open_secs")} hint="1–3,600">
          {(p) => <input {...p} inputMode="numeric" value={cb.openSecs} onChange={(e) => { patch("breaker", { openSecs: e.target.value }); }} />}
        </Field>
        <Field label="Probes" errors={err("policies.circuit_breaker.half_open_requests")} hint="Successes that close it again; 1–100">
          {(p) => <input {...p} inputMode="numeric" value={cb.halfOpenRequests} onChange={(e) => { patch("breaker", { halfOpenRequests: e.target.value }); }} />}
        </Field>
      </div>
    </Block>
  );
}

function ErrorPagesBlock({ value, onChange, err }: { value: PolicyFormValues["errorPages"]; onChange: (v: PolicyFormValues["errorPages"]) => void; err: Err }) {
  const unused = ERROR_PAGE_STATUSES.filter((s) => !value.some((p) => p.status === s));
  const setRow = (i: number, part: Partial<PolicyFormValues["errorPages"][number]>) => {
    onChange(value.map((p, j) => (j === i ? { ...p, ...part } : p)));
  };
  return (
    <Block title="Custom error pages" hint="Replace the proxy's own answers for this route; {request_id} in the body is replaced. Up to 64 KiB each.">
      <Problems errors={err("policies.error_pages")} />
      {value.map((page, i) => (
        <div key={i} className="space-y-2 rounded-md bg-slate-50 p-3 dark:bg-slate-800/40">
          <div className="grid items-start gap-2 sm:grid-cols-[1fr_1fr_auto]">
            <Field label={`Error page ${i + 1} status`} errors={err(`policies.error_pages[${i}].status`)}>
              {(p) => (
                <select {...p} value={page.status} onChange={(e) => { setRow(i, { status: e.target.value as ErrorPageStatus }); }}>
                  {ERROR_PAGE_STATUSES.map((s) => (
                    <option key={s} value={s}>
                      {STATUS_LABELS[s]}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label={`Error page ${i + 1} content type`} errors={err(`policies.error_pages[${i}].content_type`)} hint="Empty: HTML">
              {(p) => <input {...p} spellCheck={false} placeholder={DEFAULT_CONTENT_TYPE} value={page.contentType} onChange={(e) => { setRow(i, { contentType: e.target.value }); }} />}
            </Field>
            <Button
              variant="ghost"
              className="sm:mt-6"
              aria-label={`Remove error page ${i + 1}`}
              onClick={() => {
                onChange(value.filter((_, j) => j !== i));
              }}
            >
              Remove
            </Button>
          </div>
          <Field label={`Error page ${i + 1} body`} errors={err(`policies.error_pages[${i}].body`)}>
            {(p) => <textarea {...p} rows={4} spellCheck={false} className={`${p.className} font-mono`} value={page.body} onChange={(e) => { setRow(i, { body: e.target.value }); }} />}
          </Field>
        </div>
      ))}
      <Button
        disabled={unused.length === 0}
        onClick={() => {
          const status = unused[0];
          if (status) onChange([...value, { status, contentType: "", body: "" }]);
        }}
      >
        Add error page
      </Button>
    </Block>
  );
}

/** A list of names (audiences, header names), one input a row, each with its own problems. */
function NameRows({
  rows,
  onChange,
  label,
  addLabel,
  field,
  err,
}: {
  rows: string[];
  onChange: (rows: string[]) => void;
  /** The row's label, numbered from 1 ("Audience 1"). */
  label: string;
  addLabel: string;
  /** The form field of row `i`. */
  field: (i: number) => FormField;
  err: Err;
}) {
  return (
    <div className="space-y-2">
      {rows.map((name, i) => (
        <div key={i} className="grid items-start gap-2 sm:grid-cols-[1fr_auto]">
          <Field label={`${label} ${i + 1}`} errors={err(field(i))}>
            {(p) => (
              <input
                {...p}
                spellCheck={false}
                autoComplete="off"
                value={name}
                onChange={(e) => {
                  onChange(rows.map((n, j) => (j === i ? e.target.value : n)));
                }}
              />
            )}
          </Field>
          <Button
            variant="ghost"
            className="sm:mt-6"
            aria-label={`Delete ${label.toLowerCase()} ${i + 1}`}
            onClick={() => {
              onChange(rows.filter((_, j) => j !== i));
            }}
          >
            Delete
          </Button>
        </div>
      ))}
      <Button
        onClick={() => {
          onChange([...rows, ""]);
        }}
      >
        {addLabel}
      </Button>
    </div>
  );
}

const KEY_LABELS: Record<JwtKeyKind, string> = {
  jwks_url: "A JWK set URL (fetched by the proxies)",
  public_key_pem: "A public key (PEM)",
  secret: "A shared HMAC secret",
};

function JwtSecret({ jwt, patch, err }: { jwt: JwtForm; patch: Patch; err: Err }) {
  const hint = `At least ${MIN_JWT_SECRET_BYTES} bytes. Write-only: the panel never shows it again.`;
  if (!jwt.storedSecret) {
    return (
      <Field label="HMAC secret" errors={err("policies.jwt.secret")} hint={hint}>
        {(p) => <input {...p} type="password" autoComplete="new-password" value={jwt.secret} onChange={(e) => { patch("jwt", { secret: e.target.value }); }} />}
      </Field>
    );
  }
  return (
    <div className="space-y-2">
      <Field label="HMAC secret" errors={jwt.replaceSecret ? undefined : err("policies.jwt.secret")} hint="Stored for the proxies, which the panel never shows.">
        {(p) => (
          <select
            {...p}
            value={jwt.replaceSecret ? "replace" : "keep"}
            onChange={(e) => {
              patch("jwt", { replaceSecret: e.target.value === "replace", secret: "" });
            }}
          >
            <option value="keep">Keep the stored secret</option>
            <option value="replace">Set a new secret</option>
          </select>
        )}
      </Field>
      {jwt.replaceSecret && (
        <Field label="New HMAC secret" errors={err("policies.jwt.secret")} hint={hint}>
          {(p) => <input {...p} type="password" autoComplete="new-password" value={jwt.secret} onChange={(e) => { patch("jwt", { secret: e.target.value }); }} />}
        </Field>
      )}
    </div>
  );
}

function JwtBlock({ values, patch, err }: BlockProps) {
  const jwt = values.jwt;
  const algorithmErrors = err("policies.jwt.algorithms");
  const known: readonly string[] = [...JWT_PUBLIC_ALGORITHMS, ...JWT_HMAC_ALGORITHMS];
  const others = jwt.algorithms.filter((a) => !known.includes(a));
  const algorithmBox = (a: string) => (
    <Checkbox
      key={a}
      label={a}
      checked={jwt.algorithms.includes(a)}
      aria-invalid={algorithmErrors !== undefined || undefined}
      onChange={(e) => {
        patch("jwt", { algorithms: e.target.checked ? [...jwt.algorithms, a] : jwt.algorithms.filter((x) => x !== a) });
      }}
    />
  );
  return (
    <Block
      title="JWT"
      on={jwt.on}
      onToggle={(on) => { patch("jwt", { on }); }}
      hint={jwt.on ? "A request passes with a token signed by the key with an allowed algorithm, not expired (exp is required), and naming the issuer and an audience when set; otherwise 401." : undefined}
    >
      <Problems errors={err("policies.jwt")} />
      <fieldset className="space-y-2">
        <legend className="text-sm font-medium text-slate-700 dark:text-slate-200">Algorithms</legend>
        <div className="flex flex-wrap gap-x-5 gap-y-2">{JWT_PUBLIC_ALGORITHMS.map(algorithmBox)}</div>
        <div className="flex flex-wrap gap-x-5 gap-y-2">{[...JWT_HMAC_ALGORITHMS, ...others].map(algorithmBox)}</div>
        <Hint>RS*, PS*, ES* and EdDSA verify with a public key or a JWK set; HS* with a shared secret. Never none.</Hint>
        <Problems errors={algorithmErrors} />
      </fieldset>
      <Field label="Key source" errors={undefined}>
        {(p) => (
          <select {...p} value={jwt.keyKind} onChange={(e) => { patch("jwt", { keyKind: e.target.value as JwtKeyKind }); }}>
            {(["jwks_url", "public_key_pem", "secret"] as const).map((k) => (
              <option key={k} value={k}>
                {KEY_LABELS[k]}
              </option>
            ))}
          </select>
        )}
      </Field>
      {jwt.keyKind === "jwks_url" && (
        <Field label="JWK set URL" errors={err("policies.jwt.jwks_url")} hint="https://…, or http:// to a loopback address only; refreshed every few minutes and when a token names an unknown key">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={jwt.jwksUrl} onChange={(e) => { patch("jwt", { jwksUrl: e.target.value }); }} />}
        </Field>
      )}
      {jwt.keyKind === "public_key_pem" && (
        <Field label="Public key (PEM)" errors={err("policies.jwt.public_key_pem")} hint="-----BEGIN PUBLIC KEY-----: RSA, EC P-256/P-384 or Ed25519, matching the algorithms">
          {(p) => <textarea {...p} rows={5} spellCheck={false} className={`${p.className} font-mono`} value={jwt.publicKeyPem} onChange={(e) => { patch("jwt", { publicKeyPem: e.target.value }); }} />}
        </Field>
      )}
      {jwt.keyKind === "secret" && <JwtSecret jwt={jwt} patch={patch} err={err} />}
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Issuer" errors={err("policies.jwt.issuer")} hint="The iss a token must carry; empty: any">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={jwt.issuer} onChange={(e) => { patch("jwt", { issuer: e.target.value }); }} />}
        </Field>
        <Field label="Leeway (seconds)" errors={err("policies.jwt.leeway_secs")} hint={`Clock skew allowed on exp and nbf, 0–600; empty is ${DEFAULT_JWT_LEEWAY_SECS}`}>
          {(p) => <input {...p} inputMode="numeric" value={jwt.leewaySecs} onChange={(e) => { patch("jwt", { leewaySecs: e.target.value }); }} />}
        </Field>
      </div>
      <Problems errors={err("policies.jwt.audiences")} />
      <NameRows
        rows={jwt.audiences}
        onChange={(audiences) => { patch("jwt", { audiences }); }}
        label="Audience"
        addLabel="+ Audience"
        field={(i) => `policies.jwt.audiences[${i}]`}
        err={err}
      />
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Token from" errors={undefined}>
          {(p) => (
            <select {...p} value={jwt.tokenFrom} onChange={(e) => { patch("jwt", { tokenFrom: e.target.value as JwtTokenFrom }); }}>
              <option value="authorization">Authorization: Bearer …</option>
              <option value="header">Another request header (the bare token)</option>
              <option value="cookie">A cookie</option>
            </select>
          )}
        </Field>
        {jwt.tokenFrom === "header" && (
          <Field label="Token header" errors={err("policies.jwt.header")}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={jwt.tokenHeader} onChange={(e) => { patch("jwt", { tokenHeader: e.target.value }); }} />}
          </Field>
        )}
        {jwt.tokenFrom === "cookie" && (
          <Field label="Token cookie" errors={err("policies.jwt.cookie")}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={jwt.tokenCookie} onChange={(e) => { patch("jwt", { tokenCookie: e.target.value }); }} />}
          </Field>
        )}
      </div>
      <Hint>Claims sent upstream as request headers (the client&apos;s own fields of those names are always removed).</Hint>
      <Problems errors={err("policies.jwt.claims_to_headers")} />
      {jwt.claims.map((row, i) => (
        <div key={i} className="grid items-start gap-2 sm:grid-cols-[1fr_1fr_auto]">
          <Field label={`Claim ${i + 1}`} errors={err(`policies.jwt.claims_to_headers[${i}].claim`)}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.claim} onChange={(e) => { patch("jwt", { claims: jwt.claims.map((r, j) => (j === i ? { ...r, claim: e.target.value } : r)) }); }} />}
          </Field>
          <Field label={`Claim ${i + 1} header`} errors={err(`policies.jwt.claims_to_headers[${i}].header`)}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.header} onChange={(e) => { patch("jwt", { claims: jwt.claims.map((r, j) => (j === i ? { ...r, header: e.target.value } : r)) }); }} />}
          </Field>
          <Button variant="ghost" className="sm:mt-6" aria-label={`Delete claim ${i + 1}`} onClick={() => { patch("jwt", { claims: jwt.claims.filter((_, j) => j !== i) }); }}>
            Delete
          </Button>
        </div>
      ))}
      <Button onClick={() => { patch("jwt", { claims: [...jwt.claims, { claim: "", header: "" }] }); }}>+ Claim to header</Button>
      <Field label="JWT realm" errors={err("policies.jwt.realm")} hint={`In the WWW-Authenticate: Bearer challenge; empty is “${DEFAULT_JWT_REALM}”`}>
        {(p) => <input {...p} autoComplete="off" value={jwt.realm} onChange={(e) => { patch("jwt", { realm: e.target.value }); }} />}
      </Field>
    </Block>
  );
}

function ForwardAuthBlock({ values, patch, err }: BlockProps) {
  const fa = values.forwardAuth;
  return (
    <Block
      title="Forward auth"
      on={fa.on}
      onToggle={(on) => { patch("forwardAuth", { on }); }}
      hint={fa.on ? "Before forwarding, the proxy asks the service (GET, with X-Forwarded-Method/-Proto/-Host/-Uri/-For): a 2xx lets the request through, another status below 500 is the client's answer, silence or a 5xx is a 503." : undefined}
    >
      <div className="grid gap-4 sm:grid-cols-[1fr_12rem]">
        <Field label="Authorisation service URL" errors={err("policies.forward_auth.url")} hint="http:// or https://, e.g. http://auth.internal/check">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={fa.url} onChange={(e) => { patch("forwardAuth", { url: e.target.value }); }} />}
        </Field>
        <Field label="Timeout (ms)" errors={err("policies.forward_auth.timeout_ms")} hint={`1–60,000; empty is ${DEFAULT_FORWARD_AUTH_TIMEOUT_MS.toLocaleString("en")}`}>
          {(p) => <input {...p} inputMode="numeric" value={fa.timeoutMs} onChange={(e) => { patch("forwardAuth", { timeoutMs: e.target.value }); }} />}
        </Field>
      </div>
      <Hint>Client headers sent to the service (e.g. authorization, cookie).</Hint>
      <Problems errors={err("policies.forward_auth.request_headers")} />
      <NameRows
        rows={fa.requestHeaders}
        onChange={(requestHeaders) => { patch("forwardAuth", { requestHeaders }); }}
        label="Header to send"
        addLabel="+ Header to send"
        field={(i) => `policies.forward_auth.request_headers[${i}]`}
        err={err}
      />
      <Hint>Headers of the service&apos;s 2xx answer copied onto the request sent upstream (e.g. x-user).</Hint>
      <Problems errors={err("policies.forward_auth.response_headers")} />
      <NameRows
        rows={fa.responseHeaders}
        onChange={(responseHeaders) => { patch("forwardAuth", { responseHeaders }); }}
        label="Header to copy"
        addLabel="+ Header to copy"
        field={(i) => `policies.forward_auth.response_headers[${i}]`}
        err={err}
      />
    </Block>
  );
}

function HealthCheckBlock({ values, patch, err }: BlockProps) {
  const hc = values.healthCheck;
  const number = (label: string, key: "intervalMs" | "timeoutMs" | "healthyThreshold" | "unhealthyThreshold", field: string, hint: string) => (
    <Field label={label} errors={err(`policies.health_check.${field}`)} hint={hint}>
      {(p) => <input {...p} inputMode="numeric" value={hc[key]} onChange={(e) => { patch("healthCheck", { [key]: e.target.value }); }} />}
    </Field>
  );
  return (
    <Block
      title="Health check"
      on={hc.on}
      onToggle={(on) => { patch("healthCheck", { on }); }}
      hint={
        hc.on
          ? "Each proxy probes every upstream of this route (its split groups' too) with GET over HTTP or HTTPS, and takes one out of the rotation after enough failures in a row — instead of the TCP connect check. The proxies' admin API (/upstreams) shows what is down."
          : undefined
      }
    >
      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Health check path" errors={err("policies.health_check.path")} hint="An absolute path, with a query if needed, e.g. /healthz">
          {(p) => <input {...p} spellCheck={false} autoComplete="off" value={hc.path} onChange={(e) => { patch("healthCheck", { path: e.target.value }); }} />}
        </Field>
        <Field label="Expected status" errors={err("policies.health_check.expected_status")} hint={`Codes and ranges, e.g. 200-299,302; empty is ${DEFAULT_EXPECTED_STATUS}`}>
          {(p) => <input {...p} spellCheck={false} autoComplete="off" placeholder={DEFAULT_EXPECTED_STATUS} value={hc.expectedStatus} onChange={(e) => { patch("healthCheck", { expectedStatus: e.target.value }); }} />}
        </Field>
        {number("Interval (ms)", "intervalMs", "interval_ms", `Between two probes, 1,000–300,000; empty is ${DEFAULT_CHECK_INTERVAL_MS.toLocaleString("en")}`)}
        {number("Probe timeout (ms)", "timeoutMs", "timeout_ms", `Shorter than the interval; empty is ${DEFAULT_CHECK_TIMEOUT_MS.toLocaleString("en")}. A slower answer is a failure`)}
        {number("Failures to take out", "unhealthyThreshold", "unhealthy_threshold", `In a row, 1–10; empty is ${DEFAULT_UNHEALTHY_THRESHOLD}`)}
        {number("Passes to bring back", "healthyThreshold", "healthy_threshold", `In a row, 1–10; empty is ${DEFAULT_HEALTHY_THRESHOLD}`)}
      </div>
      <Field label="Probe Host header" errors={err("policies.health_check.host")} hint="Empty: the upstream's own host and port, as requests without preserve host send">
        {(p) => <input {...p} spellCheck={false} autoComplete="off" value={hc.host} onChange={(e) => { patch("healthCheck", { host: e.target.value }); }} />}
      </Field>
    </Block>
  );
}
