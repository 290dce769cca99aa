// The configuration's history as a person reads it: what a revision did ("Zone changed",
// "Zone rolled back to revision 3"), what it did to each record, and a one-line list of
// the records a revision touched. Shared by the zone page's History section and the
// admins' History page (GET /api/v1/revisions, /revisions/{number}, /zones/{id}/revisions).
import { ApiError, errorMessage } from "./api/errors";
import type { components } from "./api/schema.gen";

export type RevisionHead = components["schemas"]["RevisionHead"];
export type RecordSummary = components["schemas"]["RecordSummary"];
export type RecordKind = components["schemas"]["Kind"];
export type RecordOp = components["schemas"]["Op"];

const ACTIONS: Record<string, string> = {
  "zone.create": "Zone created",
  "zone.update": "Zone changed",
  "zone.delete": "Zone deleted",
  "zone.bulk": "Bulk zone change",
  import: "Import",
  "named_backend.create": "Named backend created",
  "named_backend.update": "Named backend changed",
  "named_backend.delete": "Named backend deleted",
  "domain.create": "Domain created",
};

/** What a revision did, in words; an action this panel does not know shows as the API names it. */
export function actionLabel(head: Pick<RevisionHead, "action" | "restores">): string {
  const to = head.restores == null ? "" : ` to revision ${head.restores}`;
  switch (head.action) {
    case "zone.rollback":
      return `Zone rolled back${to}`;
    case "rollback":
      return `Configuration restored${to}`;
    default:
      return ACTIONS[head.action] ?? head.action;
  }
}

const KINDS: Record<RecordKind, string> = { zone: "zone", named_backend: "named backend", domain: "domain" };
const OPS: Record<RecordOp, string> = { create: "created", update: "changed", delete: "deleted", rerender: "re-rendered" };

export function kindLabel(kind: RecordKind): string {
  return KINDS[kind];
}

/** What a revision did to one record: "created", "changed", "deleted", "re-rendered". */
export function opLabel(op: RecordOp): string {
  return OPS[op];
}

/** How many records a summary line names before "and N more". */
export const SUMMARY_NAMED = 3;

/**
 * The records of a revision in one line: `www.shop.test (zone created), api (named backend
 * changed) and 4 more`. `total` counts every record the caller may read (the list holds
 * the first few).
 */
export function recordsSummary(records: RecordSummary[], total: number): string {
  if (total === 0 || records.length === 0) return "nothing you may read";
  const named = records.slice(0, SUMMARY_NAMED).map((r) => `${r.key} (${kindLabel(r.kind)} ${opLabel(r.op)})`);
  const more = total - named.length;
  if (more <= 0) {
    const last = named.pop() ?? "";
    return named.length === 0 ? last : `${named.join(", ")} and ${last}`;
  }
  return `${named.join(", ")} and ${more.toLocaleString()} more`;
}

/** "Revision 12: Zone changed by root" — what a screen reader hears for a revision. */
export function revisionName(head: Pick<RevisionHead, "number" | "action" | "restores" | "actor">): string {
  return `Revision ${head.number}: ${actionLabel(head)} by ${head.actor}`;
}

/** When a revision was made, in the browser's locale and time zone (the ISO text if unreadable). */
export function revisionTime(at: string): string {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? at : d.toLocaleString();
}

/**
 * Why the API refused a rollback (its dry run or the real one), in words: its message (a
 * 403's "you may read this zone but not change it…", a 409's conflict) and each problem
 * it names (`revision: there is no revision 7; revisions 1–6 are kept`).
 */
export function rollbackRefusal(error: unknown): { message: string; problems: string[] } {
  const message = errorMessage(error);
  if (!(error instanceof ApiError)) return { message, problems: [] };
  const problems = error.details.map((d) => (d.field ? `${d.field}: ${d.problem}` : d.problem)).filter((p) => p !== message);
  return { message, problems };
}
