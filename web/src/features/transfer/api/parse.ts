// What an import was given (a file or pasted text) → the request it becomes: a Switchyard
// export document (POST /import) or the flat form (POST /import/flat). Only the shape
// needed to choose is checked here; everything else is the API's to judge (its dry run
// names each problem by position).
import type { FieldProblem } from "@/lib/api/errors";
import type { components } from "@/lib/api/schema.gen";
import { matchOfInput, zoneLabel } from "@/lib/routeMatch";

export type ExportDocument = components["schemas"]["Document"];
export type FlatInput = components["schemas"]["FlatInput"];
export type ImportDiff = components["schemas"]["Diff"];

export type ParsedImport = { ok: true; kind: "document"; document: ExportDocument } | { ok: true; kind: "flat"; flat: FlatInput } | { ok: false; problem: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseImport(text: string): ParsedImport {
  if (text.trim() === "") return { ok: false, problem: "Nothing to import: choose a file or paste a document." };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, problem: `Not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isRecord(value)) return { ok: false, problem: "Expected a JSON object (an export document or the flat form)." };
  if (typeof value.format === "string" || Array.isArray(value.zones)) {
    return { ok: true, kind: "document", document: value as ExportDocument };
  }
  if (isRecord(value.env) || Array.isArray(value.services) || (Array.isArray(value.domains) && value.domains.some(isRecord))) {
    return { ok: true, kind: "flat", flat: value as FlatInput };
  }
  return { ok: false, problem: "Neither an export document (with \"format\" and \"zones\") nor the flat form (\"env\", or \"domains\" and \"services\")." };
}

/** The document with `replace` (delete the caller's zones it does not list). */
export function withReplace(document: ExportDocument, replace: boolean): ExportDocument {
  // `replace` is import-only, so the OpenAPI document's Document (the export's shape)
  // does not list it; the API accepts it.
  const body: ExportDocument & { replace?: boolean } = { ...document };
  if (replace) body.replace = true;
  else delete body.replace;
  return body;
}

export interface ProblemGroup {
  /** `zones[4]`, `domains[0]`, `services[1]`, or "" for the document as a whole. */
  position: string;
  /** What that entry is, when the input says: `app.example.com/api`, `svc`. */
  label: string | null;
  problems: { field: string; problem: string }[];
}

function labelOf(input: unknown, list: string, index: number): string | null {
  if (!isRecord(input)) return null;
  const items = list === "env" ? null : input[list];
  const item: unknown = Array.isArray(items) ? items[index] : undefined;
  if (typeof item === "string") return item;
  if (!isRecord(item)) return null;
  if (typeof item.hostname === "string") return zoneLabel(item.hostname, typeof item.path_prefix === "string" ? item.path_prefix : "", matchOfInput(item.match));
  if (typeof item.username === "string") {
    // A user, or a grant: whose, and on what.
    const target = typeof item.domain === "string" ? item.domain : typeof item.named_backend === "string" ? item.named_backend : null;
    return target ? `${item.username} on ${target}` : item.username;
  }
  if (typeof item.domain === "string") return item.domain;
  if (typeof item.name === "string") return item.name;
  return null;
}

/** The API's 422 problems grouped per entry (`zones[4].hostname` → zones[4], field hostname), in order. */
export function groupProblems(details: FieldProblem[], input: unknown): ProblemGroup[] {
  const groups = new Map<string, ProblemGroup>();
  for (const { field, problem } of details) {
    const m = /^([a-z_]+)\[(\d+)\](?:\.(.*))?$/.exec(field);
    const position = m ? `${m[1] ?? ""}[${m[2] ?? ""}]` : "";
    let group = groups.get(position);
    if (!group) {
      group = { position, label: m ? labelOf(input, m[1] ?? "", Number(m[2])) : null, problems: [] };
      groups.set(position, group);
    }
    group.problems.push({ field: m ? (m[3] ?? "") : field, problem });
  }
  return [...groups.values()].sort((a, b) => (a.position === "" ? -1 : b.position === "" ? 1 : 0));
}

export interface DiffSummary {
  created: number;
  changed: number;
  deleted: number;
  backendsCreated: number;
  /** Users an admin's import creates, with no usable password. */
  usersCreated: number;
  /** Domains, users and grants the import creates or changes, by what happens: `domain.create` → 2. */
  others: Record<string, number>;
}

export function summarizeDiff(diff: ImportDiff): DiffSummary {
  const others: Record<string, number> = {};
  for (const c of diff.changes ?? []) others[c.action] = (others[c.action] ?? 0) + 1;
  return {
    created: diff.created.length,
    changed: diff.changed.length,
    deleted: diff.deleted.length,
    backendsCreated: diff.named_backends_created?.length ?? 0,
    usersCreated: diff.users_created?.length ?? 0,
    others,
  };
}

/** Whether the import would change anything at all. */
export function changesNothing(s: DiffSummary): boolean {
  return s.created + s.changed + s.deleted + s.backendsCreated + s.usersCreated === 0 && Object.keys(s.others).length === 0;
}

const ACTION_WORDS: Record<string, [string, string]> = {
  "domain.create": ["domain", "created"],
  "domain.update": ["domain", "given its DNS credential"],
  "user.create": ["user", "created"],
  "grant.create": ["grant", "created"],
  "grant.update": ["grant", "given its level"],
};

/** `2 domains created`, one line per kind of change besides zones. */
export function otherChangeLines(s: DiffSummary): string[] {
  return Object.entries(s.others).map(([action, n]) => {
    const [noun, verb] = ACTION_WORDS[action] ?? [action, ""];
    return `${n.toLocaleString()} ${n === 1 ? noun : `${noun}s`}${verb ? ` ${verb}` : ""}`;
  });
}

/** `switchyard-export-2026-06-01.json` for a download made at `now`. */
export function exportFileName(now: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `switchyard-export-${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}.json`;
}
