import { describe, expect, it } from "vitest";
import { apiErrorFrom } from "./api/errors";
import { actionLabel, opLabel, recordsSummary, revisionName, revisionTime, rollbackRefusal, type RecordSummary } from "./revisions";

const zone = (key: string, op: RecordSummary["op"] = "update"): RecordSummary => ({ id: `id-${key}`, key, kind: "zone", op });

describe("what a revision did, in words", () => {
  it("names every action the API records", () => {
    expect(actionLabel({ action: "zone.create" })).toBe("Zone created");
    expect(actionLabel({ action: "zone.update" })).toBe("Zone changed");
    expect(actionLabel({ action: "zone.delete" })).toBe("Zone deleted");
    expect(actionLabel({ action: "zone.bulk" })).toBe("Bulk zone change");
    expect(actionLabel({ action: "import" })).toBe("Import");
    expect(actionLabel({ action: "named_backend.update" })).toBe("Named backend changed");
    expect(actionLabel({ action: "domain.create" })).toBe("Domain created");
  });

  it("says which revision a rollback restored", () => {
    expect(actionLabel({ action: "zone.rollback", restores: 3 })).toBe("Zone rolled back to revision 3");
    expect(actionLabel({ action: "rollback", restores: 12 })).toBe("Configuration restored to revision 12");
    expect(actionLabel({ action: "rollback", restores: null })).toBe("Configuration restored");
  });

  it("shows an action it does not know as the API names it", () => {
    expect(actionLabel({ action: "domain.rename" })).toBe("domain.rename");
  });

  it("names a revision for screen readers with its number, action and actor", () => {
    expect(revisionName({ number: 7, action: "zone.update", restores: null, actor: "alice (api key sy_ab12…)" })).toBe("Revision 7: Zone changed by alice (api key sy_ab12…)");
  });

  it("words each op", () => {
    expect(["create", "update", "delete", "rerender"].map((op) => opLabel(op as RecordSummary["op"]))).toEqual(["created", "changed", "deleted", "re-rendered"]);
  });

  it("keeps an unreadable time as the API wrote it", () => {
    expect(revisionTime("not a time")).toBe("not a time");
    expect(revisionTime("2026-12-06T20:30:00Z")).not.toBe("2026-12-06T20:30:00Z");
  });
});

describe("the records of a revision in one line", () => {
  it("names one, two or three records", () => {
    expect(recordsSummary([zone("www.shop.test")], 1)).toBe("www.shop.test (zone changed)");
    expect(recordsSummary([zone("a.test", "create"), { id: "b", key: "svc", kind: "named_backend", op: "update" }], 2)).toBe("a.test (zone created) and svc (named backend changed)");
    expect(recordsSummary([zone("a.test"), zone("b.test"), zone("c.test", "delete")], 3)).toBe("a.test (zone changed), b.test (zone changed) and c.test (zone deleted)");
  });

  it("counts the rest, including those the list leaves out", () => {
    const listed = Array.from({ length: 20 }, (_, i) => zone(`z${i}.test`, "create"));
    expect(recordsSummary(listed, 20_000)).toBe(`z0.test (zone created), z1.test (zone created), z2.test (zone created) and ${(19_997).toLocaleString()} more`);
  });

  it("says so when nothing is readable", () => {
    expect(recordsSummary([], 0)).toBe("nothing you may read");
  });
});

describe("why a rollback was refused", () => {
  it("gives a 403's message in words", () => {
    const e = apiErrorFrom(403, { error: { code: "forbidden", message: "you may read this zone but not change it", details: [] } });
    expect(rollbackRefusal(e)).toEqual({ message: "you may read this zone but not change it", problems: [] });
  });

  it("names the field of a 422's problems", () => {
    const e = apiErrorFrom(422, { error: { code: "invalid", message: "the request is invalid", details: [{ field: "revision", problem: "there is no revision 9; revisions 1–8 are kept" }] } });
    expect(rollbackRefusal(e)).toEqual({ message: "the request is invalid", problems: ["revision: there is no revision 9; revisions 1–8 are kept"] });
  });

  it("words an error that is not the API's", () => {
    expect(rollbackRefusal(new Error("boom"))).toEqual({ message: "boom", problems: [] });
  });
});
