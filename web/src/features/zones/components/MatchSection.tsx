import { useId, useState, type ReactNode } from "react";
import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { Field } from "@/components/ui/Field";
import type { FormErrors, FormField } from "../api/form";
import {
  blankHeaderCondition,
  blankQueryCondition,
  COMMON_METHODS,
  formMatchBadges,
  type HeaderKind,
  type MatchFormValues,
  type MatchHeaderRow,
  type MatchQueryRow,
  type PathKind,
  type QueryKind,
} from "../api/match";

type Err = (f: FormField) => string[] | undefined;

interface Props {
  values: MatchFormValues;
  onChange: (values: MatchFormValues) => void;
  errors: FormErrors;
  /** Writes are off: every control but the section's toggle is disabled. */
  disabled: boolean;
  /** Expanded at first (the zone has conditions). */
  defaultOpen: boolean;
}

const hasMatchErrors = (errors: FormErrors) => Object.keys(errors.fields).some((f) => f.startsWith("match"));

/** A condition as a badge (the zones list and the section's heading). */
export function MatchBadge({ label }: { label: string }) {
  return <span className="rounded bg-indigo-50 px-1.5 py-0.5 font-mono text-xs text-indigo-900 ring-1 ring-indigo-200 ring-inset dark:bg-indigo-950 dark:text-indigo-100 dark:ring-indigo-800">{label}</span>;
}

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

function Group({ title, hint, children }: { title: string; hint?: ReactNode; children: ReactNode }) {
  return (
    <fieldset className="space-y-3 rounded-md border border-slate-200 px-4 pt-2 pb-4 dark:border-slate-700">
      <legend className="px-1 text-sm font-semibold">{title}</legend>
      {hint && <p className="text-xs text-slate-500 dark:text-slate-400">{hint}</p>}
      {children}
    </fieldset>
  );
}

/**
 * Match conditions: what a request must also meet besides hostname and path prefix.
 * Collapsed with a summary of the conditions; open when the zone has some, or the API
 * finds a problem with one.
 */
export function MatchSection({ values, onChange, errors, disabled, defaultOpen }: Props) {
  const [open, setOpen] = useState(defaultOpen);
  const [seenErrors, setSeenErrors] = useState(errors);
  if (errors !== seenErrors) {
    setSeenErrors(errors);
    if (hasMatchErrors(errors)) setOpen(true);
  }
  const panelId = useId();
  const badges = formMatchBadges(values);
  const err: Err = (f) => errors.fields[f];
  const set = <K extends keyof MatchFormValues>(key: K, value: MatchFormValues[K]) => {
    onChange({ ...values, [key]: value });
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
          <span>Match conditions</span>
          <span className="flex flex-wrap gap-1 font-normal">
            {badges.length === 0 ? <span className="text-slate-500 dark:text-slate-400">none</span> : badges.map((b) => <MatchBadge key={b} label={b} />)}
          </span>
        </button>
      </h2>
      {open && (
        <div id={panelId} className="space-y-4 border-t border-slate-200 p-4 dark:border-slate-700">
          <p className="text-xs text-slate-500 dark:text-slate-400">
            Every condition must hold. Two zones may share a hostname and path prefix when their conditions differ; the more specific one wins (an exact path, then the longer prefix, a
            pattern, methods, more headers, more query parameters).
          </p>
          <Problems errors={err("match")} />
          <fieldset disabled={disabled} className="space-y-4">
            <PathGroup values={values} onChange={onChange} err={err} />
            <MethodsGroup
              values={values}
              err={err}
              onToggle={(method, on) => {
                set("methods", on ? [...values.methods, method] : values.methods.filter((m) => m !== method));
              }}
              onOther={(text) => {
                set("otherMethods", text);
              }}
            />
            <HeadersGroup
              rows={values.headers}
              err={err}
              onChange={(rows) => {
                set("headers", rows);
              }}
            />
            <QueryGroup
              rows={values.query}
              err={err}
              onChange={(rows) => {
                set("query", rows);
              }}
            />
          </fieldset>
        </div>
      )}
    </section>
  );
}

function PathGroup({ values, onChange, err }: { values: MatchFormValues; onChange: (v: MatchFormValues) => void; err: Err }) {
  return (
    <Group title="Path" hint="Beyond the prefix: the whole path equals a value, or matches a pattern (the regex crate; not anchored unless it says ^ or $).">
      <div className="grid items-start gap-2 sm:grid-cols-[12rem_1fr]">
        <Field label="Path condition">
          {(p) => (
            <select
              {...p}
              value={values.pathKind}
              onChange={(e) => {
                onChange({ ...values, pathKind: e.target.value as PathKind });
              }}
            >
              <option value="none">None</option>
              <option value="exact">Exactly</option>
              <option value="regex">Matches a pattern</option>
            </select>
          )}
        </Field>
        {values.pathKind !== "none" && (
          <Field label={values.pathKind === "exact" ? "Exact path" : "Path pattern"} errors={err("match.path")} hint={values.pathKind === "exact" ? "Under the path prefix, e.g. /api/health" : "e.g. ^/v[0-9]+/"}>
            {(p) => (
              <input
                {...p}
                spellCheck={false}
                autoComplete="off"
                className={cn(p.className, "font-mono")}
                value={values.path}
                onChange={(e) => {
                  onChange({ ...values, path: e.target.value });
                }}
              />
            )}
          </Field>
        )}
      </div>
    </Group>
  );
}

function MethodsGroup({ values, err, onToggle, onOther }: { values: MatchFormValues; err: Err; onToggle: (method: string, on: boolean) => void; onOther: (text: string) => void }) {
  const id = useId();
  return (
    <Group title="Methods" hint="None chosen: any method.">
      <div role="group" aria-labelledby={`${id}-label`} className="flex flex-wrap items-center gap-2">
        <span id={`${id}-label`} className="sr-only">
          Request methods
        </span>
        {COMMON_METHODS.map((m) => {
          const on = values.methods.includes(m);
          return (
            <button
              key={m}
              type="button"
              aria-pressed={on}
              onClick={() => {
                onToggle(m, !on);
              }}
              className={cn(
                "rounded-full px-3 py-1 font-mono text-xs font-semibold ring-1 ring-inset focus-visible:outline-2 focus-visible:outline-teal-600 disabled:cursor-not-allowed disabled:opacity-60",
                on
                  ? "bg-indigo-700 text-white ring-indigo-700 dark:bg-indigo-500 dark:text-slate-950 dark:ring-indigo-500"
                  : "bg-white text-slate-700 ring-slate-300 hover:bg-slate-50 dark:bg-slate-900 dark:text-slate-200 dark:ring-slate-600 dark:hover:bg-slate-800",
              )}
            >
              {m}
            </button>
          );
        })}
      </div>
      <Field label="Other methods" errors={err("match.methods")} hint="Separated by spaces or commas, e.g. PROPFIND MKCOL">
        {(p) => (
          <input
            {...p}
            spellCheck={false}
            autoComplete="off"
            className={cn(p.className, "font-mono")}
            value={values.otherMethods}
            onChange={(e) => {
              onOther(e.target.value);
            }}
          />
        )}
      </Field>
    </Group>
  );
}

const HEADER_KINDS: Record<HeaderKind, string> = { present: "is present", equals: "equals", regex: "matches" };
const QUERY_KINDS: Record<QueryKind, string> = { present: "is present", equals: "equals" };

function HeadersGroup({ rows, err, onChange }: { rows: MatchHeaderRow[]; err: Err; onChange: (rows: MatchHeaderRow[]) => void }) {
  const setRow = (i: number, part: Partial<MatchHeaderRow>) => {
    onChange(rows.map((r, j) => (j === i ? { ...r, ...part } : r)));
  };
  return (
    <Group title="Headers" hint="Names in any case; values compared exactly, after trimming spaces.">
      <Problems errors={err("match.headers")} />
      {rows.map((row, i) => (
        <div key={i} className="grid items-start gap-2 sm:grid-cols-[1fr_9rem_1fr_auto]">
          <Field label={`Header condition ${i + 1} name`} errors={err(`match.headers[${i}].name`)}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.name} onChange={(e) => { setRow(i, { name: e.target.value }); }} />}
          </Field>
          <Field label={`Header condition ${i + 1} test`}>
            {(p) => (
              <select {...p} value={row.kind} onChange={(e) => { setRow(i, { kind: e.target.value as HeaderKind }); }}>
                {(Object.keys(HEADER_KINDS) as HeaderKind[]).map((k) => (
                  <option key={k} value={k}>
                    {HEADER_KINDS[k]}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {row.kind !== "present" ? (
            <Field label={`Header condition ${i + 1} ${row.kind === "regex" ? "pattern" : "value"}`} errors={err(`match.headers[${i}].value`)}>
              {(p) => <input {...p} spellCheck={false} autoComplete="off" className={cn(p.className, row.kind === "regex" && "font-mono")} value={row.value} onChange={(e) => { setRow(i, { value: e.target.value }); }} />}
            </Field>
          ) : (
            <div />
          )}
          <Button
            variant="ghost"
            className="sm:mt-6"
            aria-label={`Remove header condition ${i + 1}`}
            onClick={() => {
              onChange(rows.filter((_, j) => j !== i));
            }}
          >
            Remove
          </Button>
        </div>
      ))}
      <Button
        onClick={() => {
          onChange([...rows, blankHeaderCondition()]);
        }}
      >
        Add header condition
      </Button>
    </Group>
  );
}

function QueryGroup({ rows, err, onChange }: { rows: MatchQueryRow[]; err: Err; onChange: (rows: MatchQueryRow[]) => void }) {
  const setRow = (i: number, part: Partial<MatchQueryRow>) => {
    onChange(rows.map((r, j) => (j === i ? { ...r, ...part } : r)));
  };
  return (
    <Group title="Query parameters" hint="Decoded first (%6Fn and on are the same; + is a space).">
      <Problems errors={err("match.query")} />
      {rows.map((row, i) => (
        <div key={i} className="grid items-start gap-2 sm:grid-cols-[1fr_9rem_1fr_auto]">
          <Field label={`Query condition ${i + 1} name`} errors={err(`match.query[${i}].name`)}>
            {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.name} onChange={(e) => { setRow(i, { name: e.target.value }); }} />}
          </Field>
          <Field label={`Query condition ${i + 1} test`}>
            {(p) => (
              <select {...p} value={row.kind} onChange={(e) => { setRow(i, { kind: e.target.value as QueryKind }); }}>
                {(Object.keys(QUERY_KINDS) as QueryKind[]).map((k) => (
                  <option key={k} value={k}>
                    {QUERY_KINDS[k]}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {row.kind === "equals" ? (
            <Field label={`Query condition ${i + 1} value`} errors={err(`match.query[${i}].value`)}>
              {(p) => <input {...p} spellCheck={false} autoComplete="off" value={row.value} onChange={(e) => { setRow(i, { value: e.target.value }); }} />}
            </Field>
          ) : (
            <div />
          )}
          <Button
            variant="ghost"
            className="sm:mt-6"
            aria-label={`Remove query condition ${i + 1}`}
            onClick={() => {
              onChange(rows.filter((_, j) => j !== i));
            }}
          >
            Remove
          </Button>
        </div>
      ))}
      <Button
        onClick={() => {
          onChange([...rows, blankQueryCondition()]);
        }}
      >
        Add query condition
      </Button>
    </Group>
  );
}
