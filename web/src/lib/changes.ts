// What a dry run says a write would do beyond zones: the `changes` of the API's diff, one
// entry per row created, changed or deleted (as its audit record summarises it).
import type { components } from "./api/schema.gen";

export type Diff = components["schemas"]["Diff"];
export type Effect = components["schemas"]["Effect"];

/** The entries of `diff` with this audit action (`grant.delete`, `certificate.delete`…). */
export function changesOf(diff: Diff, action: string): Effect[] {
  return (diff.changes ?? []).filter((c) => c.action === action);
}

/** A field of an entry's `before` (or `after`) summary, when it is there. */
export function summaryField(effect: Effect | undefined, side: "before" | "after", field: string): unknown {
  const summary = effect?.[side];
  if (typeof summary !== "object" || summary === null || Array.isArray(summary)) return undefined;
  return (summary as Record<string, unknown>)[field];
}
