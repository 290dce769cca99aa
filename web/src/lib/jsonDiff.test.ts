import { describe, expect, it } from "vitest";
import { diffJson, flattenJson } from "./jsonDiff";

describe("jsonDiff", () => {
  it("flattens objects to paths, keeps lists of plain values whole", () => {
    const flat = flattenJson({ hostname: "a.example.com", allow: ["10.0.0.0/8"], backend: { kind: "upstreams", upstreams: [{ url: "http://x", weight: 1 }] }, timeouts: {} });
    expect(Object.fromEntries(flat)).toEqual({
      allow: '["10.0.0.0/8"]',
      "backend.kind": '"upstreams"',
      "backend.upstreams[0].url": '"http://x"',
      "backend.upstreams[0].weight": "1",
      hostname: '"a.example.com"',
      timeouts: "{}",
    });
    expect(flattenJson(null).size).toBe(0);
    expect(Object.fromEntries(flattenJson("x"))).toEqual({ "(value)": '"x"' });
  });

  it("names every field added, removed, changed or the same", () => {
    const d = diffJson({ name: "svc", url_template: "http://a", preset: false }, { name: "svc", url_template: "http://b", parameters: ["port"] });
    expect(d).toEqual([
      { path: "name", kind: "same", before: '"svc"', after: '"svc"' },
      { path: "parameters", kind: "added", before: null, after: '["port"]' },
      { path: "preset", kind: "removed", before: "false", after: null },
      { path: "url_template", kind: "changed", before: '"http://a"', after: '"http://b"' },
    ]);
  });

  it("a create has only additions, a delete only removals", () => {
    expect(diffJson(null, { a: 1 }).map((c) => c.kind)).toEqual(["added"]);
    expect(diffJson({ a: 1 }, undefined).map((c) => c.kind)).toEqual(["removed"]);
  });
});
