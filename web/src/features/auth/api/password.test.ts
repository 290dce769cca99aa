import { describe, expect, it } from "vitest";
import { checkPasswordForm, hasProblems } from "./password";

describe("checkPasswordForm", () => {
  it("accepts a new password of the right length, typed twice", () => {
    const e = checkPasswordForm({ current: "old-password-1", next: "a-new-password", repeat: "a-new-password" });
    expect(hasProblems(e)).toBe(false);
  });

  it("names each problem beside its field", () => {
    const e = checkPasswordForm({ current: "", next: "short", repeat: "shrt" });
    expect(e.fields.current_password).toEqual(["Enter your current password."]);
    expect(e.fields.new_password).toEqual(["Use 12–1024 characters (this has 5)."]);
    expect(e.fields.repeat).toEqual(["Does not match the new password."]);
    expect(hasProblems(e)).toBe(true);
  });

  it("counts characters, not bytes, and refuses the current password again", () => {
    expect(checkPasswordForm({ current: "x", next: "ü".repeat(12), repeat: "ü".repeat(12) }).fields.new_password).toBeUndefined();
    const same = checkPasswordForm({ current: "the-same-password", next: "the-same-password", repeat: "the-same-password" });
    expect(same.fields.new_password).toEqual(["This is your current password; choose a new one."]);
  });
});
