// The API's 422 `details` ([{field, problem}]) placed next to a form's fields: a problem
// naming a field the form shows (or something inside it: `secret.api_token`,
// `allow[2]`) goes under that field; the rest is listed above the form, field named.
import type { FieldProblem } from "./api/errors";

export interface FieldErrors {
  /** Problems by the form field they belong next to. */
  fields: Partial<Record<string, string[]>>;
  /** Problems that name no field the form shows. */
  other: string[];
}

export const NO_FIELD_ERRORS: FieldErrors = { fields: {}, other: [] };

/**
 * `shown` lists the form's fields, most specific first where they nest
 * (`secret.api_token` before `secret`): a detail goes to the first one that equals its
 * field or contains it (`field.`, `field[`).
 */
export function fieldErrors(details: FieldProblem[], shown: readonly string[]): FieldErrors {
  const out: FieldErrors = { fields: {}, other: [] };
  for (const { field, problem } of details) {
    const target = shown.find((f) => field === f || field.startsWith(`${f}.`) || field.startsWith(`${f}[`));
    if (target === undefined) out.other.push(field ? `${field}: ${problem}` : problem);
    else (out.fields[target] ??= []).push(target === field ? problem : `${field.slice(target.length).replace(/^\./, "")}: ${problem}`);
  }
  return out;
}
