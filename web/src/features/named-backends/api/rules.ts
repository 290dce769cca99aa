// Who may change a named backend (the API decides; the page only avoids offering what
// it would refuse) and how a template change reads.
import { rightsReason } from "@/lib/can";
import type { BackendDiff, Me, NamedBackendView } from "./types";

/** Owner, an edit grant, or an admin; presets only admins. */
export function canEdit(backend: NamedBackendView, me: Me | null | undefined): boolean {
  return rightsReason(me, { kind: "named-backend", backend }) === null;
}

/** "Preset", "Yours", "Granted to you", "Another user's" (admins see every backend). */
export function ownership(backend: NamedBackendView, me: Me | null | undefined): string {
  if (backend.preset) return "Preset";
  if (me && backend.owner_user_id === me.user_id) return "Yours";
  if (me?.grants.some((g) => g.named_backend_id === backend.id)) return "Granted to you";
  return "Another user's";
}

export interface TemplateChangeSummary {
  renamed: { from: string; to: string } | null;
  template: { from: string; to: string } | null;
  /** Zones whose rendered URL changes. */
  changed: number;
  /** Zones re-rendered to the same URL (e.g. only the name changed). */
  unchanged: number;
}

export function summarizeChange(diff: BackendDiff): TemplateChangeSummary {
  const b = diff.before;
  const a = diff.after;
  const changed = diff.zones.filter((z) => z.before !== z.after).length;
  return {
    renamed: b && a && b.name !== a.name ? { from: b.name, to: a.name } : null,
    template: b && a && b.url_template !== a.url_template ? { from: b.url_template, to: a.url_template } : null,
    changed,
    unchanged: diff.zones.length - changed,
  };
}
