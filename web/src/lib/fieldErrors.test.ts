import { describe, expect, it } from "vitest";
import { fieldErrors } from "./fieldErrors";

describe("fieldErrors", () => {
  it("puts each problem next to the field it names, or inside", () => {
    const e = fieldErrors(
      [
        { field: "name", problem: "already taken" },
        { field: "secret.api_token", problem: "must be a non-empty string" },
        { field: "secret.other", problem: "unknown field" },
        { field: "allow[2]", problem: "not a CIDR" },
        { field: "format", problem: "unknown format" },
        { field: "", problem: "something general" },
      ],
      ["name", "secret.api_token", "secret", "allow"],
    );
    expect(e.fields).toEqual({
      name: ["already taken"],
      "secret.api_token": ["must be a non-empty string"],
      secret: ["other: unknown field"],
      allow: ["[2]: not a CIDR"],
    });
    expect(e.other).toEqual(["format: unknown format", "something general"]);
  });
});
