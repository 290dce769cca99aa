import { describe, expect, it } from "vitest";
import type { Diff } from "@/lib/changes";
import { deletionLines, describeUserDeletion } from "./deletion";

const preview: Diff = {
  dry_run: true,
  created: [],
  changed: [],
  deleted: [],
  records: [],
  changes: [
    { action: "grant.delete", resource_type: "grant", resource_id: "g1", before: {}, after: null },
    { action: "grant.delete", resource_type: "grant", resource_id: "g2", before: {}, after: null },
    { action: "named_backend.delete", resource_type: "named_backend", resource_id: "b", before: { name: "web" }, after: null },
    { action: "user.delete", resource_type: "user", resource_id: "u", before: { username: "bob", sessions_deleted: 1, api_keys_deleted: ["sy_ab12cd34ef56"] }, after: null },
  ],
};

describe("describeUserDeletion", () => {
  it("counts what goes with the user", () => {
    const d = describeUserDeletion(preview);
    expect(d).toEqual({ sessions: 1, keys: ["sy_ab12cd34ef56"], grants: 2, backends: ["web"] });
    expect(deletionLines(d)).toEqual(["1 session ended", "1 API key deleted (sy_ab12cd34ef56)", "2 grants removed", "1 named backend of theirs deleted (web)"]);
  });

  it("says nothing for a user with nothing", () => {
    const d = describeUserDeletion({ ...preview, changes: [] });
    expect(d).toEqual({ sessions: 0, keys: [], grants: 0, backends: [] });
    expect(deletionLines(d)).toEqual([]);
  });
});
