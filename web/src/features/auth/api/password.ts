// The logged-in user's own password: `POST /me/password` proves the current one, and
// the API ends every other session of theirs (this one stays; API keys stay too).
import { useMutation } from "@tanstack/react-query";
import { api, unwrap } from "@/lib/api/client";
import type { FieldErrors } from "@/lib/fieldErrors";

/** The API's rule for any password: 12–1024 characters. */
export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 1024;

export interface PasswordForm {
  current: string;
  next: string;
  repeat: string;
}

/**
 * What the browser can say before asking the API: each problem beside its field (the
 * API's own answer names `current_password` and `new_password` the same way).
 */
export function checkPasswordForm(form: PasswordForm): FieldErrors {
  const fields: FieldErrors["fields"] = {};
  // Code points, as the API counts them (not UTF-16 units).
  const length = Array.from(form.next).length;
  if (form.current === "") fields.current_password = ["Enter your current password."];
  if (length < MIN_PASSWORD || length > MAX_PASSWORD) fields.new_password = [`Use ${MIN_PASSWORD}–${MAX_PASSWORD} characters (this has ${length}).`];
  else if (form.next === form.current) fields.new_password = ["This is your current password; choose a new one."];
  if (form.repeat !== form.next) fields.repeat = ["Does not match the new password."];
  return { fields, other: [] };
}

export function hasProblems(errors: FieldErrors): boolean {
  return errors.other.length > 0 || Object.values(errors.fields).some((p) => (p?.length ?? 0) > 0);
}

export function useChangePassword() {
  return useMutation({
    mutationFn: ({ current, next }: PasswordForm) =>
      unwrap(api.POST("/api/v1/me/password", { body: { current_password: current, new_password: next } })),
  });
}
