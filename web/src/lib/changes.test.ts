import { describe, expect, it } from "vitest";
import { changesOf, summaryField, type Diff } from "./changes";

const diff: Diff = {
  dry_run: true,
  created: [],
  changed: [],
  deleted: [],
  records: [],
  changes: [
    { action: "grant.delete", resource_type: "grant", resource_id: "g1", before: { user_id: "u" }, after: null },
    { action: "user.delete", resource_type: "user", resource_id: "u", before: { username: "bob", sessions_deleted: 2 }, after: null },
    { action: "grant.delete", resource_type: "grant", resource_id: "g2", before: null, after: null },
  ],
};

describe("changes", () => {
  it("picks the entries of one action, in order", () => {
    expect(changesOf(diff, "grant.delete").map((c) => c.resource_id)).toEqual(["g1", "g2"]);
    expect(changesOf(diff, "domain.delete")).toEqual([]);
    expect(changesOf({ ...diff, changes: undefined }, "grant.delete")).toEqual([]);
  });

  it("reads a summary's field, and nothing from a missing one", () => {
    const [user] = changesOf(diff, "user.delete");
    expect(summaryField(user, "before", "sessions_deleted")).toBe(2);
    expect(summaryField(user, "after", "username")).toBeUndefined();
    expect(summaryField(undefined, "before", "x")).toBeUndefined();
  });
});
