import { describe, expect, it } from "vitest";
import type { FieldProblem } from "@/lib/api/errors";
import { fieldChanges } from "./diff";
import { emptyZoneForm, formErrors, formFromZone, refusedByFormatGate, specFromForm, type ZoneFormValues } from "./form";
import { describeMatch, emptyMatchForm, matchFormFromApi, matchFromForm, methodsOf, type MatchFormValues } from "./match";
import type { ZoneView } from "./types";

const zone = (over: Partial<ZoneView> = {}): ZoneView => ({
  id: "z1",
  domain_id: "d1",
  hostname: "shop.example.com",
  path_prefix: "/api",
  backend: { kind: "none" },
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  ...over,
});

const form = (match: Partial<MatchFormValues>): ZoneFormValues => ({ ...emptyZoneForm, hostname: "shop.example.com", backendKind: "none", match: { ...emptyMatchForm, ...match } });

describe("match conditions: form ↔ API", () => {
  it("leaves `match` out of the request body when there is no condition", () => {
    const result = specFromForm(form({}));
    expect(result.ok && "match" in result.spec).toBe(false);
    // Blank rows and a path condition of "none" are no condition either.
    const blank = specFromForm(form({ headers: [{ name: " ", kind: "present", value: "" }], query: [{ name: "", kind: "present", value: "" }], path: "/ignored" }));
    expect(blank.ok && "match" in blank.spec).toBe(false);
  });

  it("round-trips every kind of condition", () => {
    const match = {
      path_regex: "^/v[0-9]+/",
      methods: ["POST", "PUT", "PROPFIND"],
      headers: [{ name: "x-beta", equals: "1" }, { name: "x-trace" }, { name: "user-agent", regex: "^curl/" }],
      query: [{ name: "v", equals: "2" }, { name: "debug" }],
    };
    const f = formFromZone(zone({ match }));
    expect(f.match).toEqual({
      pathKind: "regex",
      path: "^/v[0-9]+/",
      methods: ["POST", "PUT"],
      otherMethods: "PROPFIND",
      headers: [
        { name: "x-beta", kind: "equals", value: "1" },
        { name: "x-trace", kind: "present", value: "" },
        { name: "user-agent", kind: "regex", value: "^curl/" },
      ],
      query: [
        { name: "v", kind: "equals", value: "2" },
        { name: "debug", kind: "present", value: "" },
      ],
    });
    const result = specFromForm(f);
    expect(result.ok && result.spec.match).toEqual(match);
    const exact = formFromZone(zone({ match: { path_exact: "/api/health" } }));
    expect(exact.match.pathKind).toBe("exact");
    expect(matchFromForm(exact.match, [])).toEqual({ path_exact: "/api/health" });
  });

  it("sends the chips in their order, then other methods upper-cased, once each", () => {
    const m = { ...emptyMatchForm, methods: ["PUT", "GET"], otherMethods: "propfind, GET  mkcol" };
    expect(methodsOf(m)).toEqual(["GET", "PUT", "PROPFIND", "MKCOL"]);
  });

  it("a value typed under 'is present' is not sent", () => {
    expect(matchFromForm({ ...emptyMatchForm, headers: [{ name: "x-a", kind: "present", value: "left over" }] }, [])).toEqual({ headers: [{ name: "x-a" }] });
  });

  it("refuses only what is plainly missing: a name, an exact path or a pattern", () => {
    const problems: FieldProblem[] = [];
    matchFromForm(
      {
        ...emptyMatchForm,
        pathKind: "exact",
        path: "  ",
        headers: [{ name: "", kind: "present", value: "" }, { name: "", kind: "equals", value: "1" }],
        query: [{ name: "", kind: "equals", value: "2" }],
      },
      problems,
    );
    expect(problems).toEqual([
      { field: "match.path_exact", problem: "give the exact path, e.g. /api/health" },
      { field: "match.headers[0].name", problem: "give the header name" },
      { field: "match.query[0].name", problem: "give the parameter name" },
    ]);
    const result = specFromForm(form({ pathKind: "regex", path: "" }));
    expect(result.ok).toBe(false);
  });
});

describe("match conditions: the API's 422 → the form's inputs", () => {
  it("puts each `match.*` problem next to its input, in the form's rows", () => {
    const values = form({
      pathKind: "regex",
      path: "(",
      methods: ["GET"],
      otherMethods: "bad method",
      // The first row is blank and not sent: the API's headers[0] is the form's row 2.
      headers: [
        { name: "", kind: "present", value: "" },
        { name: "x-a", kind: "regex", value: "(" },
      ],
      query: [{ name: "v", kind: "equals", value: "2" }],
    });
    const errors = formErrors(
      [
        { field: "match.path_regex", problem: "not a valid regular expression" },
        { field: "match.methods[1]", problem: "not a method token" },
        { field: "match.headers[0].regex", problem: "pattern \"(\" is not valid" },
        { field: "match.headers[0].name", problem: "not a header name" },
        { field: "match.query[0].equals", problem: "too long" },
        { field: "match", problem: "the conditions are too long" },
        { field: "create[0].match.query[0].name", problem: "bad name" },
      ],
      values,
    );
    expect(errors.fields).toEqual({
      "match.path": ["not a valid regular expression"],
      "match.methods": ["BAD: not a method token"],
      "match.headers[1].value": ['pattern "(" is not valid'],
      "match.headers[1].name": ["not a header name"],
      "match.query[0].value": ["too long"],
      "match.query[0].name": ["bad name"],
      match: ["the conditions are too long"],
    });
    expect(errors.other).toEqual([]);
  });
});

describe("match conditions in the dry run's diff", () => {
  it("shows a change of conditions as one row, in words", () => {
    const before = zone({ match: { methods: ["GET"] } });
    const after = zone({ match: { methods: ["POST", "PUT"], headers: [{ name: "x-beta", equals: "1" }], query: [{ name: "debug" }] } });
    expect(fieldChanges(before, after)).toEqual([
      { field: "match", label: "Match conditions", before: "methods GET", after: "methods POST, PUT; header x-beta = “1”; query debug present" },
    ]);
    expect(fieldChanges(zone(), zone({ match: { path_exact: "/api/health" } }))).toEqual([{ field: "match", label: "Match conditions", before: "none", after: "path is /api/health" }]);
  });

  it("describes every kind of condition", () => {
    expect(describeMatch(undefined)).toBe("none");
    expect(describeMatch({})).toBe("none");
    expect(describeMatch({ path_regex: "^/v1/", headers: [{ name: "ua", regex: "^curl" }, { name: "x" }], query: [{ name: "v", equals: "2" }] })).toBe(
      "path matches ^/v1/; header ua matches ^curl; header x present; query v = “2”",
    );
    expect(matchFormFromApi(null)).toBe(emptyMatchForm);
  });
});

describe("the format gate's 409", () => {
  it("is told apart by the field it names: policies or match", () => {
    expect(refusedByFormatGate([{ field: "match", problem: "needs data format 2" }])).toBe(true);
    expect(refusedByFormatGate([{ field: "policies", problem: "needs data format 2" }])).toBe(true);
    expect(refusedByFormatGate([{ field: "hostname", problem: "a zone with these conditions exists" }])).toBe(false);
    expect(refusedByFormatGate([{ field: "match.methods[0]", problem: "x" }])).toBe(false);
  });
});
