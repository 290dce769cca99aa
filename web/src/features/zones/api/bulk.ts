// Many zones at once: pasted or uploaded CSV (a header row naming the columns) or JSON
// (the API's bulk body, or an array of zone specs) → the body of `POST /zones/bulk`,
// with every item remembering where it came from, so that the API's problems
// (`create[4].hostname`) are shown on the user's own rows: row, column, value, problem.
// What cannot be sent at all (CSV syntax, unknown columns, a bad boolean or number) is
// refused here, per row; every other check is the API's (its dry run).
import type { FieldProblem } from "@/lib/api/errors";
import type { components } from "@/lib/api/schema.gen";
import { matchOfInput, zoneLabel, type RouteMatch } from "@/lib/routeMatch";
import { parseCsv } from "./csv";
import type { BackendSpec, ZoneSpec } from "./types";

export type BulkRequest = components["schemas"]["BulkRequest"];
export type BulkUpdate = components["schemas"]["BulkUpdate"];

/** The API takes 1–20,000 items per request. */
export const MAX_BULK_ITEMS = 20_000;

/** The CSV columns (their canonical names), what each means, and the other names it may go by. */
export const CSV_COLUMNS = {
  hostname: { aliases: ["host"], help: "the zone's hostname (required)" },
  path_prefix: { aliases: ["path"], help: "path prefix, e.g. /api; empty for the whole host" },
  upstreams: {
    aliases: ["upstream", "url", "urls", "backend_url", "backend_urls"],
    help: "upstream URLs separated by spaces, ; or |, each optionally *weight: http://10.0.0.1:8080*3 http://10.0.0.2:8080",
  },
  backend: { aliases: ["named_backend"], help: "a named backend's name (instead of upstreams)" },
  params: { aliases: ["backend_params"], help: "the named backend's parameters, name=value separated by spaces, ; or |: port=8080;region=eu" },
  force_https: { aliases: ["https"], help: "true/false (also yes/no, 1/0); empty is false" },
  preserve_host: { aliases: [], help: "true/false; empty is false" },
  match: {
    aliases: ["conditions", "match_conditions"],
    help: 'match conditions as JSON (docs/routing.md), e.g. {"methods":["POST"]}; empty for none. Part of what names the zone: two zones may share hostname and path with different conditions',
  },
  allow: { aliases: ["allow_cidrs", "cidrs"], help: "allowed client CIDRs or addresses separated by spaces, ; or |; empty allows everyone" },
  connect_ms: { aliases: ["connect_timeout_ms"], help: "connect timeout in milliseconds; empty for the default" },
  read_ms: { aliases: ["read_timeout_ms"], help: "read timeout in milliseconds; empty for the default" },
  idle_ms: { aliases: ["idle_timeout_ms"], help: "the client's longest pause in milliseconds; empty for the default" },
  total_ms: { aliases: ["total_timeout_ms"], help: "the whole exchange's longest time in milliseconds; empty for none" },
  id: { aliases: ["zone_id"], help: "an existing zone's id: the row replaces that zone instead of creating one" },
  action: { aliases: [], help: "create, update (needs id) or delete (needs id; other columns ignored); empty: update when id is given, else create" },
} as const;

export type Column = keyof typeof CSV_COLUMNS;

const COLUMN_BY_NAME: ReadonlyMap<string, Column> = new Map(
  (Object.entries(CSV_COLUMNS) as [Column, (typeof CSV_COLUMNS)[Column]][]).flatMap(([c, d]) => [[c, c] as const, ...d.aliases.map((a) => [a, c] as const)]),
);

/** One problem on the user's input, as shown: where (row or item), column, value, what. */
export interface RowProblem {
  /** The CSV line the row starts on (the header is line 1); null for JSON and the input as a whole. */
  row: number | null;
  /** The request position it concerns (`create[4]`), or the JSON entry; null if none. */
  item: string | null;
  /** What the entry is: hostname and path, when known. */
  label: string | null;
  /** The CSV column (as the header names it), or the JSON field. */
  column: string | null;
  /** The value given there. */
  value: string | null;
  problem: string;
}

/** Where one request item came from. */
export interface ItemSource {
  row: number | null;
  /** How to name it to the user when there is no row: `entry 3`, `create[2]`. */
  item: string;
  label: string | null;
  /** CSV only: the row's cells by column. */
  cells?: Partial<Record<Column, string>>;
  /** JSON only: the item as given, to read a value by the API's field path. */
  json?: unknown;
}

export interface BulkSources {
  format: "csv" | "json";
  /** Header text of each column, as the user wrote it (CSV). */
  headers: Partial<Record<Column, string>>;
  create: ItemSource[];
  update: ItemSource[];
  delete: ItemSource[];
}

export type ParsedBulk = { ok: true; request: BulkRequest; sources: BulkSources; items: number } | { ok: false; problems: RowProblem[] };

const LIST_SEPARATOR = /[\s;|]+/;

function list(cell: string): string[] {
  return cell.split(LIST_SEPARATOR).filter((t) => t !== "");
}

/** What a row or entry is, for its problems: hostname, path and conditions (two zones may share the first two). */
function labelOf(hostname: unknown, path: unknown, match?: unknown): string | null {
  if (typeof hostname !== "string" || hostname === "") return null;
  return zoneLabel(hostname, typeof path === "string" ? path : "", matchOfInput(match));
}

/** JSON text → its value; null when it is not JSON (to label a row; the row's problem says why). */
function parseOrNull(text: string | undefined): unknown {
  try {
    return text ? (JSON.parse(text) as unknown) : null;
  } catch {
    return null;
  }
}

const TRUE = new Set(["true", "yes", "y", "1", "on"]);
const FALSE = new Set(["false", "no", "n", "0", "off", ""]);

// ---------------------------------------------------------------------------------- CSV

interface RowContext {
  line: number;
  headers: Partial<Record<Column, string>>;
  problems: RowProblem[];
  label: string | null;
}

function rowProblem(ctx: RowContext, column: Column | null, value: string | null, problem: string): void {
  ctx.problems.push({ row: ctx.line, item: null, label: ctx.label, column: column ? (ctx.headers[column] ?? column) : null, value, problem });
}

function bool(ctx: RowContext, cells: Partial<Record<Column, string>>, column: "force_https" | "preserve_host"): boolean | undefined {
  const raw = cells[column];
  if (raw === undefined) return undefined;
  const v = raw.toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  rowProblem(ctx, column, raw, "not a boolean (true or false)");
  return undefined;
}

function wholeNumber(ctx: RowContext, cells: Partial<Record<Column, string>>, column: "connect_ms" | "read_ms" | "idle_ms" | "total_ms"): number | undefined {
  const raw = cells[column];
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) {
    rowProblem(ctx, column, raw, "not a whole number of milliseconds");
    return undefined;
  }
  return Number(raw);
}

function backendOf(ctx: RowContext, cells: Partial<Record<Column, string>>): BackendSpec {
  const upstreams = cells.upstreams ?? "";
  const name = cells.backend ?? "";
  const params = cells.params ?? "";
  if (upstreams !== "" && name !== "") {
    rowProblem(ctx, "backend", name, `give either upstreams or a named backend, not both (upstreams: ${upstreams})`);
  }
  if (params !== "" && name === "") rowProblem(ctx, "params", params, "parameters belong to a named backend: the backend column is empty");
  if (name !== "") {
    const out: Record<string, string> = {};
    for (const token of list(params)) {
      const eq = token.indexOf("=");
      if (eq <= 0) {
        rowProblem(ctx, "params", token, "not name=value");
        continue;
      }
      out[token.slice(0, eq)] = token.slice(eq + 1);
    }
    return { kind: "named", name, params: out };
  }
  if (upstreams !== "") {
    return {
      kind: "upstreams",
      upstreams: list(upstreams).map((token) => {
        const star = token.lastIndexOf("*");
        if (star < 0) return { url: token, weight: 1 };
        const weight = token.slice(star + 1);
        if (!/^\d+$/.test(weight)) rowProblem(ctx, "upstreams", token, `weight "${weight}" is not a whole number`);
        return { url: token.slice(0, star), weight: /^\d+$/.test(weight) ? Number(weight) : 1 };
      }),
    };
  }
  return { kind: "none" };
}

/** The `match` cell: JSON of the API's shape (the API checks it); empty → none. */
function matchOf(ctx: RowContext, cells: Partial<Record<Column, string>>): RouteMatch | undefined {
  const raw = (cells.match ?? "").trim();
  if (raw === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    rowProblem(ctx, "match", raw, 'not JSON (e.g. {"methods":["POST"]})');
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    rowProblem(ctx, "match", raw, 'not a JSON object (e.g. {"methods":["POST"]})');
    return undefined;
  }
  // An object of any shape: the API names what is wrong with it.
  return value;
}

function specOf(ctx: RowContext, cells: Partial<Record<Column, string>>): ZoneSpec {
  const spec: ZoneSpec = { hostname: cells.hostname ?? "", path_prefix: cells.path_prefix ?? "", backend: backendOf(ctx, cells), allow: list(cells.allow ?? "") };
  const force = bool(ctx, cells, "force_https");
  if (force !== undefined) spec.force_https = force;
  const preserve = bool(ctx, cells, "preserve_host");
  if (preserve !== undefined) spec.preserve_host = preserve;
  const match = matchOf(ctx, cells);
  if (match !== undefined) spec.match = match;
  const connect = wholeNumber(ctx, cells, "connect_ms");
  const read = wholeNumber(ctx, cells, "read_ms");
  const idle = wholeNumber(ctx, cells, "idle_ms");
  const total = wholeNumber(ctx, cells, "total_ms");
  if (connect !== undefined || read !== undefined || idle !== undefined || total !== undefined) {
    spec.timeouts = {};
    if (connect !== undefined) spec.timeouts.connect_ms = connect;
    if (read !== undefined) spec.timeouts.read_ms = read;
    if (idle !== undefined) spec.timeouts.idle_ms = idle;
    if (total !== undefined) spec.timeouts.total_ms = total;
  }
  return spec;
}

/** CSV text (header row first) → the bulk request, or every problem per row. */
export function parseBulkCsv(text: string): ParsedBulk {
  const { records, problems: syntax } = parseCsv(text);
  const problems: RowProblem[] = syntax.map((p) => ({ row: p.line, item: null, label: null, column: null, value: null, problem: p.problem }));
  const header = records[0];
  if (!header) {
    if (problems.length === 0) problems.push({ row: null, item: null, label: null, column: null, value: null, problem: "Nothing to send: no header row and no zones." });
    return { ok: false, problems };
  }
  // The header: which column each position is.
  const headers: Partial<Record<Column, string>> = {};
  const columns: (Column | null)[] = header.fields.map((raw) => {
    const name = raw.trim();
    const column = COLUMN_BY_NAME.get(name.toLowerCase().replace(/[\s-]+/g, "_")) ?? null;
    if (column === null) {
      problems.push({ row: header.line, item: null, label: null, column: name, value: null, problem: `unknown column "${name}" (known: ${Object.keys(CSV_COLUMNS).join(", ")})` });
    } else if (headers[column] !== undefined) {
      problems.push({ row: header.line, item: null, label: null, column: name, value: null, problem: `the column ${column} is named twice ("${headers[column]}" and "${name}")` });
    } else {
      headers[column] = name;
    }
    return column;
  });
  if (headers.hostname === undefined && headers.id === undefined) {
    problems.push({ row: header.line, item: null, label: null, column: null, value: null, problem: "the header names no hostname column (the first row must name the columns, e.g. hostname,upstreams)" });
  }
  const sources: BulkSources = { format: "csv", headers, create: [], update: [], delete: [] };
  const request: Required<BulkRequest> = { create: [], update: [], delete: [] };
  const rows = records.slice(1);
  if (rows.length === 0 && problems.length === 0) {
    problems.push({ row: null, item: null, label: null, column: null, value: null, problem: "Nothing to send: the header is the only row." });
  }
  for (const record of rows) {
    const cells: Partial<Record<Column, string>> = {};
    columns.forEach((column, k) => {
      if (column !== null) cells[column] = (record.fields[k] ?? "").trim();
    });
    const ctx: RowContext = { line: record.line, headers, problems, label: labelOf(cells.hostname, cells.path_prefix, parseOrNull(cells.match)) };
    if (record.fields.length !== header.fields.length) {
      rowProblem(ctx, null, null, `${record.fields.length} ${record.fields.length === 1 ? "column" : "columns"}, but the header has ${header.fields.length} (a comma inside a value needs quotes)`);
      continue;
    }
    const id = cells.id ?? "";
    const action = (cells.action ?? "").toLowerCase() || (id ? "update" : "create");
    const source = (position: string): ItemSource => ({ row: record.line, item: position, label: ctx.label, cells });
    switch (action) {
      case "create": {
        if (id !== "") rowProblem(ctx, "id", id, "a created zone gets its id from the API: leave id empty, or use action update");
        const spec = specOf(ctx, cells);
        sources.create.push(source(`create[${request.create.length}]`));
        request.create.push(spec);
        break;
      }
      case "update": {
        if (id === "") rowProblem(ctx, "id", "", "an update names the zone's id");
        const zone = specOf(ctx, cells);
        sources.update.push(source(`update[${request.update.length}]`));
        request.update.push({ id, zone });
        break;
      }
      case "delete": {
        if (id === "") rowProblem(ctx, "id", "", "a delete names the zone's id");
        sources.delete.push(source(`delete[${request.delete.length}]`));
        request.delete.push(id);
        break;
      }
      default:
        rowProblem(ctx, "action", cells.action ?? "", "not create, update or delete");
    }
  }
  return finish(request, sources, problems);
}

function finish(request: Required<BulkRequest>, sources: BulkSources, problems: RowProblem[]): ParsedBulk {
  const items = request.create.length + request.update.length + request.delete.length;
  if (problems.length === 0 && items > MAX_BULK_ITEMS) {
    problems.push({ row: null, item: null, label: null, column: null, value: null, problem: `${items.toLocaleString()} zones: the API takes at most ${MAX_BULK_ITEMS.toLocaleString()} per request; split the input.` });
  }
  if (problems.length > 0) return { ok: false, problems };
  const body: BulkRequest = {};
  if (request.create.length > 0) body.create = request.create;
  if (request.update.length > 0) body.update = request.update;
  if (request.delete.length > 0) body.delete = request.delete;
  return { ok: true, request: body, sources, items };
}

// --------------------------------------------------------------------------------- JSON

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON: the API's bulk body, or an array of zone specs (all created). */
export function parseBulkJson(text: string): ParsedBulk {
  const problems: RowProblem[] = [];
  const fail = (problem: string, item: string | null = null): ParsedBulk => ({ ok: false, problems: [...problems, { row: null, item, label: null, column: null, value: null, problem }] });
  let value: unknown;
  try {
    value = JSON.parse(text.startsWith("\uFEFF") ? text.slice(1) : text);
  } catch (e) {
    return fail(`Not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const sources: BulkSources = { format: "json", headers: {}, create: [], update: [], delete: [] };
  const request: Required<BulkRequest> = { create: [], update: [], delete: [] };
  const fromArray = Array.isArray(value);
  const body: Record<string, unknown> | null = fromArray ? { create: value } : isRecord(value) ? value : null;
  if (!body) return fail("Expected the bulk body ({\"create\":[…],\"update\":[…],\"delete\":[…]}) or an array of zones.");
  const unknown = Object.keys(body).filter((k) => k !== "create" && k !== "update" && k !== "delete");
  if (unknown.length > 0) return fail(`Unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")}: the bulk body has create, update and delete.`);
  for (const key of ["create", "update", "delete"] as const) {
    const items = body[key];
    if (items === undefined) continue;
    if (!Array.isArray(items)) return fail(`"${key}" must be an array.`);
    items.forEach((item: unknown, i) => {
      const position = fromArray ? `entry ${i + 1}` : `${key}[${i}]`;
      if (key === "delete") {
        if (typeof item !== "string") problems.push({ row: null, item: position, label: null, column: null, value: JSON.stringify(item), problem: "a delete is a zone id (a string)" });
        else {
          sources.delete.push({ row: null, item: position, label: null, json: item });
          request.delete.push(item);
        }
        return;
      }
      if (!isRecord(item)) {
        problems.push({ row: null, item: position, label: null, column: null, value: JSON.stringify(item), problem: key === "create" ? "a zone is an object" : "an update is {\"id\", \"zone\"}" });
        return;
      }
      const zone = key === "update" ? item.zone : item;
      const label = isRecord(zone) ? labelOf(zone.hostname, zone.path_prefix, zone.match) : null;
      sources[key].push({ row: null, item: position, label, json: item });
      // The API checks the shape of each item and names what is missing.
      if (key === "create") request.create.push(item as ZoneSpec);
      else request.update.push(item as BulkUpdate);
    });
  }
  return finish(request, sources, problems);
}

/** JSON when the text starts with `{` or `[`, otherwise CSV. */
export function parseBulk(text: string): ParsedBulk {
  const t = text.replace(/^\uFEFF/, "").trimStart();
  if (t === "") return { ok: false, problems: [{ row: null, item: null, label: null, column: null, value: null, problem: "Nothing to send: paste CSV or JSON, or choose a file." }] };
  return t.startsWith("{") || t.startsWith("[") ? parseBulkJson(t) : parseBulkCsv(text);
}

// ------------------------------------------------------------------- the API's problems

/** The value at a field path (`backend.upstreams[1].url`) of a JSON value, as text. */
function valueAt(json: unknown, path: string): string | null {
  let v: unknown = json;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (Array.isArray(v) && /^\d+$/.test(part)) v = v[Number(part)];
    else if (isRecord(v)) v = v[part];
    else return null;
  }
  if (v === undefined) return null;
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The CSV column and the user's value for a field of an item (`backend.upstreams[1].url`). */
function csvPlace(field: string, cells: Partial<Record<Column, string>>): { column: Column | null; value: string | null } {
  const cell = (c: Column) => ({ column: c, value: cells[c] ?? "" });
  const nth = (c: Column, k: string | undefined) => ({ column: c, value: list(cells[c] ?? "")[Number(k)] ?? cells[c] ?? "" });
  let m: RegExpExecArray | null;
  if (field === "id") return cell("id");
  if (field === "") return { column: null, value: null };
  if (field === "hostname" || field === "path_prefix" || field === "force_https" || field === "preserve_host") return cell(field);
  if ((m = /^backend\.upstreams(?:\[(\d+)\](?:\.\w+)?)?$/.exec(field))) return m[1] === undefined ? cell("upstreams") : nth("upstreams", m[1]);
  if (field === "backend.name") return cell("backend");
  if ((m = /^backend\.params(?:[.[]["']?([^\]"']+))?/.exec(field))) {
    const name = m[1];
    const token = name === undefined ? undefined : list(cells.params ?? "").find((t) => t.startsWith(`${name}=`));
    return { column: "params", value: token ?? cells.params ?? "" };
  }
  if (field === "backend" || field === "backend.kind") return (cells.backend ?? "") !== "" ? cell("backend") : cell("upstreams");
  if ((m = /^allow(?:\[(\d+)\])?$/.exec(field))) return m[1] === undefined ? cell("allow") : nth("allow", m[1]);
  if (field === "timeouts.connect_ms") return cell("connect_ms");
  if (/^match(\.|\[|$)/.test(field)) return cell("match");
  if (field === "timeouts.read_ms") return cell("read_ms");
  if (field === "timeouts.idle_ms") return cell("idle_ms");
  if (field === "timeouts.total_ms") return cell("total_ms");
  return { column: null, value: null };
}

/**
 * The API's 422 problems (`create[4].hostname`, `update[0].zone.allow[2]`, `update[1].id`,
 * `delete[2]`) on the user's rows: row (CSV) or entry (JSON), column, value, problem, in
 * the order of the input. A problem naming no item stays one for the input as a whole.
 */
export function mapBulkProblems(details: FieldProblem[], sources: BulkSources): RowProblem[] {
  const out: RowProblem[] = details.map(({ field, problem }) => {
    const m = /^(create|update|delete)\[(\d+)\](?:\.(.*))?$/.exec(field);
    const list = m ? sources[m[1] as "create" | "update" | "delete"] : undefined;
    const source = m ? list?.[Number(m[2])] : undefined;
    if (!m || !source) return { row: null, item: null, label: null, column: field || null, value: null, problem };
    const kind = m[1] as "create" | "update" | "delete";
    // Within an update, `zone.` leads to the spec; `id` is the update's own.
    const rest = kind === "update" ? (m[3] ?? "").replace(/^zone\./, "") : (m[3] ?? "");
    if (sources.format === "csv" && source.cells) {
      const { column, value } = csvPlace(kind === "delete" ? "id" : rest, source.cells);
      return { row: source.row, item: source.item, label: source.label, column: column ? (sources.headers[column] ?? column) : rest || null, value, problem };
    }
    const path = kind === "update" ? (m[3] ?? "") : rest;
    return { row: null, item: source.item, label: source.label, column: rest || null, value: valueAt(source.json, path), problem };
  });
  const order = (p: RowProblem) => p.row ?? (p.item === null ? -1 : Number.MAX_SAFE_INTEGER);
  return out.map((p, k) => ({ p, k })).sort((a, b) => order(a.p) - order(b.p) || a.k - b.k).map(({ p }) => p);
}
