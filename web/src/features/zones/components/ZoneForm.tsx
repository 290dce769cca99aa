import { useState, type ReactNode, type SubmitEvent } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Checkbox, Field } from "@/components/ui/Field";
import type { BackendKind, FormErrors, FormField, ZoneFormValues } from "../api/form";
import { formMatchBadges } from "../api/match";
import { formPolicyBadges } from "../api/policies";
import { MatchSection } from "./MatchSection";
import { PoliciesSection } from "./PoliciesSection";

interface Props {
  values: ZoneFormValues;
  onChange: (values: ZoneFormValues) => void;
  errors: FormErrors;
  /** Writes are off (PostgreSQL down, API gone): every control is disabled. */
  disabled: boolean;
  onSubmit: () => void;
  busy: boolean;
  submitLabel: string;
  /** Next to the submit button (e.g. why it is disabled, a delete button). */
  footer?: ReactNode;
  /** Right above the submit button: why the last save was refused as a whole (a 409). */
  refusal?: ReactNode;
}

/** The zone's fields; the API's problems appear next to the field they name. */
export function ZoneForm({ values, onChange, errors, disabled, onSubmit, busy, submitLabel, footer, refusal }: Props) {
  // Policies start expanded only when the zone has some.
  const [policiesOpen] = useState(() => formPolicyBadges(values.policies).length > 0);
  // So do the match conditions.
  const [matchOpen] = useState(() => formMatchBadges(values.match).length > 0);
  const set = <K extends keyof ZoneFormValues>(key: K, value: ZoneFormValues[K]) => {
    onChange({ ...values, [key]: value });
  };
  const err = (f: FormField) => errors.fields[f];
  const submit = (e: SubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    onSubmit();
  };
  return (
    <form onSubmit={submit} noValidate aria-label="Zone" className="max-w-3xl space-y-5">
      {errors.other.length > 0 && (
        <Banner tone="error" title="The API refused this zone">
          <ul className="list-disc pl-5">
            {errors.other.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </Banner>
      )}
      <fieldset disabled={disabled} className="space-y-5">
        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Hostname" errors={err("hostname")} hint="An exact name, or a pattern: *.example.com, **.example.com">
            {(p) => <input {...p} required autoComplete="off" spellCheck={false} value={values.hostname} onChange={(e) => { set("hostname", e.target.value); }} />}
          </Field>
          <Field label="Path prefix" errors={err("path_prefix")} hint="Empty for the whole host, e.g. /api">
            {(p) => <input {...p} autoComplete="off" spellCheck={false} value={values.path_prefix} onChange={(e) => { set("path_prefix", e.target.value); }} />}
          </Field>
        </div>
      </fieldset>
      {/* Outside the fieldsets: a read-only user can still expand it to read the conditions. */}
      <MatchSection
        values={values.match}
        onChange={(match) => {
          set("match", match);
        }}
        errors={errors}
        disabled={disabled}
        defaultOpen={matchOpen}
      />
      <fieldset disabled={disabled} className="space-y-5">
        <fieldset className="space-y-3 rounded-md border border-slate-200 p-4 dark:border-slate-700">
          <legend className="px-1 text-sm font-semibold">Backend</legend>
          <Field label="Kind" errors={err("backend")}>
            {(p) => (
              <select {...p} value={values.backendKind} onChange={(e) => { set("backendKind", e.target.value as BackendKind); }}>
                <option value="upstreams">Upstream URLs</option>
                <option value="named">A named backend</option>
                <option value="none">None yet (answers 503)</option>
              </select>
            )}
          </Field>
          {values.backendKind === "upstreams" && (
            <div className="space-y-3">
              {err("backend.upstreams") && (
                <p role="alert" className="text-sm text-red-700 dark:text-red-400">
                  {err("backend.upstreams")?.join(" ")}
                </p>
              )}
              {values.upstreams.map((u, i) => (
                <div key={i} className="grid items-start gap-2 sm:grid-cols-[1fr_7rem_auto]">
                  <Field label={`Upstream ${i + 1} URL`} errors={err(`backend.upstreams[${i}].url`)}>
                    {(p) => (
                      <input
                        {...p}
                        type="url"
                        placeholder="http://10.0.0.5:8080"
                        spellCheck={false}
                        value={u.url}
                        onChange={(e) => {
                          set("upstreams", values.upstreams.map((x, j) => (j === i ? { ...x, url: e.target.value } : x)));
                        }}
                      />
                    )}
                  </Field>
                  <Field label="Weight" errors={err(`backend.upstreams[${i}].weight`)}>
                    {(p) => (
                      <input
                        {...p}
                        inputMode="numeric"
                        value={u.weight}
                        onChange={(e) => {
                          set("upstreams", values.upstreams.map((x, j) => (j === i ? { ...x, weight: e.target.value } : x)));
                        }}
                      />
                    )}
                  </Field>
                  <Button
                    variant="ghost"
                    className="sm:mt-6"
                    disabled={values.upstreams.length === 1}
                    aria-label={`Remove upstream ${i + 1}`}
                    onClick={() => {
                      set("upstreams", values.upstreams.filter((_, j) => j !== i));
                    }}
                  >
                    Remove
                  </Button>
                </div>
              ))}
              <Button
                onClick={() => {
                  set("upstreams", [...values.upstreams, { url: "", weight: "1" }]);
                }}
              >
                Add upstream
              </Button>
            </div>
          )}
          {values.backendKind === "named" && (
            <div className="grid gap-4 sm:grid-cols-2">
              <Field label="Named backend" errors={err("backend.name")} hint="Its name, e.g. svc">
                {(p) => <input {...p} spellCheck={false} value={values.namedName} onChange={(e) => { set("namedName", e.target.value); }} />}
              </Field>
              <Field label="Parameters" errors={err("backend.params")} hint="One name=value per line, e.g. port=8080">
                {(p) => <textarea {...p} rows={3} spellCheck={false} value={values.namedParams} onChange={(e) => { set("namedParams", e.target.value); }} />}
              </Field>
            </div>
          )}
        </fieldset>

        <div className="flex flex-wrap gap-6">
          <Checkbox label="Force HTTPS (redirect plain HTTP)" checked={values.force_https} onChange={(e) => { set("force_https", e.target.checked); }} />
          <Checkbox label="Preserve the client's Host header" checked={values.preserve_host} onChange={(e) => { set("preserve_host", e.target.checked); }} />
        </div>

        <Field label="Allowed clients" errors={err("allow")} hint="One CIDR or address per line; empty allows everyone">
          {(p) => <textarea {...p} rows={3} spellCheck={false} value={values.allow} onChange={(e) => { set("allow", e.target.value); }} />}
        </Field>

        <div className="grid gap-4 sm:grid-cols-2">
          <Field label="Connect timeout (ms)" errors={err("timeouts.connect_ms")} hint="Empty: the proxy's default">
            {(p) => <input {...p} inputMode="numeric" value={values.connect_ms} onChange={(e) => { set("connect_ms", e.target.value); }} />}
          </Field>
          <Field label="Read timeout (ms)" errors={err("timeouts.read_ms")} hint="Empty: the proxy's default">
            {(p) => <input {...p} inputMode="numeric" value={values.read_ms} onChange={(e) => { set("read_ms", e.target.value); }} />}
          </Field>
          <Field label="Client idle timeout (ms)" errors={err("timeouts.idle_ms")} hint="The client's longest pause while sending its body or reading the answer; empty: 60 s">
            {(p) => <input {...p} inputMode="numeric" value={values.idle_ms} onChange={(e) => { set("idle_ms", e.target.value); }} />}
          </Field>
          <Field label="Total timeout (ms)" errors={err("timeouts.total_ms")} hint="The whole exchange, retries included: 504 before the answer starts, cut after; empty: none">
            {(p) => <input {...p} inputMode="numeric" value={values.total_ms} onChange={(e) => { set("total_ms", e.target.value); }} />}
          </Field>
        </div>
      </fieldset>
      {/* Outside the fieldset: a read-only user can still expand it to read the policies. */}
      <PoliciesSection
        values={values.policies}
        onChange={(policies) => {
          set("policies", policies);
        }}
        errors={errors}
        disabled={disabled}
        hasPathPrefix={values.path_prefix.trim() !== ""}
        defaultOpen={policiesOpen}
      />
      {refusal}
      <div className="flex flex-wrap items-center gap-3">
        <Button type="submit" variant="primary" disabled={disabled} busy={busy}>
          {submitLabel}
        </Button>
        {footer}
      </div>
    </form>
  );
}
