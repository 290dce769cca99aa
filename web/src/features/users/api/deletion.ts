// What deleting a user takes with them, from the API's dry run (`DELETE
// /users/{id}?dry_run=true`): their sessions, API keys, grants and own named backends.
import { changesOf, summaryField, type Diff } from "@/lib/changes";
import { plural } from "@/lib/format";

export interface UserDeletion {
  sessions: number;
  /** `sy_3f9a…` prefixes of the keys that stop working. */
  keys: string[];
  grants: number;
  /** Names of their own named backends, which go too. */
  backends: string[];
}

export function describeUserDeletion(diff: Diff): UserDeletion {
  const [user] = changesOf(diff, "user.delete");
  const sessions = summaryField(user, "before", "sessions_deleted");
  const keys = summaryField(user, "before", "api_keys_deleted");
  return {
    sessions: typeof sessions === "number" ? sessions : 0,
    keys: Array.isArray(keys) ? keys.filter((k): k is string => typeof k === "string") : [],
    grants: changesOf(diff, "grant.delete").length,
    backends: changesOf(diff, "named_backend.delete")
      .map((b) => summaryField(b, "before", "name"))
      .filter((n): n is string => typeof n === "string"),
  };
}

/** One line per kind of thing that goes, for the confirm dialog. */
export function deletionLines(d: UserDeletion): string[] {
  const lines: string[] = [];
  if (d.sessions > 0) lines.push(`${plural(d.sessions, "session")} ended`);
  if (d.keys.length > 0) lines.push(`${plural(d.keys.length, "API key")} deleted (${d.keys.join(", ")})`);
  if (d.grants > 0) lines.push(`${plural(d.grants, "grant")} removed`);
  if (d.backends.length > 0) lines.push(`${plural(d.backends.length, "named backend")} of theirs deleted (${d.backends.join(", ")})`);
  return lines;
}
