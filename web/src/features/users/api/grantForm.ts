// The grant form ↔ the API's NewGrant: one resource (a domain or a named backend, never
// both) and a level; the API's problems (`domain_id`, `named_backend_id`, `level`) land
// on the form's fields.
import type { FieldProblem } from "@/lib/api/errors";
import { fieldErrors, type FieldErrors } from "@/lib/fieldErrors";
import type { GrantView, NewGrant } from "./types";

export type ResourceKind = "domain" | "named_backend";
export type Level = "read" | "edit";

export interface GrantFormValues {
  kind: ResourceKind;
  resourceId: string;
  level: Level;
}

export const emptyGrantForm: GrantFormValues = { kind: "domain", resourceId: "", level: "read" };

export function grantBody(userId: string, form: GrantFormValues): { ok: true; body: NewGrant } | { ok: false; problems: FieldProblem[] } {
  const field = form.kind === "domain" ? "domain_id" : "named_backend_id";
  if (form.resourceId.trim() === "") return { ok: false, problems: [{ field: "resource", problem: form.kind === "domain" ? "choose a domain" : "choose a named backend" }] };
  return { ok: true, body: { user_id: userId, [field]: form.resourceId, level: form.level } };
}

/** The API's problems on the form: `domain_id` / `named_backend_id` belong to the resource choice. */
export function grantErrors(details: FieldProblem[]): FieldErrors {
  return fieldErrors(
    details.map((d) => (d.field === "domain_id" || d.field === "named_backend_id" ? { ...d, field: "resource" } : d)),
    ["resource", "level", "user_id"],
  );
}

/** What a grant is on, for showing it. */
export function grantResource(g: GrantView): { kind: ResourceKind; id: string } | null {
  if (g.domain_id) return { kind: "domain", id: g.domain_id };
  if (g.named_backend_id) return { kind: "named_backend", id: g.named_backend_id };
  return null;
}
