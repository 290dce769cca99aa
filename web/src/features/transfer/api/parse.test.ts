import { describe, expect, it } from "vitest";
import { changesNothing, exportFileName, groupProblems, otherChangeLines, parseImport, summarizeDiff, withReplace } from "./parse";

describe("parseImport", () => {
  it("recognises an export document and the flat forms", () => {
    const doc = parseImport('{"format":"switchyard-export/1","zones":[]}');
    expect(doc).toEqual({ ok: true, kind: "document", document: { format: "switchyard-export/1", zones: [] } });
    expect(parseImport('{"env":{"domains":"app1.com:app1","services":"app1:app1:8080"}}')).toMatchObject({ ok: true, kind: "flat" });
    expect(parseImport('{"domains":[{"domain":"a.com","service":"a"}],"services":[{"name":"a","host":"a","port":80}]}')).toMatchObject({ ok: true, kind: "flat" });
  });

  it("says why anything else cannot be imported", () => {
    expect(parseImport("  ")).toEqual({ ok: false, problem: "Nothing to import: choose a file or paste a document." });
    const bad = parseImport("{zones: []}");
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problem).toMatch(/^Not JSON: /);
    expect(parseImport("[1,2]")).toEqual({ ok: false, problem: "Expected a JSON object (an export document or the flat form)." });
    expect(parseImport('{"hello":1}').ok).toBe(false);
  });

  it("adds replace only when asked", () => {
    const d = { format: "switchyard-export/1", zones: [] };
    expect(withReplace(d, true)).toEqual({ ...d, replace: true });
    expect(withReplace({ ...d, replace: true } as typeof d, false)).toEqual(d);
  });
});

describe("groupProblems", () => {
  it("groups the API's problems per entry, labelled from the input", () => {
    const input = {
      format: "switchyard-export/1",
      domains: ["example.com"],
      zones: [
        { hostname: "ok.example.com", backend: { kind: "none" } },
        { hostname: "app.example.com", path_prefix: "/api", backend: { kind: "none" } },
      ],
    };
    const groups = groupProblems(
      [
        { field: "zones[1].hostname", problem: "lies within no domain you may edit" },
        { field: "zones[1].backend.upstreams[0].url", problem: "not a URL" },
        { field: "domains[0]", problem: "no such domain" },
        { field: "format", problem: "unknown format" },
      ],
      input,
    );
    expect(groups).toEqual([
      { position: "", label: null, problems: [{ field: "format", problem: "unknown format" }] },
      {
        position: "zones[1]",
        label: "app.example.com/api",
        problems: [
          { field: "hostname", problem: "lies within no domain you may edit" },
          { field: "backend.upstreams[0].url", problem: "not a URL" },
        ],
      },
      { position: "domains[0]", label: "example.com", problems: [{ field: "", problem: "no such domain" }] },
    ]);
  });

  it("tells two zones on one hostname and prefix apart by their conditions", () => {
    const input = {
      zones: [
        { hostname: "app.example.com", path_prefix: "/api", backend: { kind: "none" } },
        { hostname: "app.example.com", path_prefix: "/api", match: { methods: ["POST"] }, backend: { kind: "none" } },
      ],
    };
    const groups = groupProblems(
      [
        { field: "zones[0].backend", problem: "a" },
        { field: "zones[1].match.methods[0]", problem: "b" },
      ],
      input,
    );
    expect(groups.map((g) => g.label)).toEqual(["app.example.com/api", "app.example.com/api [POST]"]);
  });

  it("labels flat entries by domain or service name", () => {
    const groups = groupProblems([{ field: "services[0].port", problem: "must be 1–65535" }], { services: [{ name: "app1", host: "h", port: 0 }] });
    expect(groups[0]).toEqual({ position: "services[0]", label: "app1", problems: [{ field: "port", problem: "must be 1–65535" }] });
  });
});

describe("problem labels", () => {
  it("names format 2's domains, users and grants by what the document says", () => {
    const doc = { domains: [{ name: "example.com", dns_credential: "cf" }], users: [{ username: "ann" }], grants: [{ username: "bob", domain: "example.com", level: "read" }] };
    const groups = groupProblems(
      [
        { field: "domains[0].dns_credential", problem: "no DNS credential named \"cf\"" },
        { field: "users[0].username", problem: "bad" },
        { field: "grants[0].domain", problem: "missing" },
      ],
      doc,
    );
    expect(groups.map((g) => [g.position, g.label])).toEqual([
      ["domains[0]", "example.com"],
      ["users[0]", "ann"],
      ["grants[0]", "bob on example.com"],
    ]);
  });
});

describe("summaries", () => {
  it("counts domains, users and grants an import creates, which change something too", () => {
    const effect = (action: string) => ({ action, resource_type: action.split(".")[0] ?? "", resource_id: "x", before: null, after: {} });
    const user = { id: "u", username: "ann", role: "user", disabled: false, created_at: "2026-12-01T00:00:00Z", updated_at: "2026-12-01T00:00:00Z" };
    const s = summarizeDiff({
      dry_run: true,
      records: [],
      created: [],
      changed: [],
      deleted: [],
      users_created: [user],
      changes: [effect("user.create"), effect("domain.create"), effect("domain.create"), effect("grant.update"), effect("something.new")],
    });
    expect(s.usersCreated).toBe(1);
    expect(changesNothing(s)).toBe(false);
    expect(otherChangeLines(s)).toEqual(["1 user created", "2 domains created", "1 grant given its level", "1 something.new"]);
  });

  it("counts a diff and names the export file", () => {
    const empty = summarizeDiff({ dry_run: true, records: [], created: [], changed: [], deleted: [], named_backends_created: [] });
    expect(empty).toEqual({ created: 0, changed: 0, deleted: 0, backendsCreated: 0, usersCreated: 0, others: {} });
    expect(changesNothing(empty)).toBe(true);
    expect(exportFileName(new Date(2026, 0, 5))).toBe("switchyard-export-2026-01-05.json");
  });
});
