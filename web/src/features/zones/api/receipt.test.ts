import { describe, expect, it } from "vitest";
import { receiptFromHeaders } from "./zones";

describe("a DELETE's receipt (204, in headers)", () => {
  it("reads the version and the commit time", () => {
    const headers = new Headers({ "x-switchyard-version": "42", "x-switchyard-committed-at": "2026-11-22T10:00:05.250Z" });
    expect(receiptFromHeaders(headers)).toEqual({ version: 42, committedAt: Date.parse("2026-11-22T10:00:05.250Z") });
  });

  it("has no version when Redis did not take the write (queued)", () => {
    const headers = new Headers({ "x-switchyard-committed-at": "2026-11-22T10:00:05Z" });
    expect(receiptFromHeaders(headers).version).toBeNull();
  });
});
