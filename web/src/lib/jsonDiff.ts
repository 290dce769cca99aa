// Two JSON values (an audit record's before/after, a zone before → after) compared
// field by field: nested objects become dotted paths (`backend.upstreams[0].url`), a list
// of plain values stays one field (`allow`: `["10.0.0.0/8"]`), every leaf printed as JSON.

export interface JsonChange {
  path: string;
  kind: "added" | "removed" | "changed" | "same";
  /** The leaf as JSON text; null when absent on that side. */
  before: string | null;
  after: string | null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isLeafList(v: unknown[]): boolean {
  return v.every((x) => x === null || typeof x !== "object");
}

/** Every leaf of `value` by its path; `null`/`undefined` at the top is no leaf at all. */
export function flattenJson(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (value === undefined || (value === null && prefix === "")) return out;
  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0 && prefix !== "") out.set(prefix, "{}");
    for (const k of keys.sort()) flattenJson(value[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (Array.isArray(value) && !isLeafList(value)) {
    value.forEach((x, i) => flattenJson(x, `${prefix}[${i}]`, out));
  } else {
    out.set(prefix === "" ? "(value)" : prefix, JSON.stringify(value));
  }
  return out;
}

/** The fields of `before` and `after` in path order, each added / removed / changed / same. */
export function diffJson(before: unknown, after: unknown): JsonChange[] {
  const b = flattenJson(before);
  const a = flattenJson(after);
  const paths = [...new Set([...b.keys(), ...a.keys()])].sort();
  return paths.map((path) => {
    const bv = b.get(path) ?? null;
    const av = a.get(path) ?? null;
    const kind = bv === null ? "added" : av === null ? "removed" : bv === av ? "same" : "changed";
    return { path, kind, before: bv, after: av };
  });
}
