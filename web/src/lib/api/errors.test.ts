import { describe, expect, it } from "vitest";
import { ApiError, apiErrorFrom, errorMessage, networkError } from "./errors";
import { readCookie } from "./client";
import { safeNext } from "../auth";

describe("the API's error shape", () => {
  it("reads code, message and every field problem", () => {
    const e = apiErrorFrom(422, { error: { code: "invalid", message: "2 problems", details: [{ field: "hostname", problem: "bad" }, { field: "allow[0]", problem: "worse" }] } }, "req-1");
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.code).toBe("invalid");
    expect(e.message).toBe("2 problems");
    expect(e.details).toEqual([{ field: "hostname", problem: "bad" }, { field: "allow[0]", problem: "worse" }]);
  });

  it("copes with bodies of another shape", () => {
    expect(apiErrorFrom(502, "Bad Gateway").message).toBe("Bad Gateway");
    expect(apiErrorFrom(500, undefined).message).toBe("the panel API answered 500");
    expect(apiErrorFrom(422, { error: { code: "invalid", message: "x", details: [{ field: 1 }] } }).details).toEqual([]);
  });

  it("says it in words, with the request id for server errors", () => {
    expect(errorMessage(apiErrorFrom(503, { error: { code: "unavailable", message: "PostgreSQL is unreachable" } }, "abc"))).toBe("PostgreSQL is unreachable (request id abc)");
    expect(errorMessage(apiErrorFrom(404, { error: { code: "not_found", message: "not found" } }))).toBe("Not found (or not yours to see)");
    expect(errorMessage(networkError(new TypeError("Failed to fetch")))).toBe("The panel API cannot be reached: Failed to fetch");
  });
});

describe("session helpers", () => {
  it("reads the CSRF cookie", () => {
    expect(readCookie("a=1; sy_csrf=abc%3D; b=2", "sy_csrf")).toBe("abc=");
    expect(readCookie("a=1", "sy_csrf")).toBeNull();
  });

  it("only returns to paths inside the panel after login", () => {
    expect(safeNext("/zones?q=app")).toBe("/zones?q=app");
    expect(safeNext(null)).toBe("/");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext("/login?next=/x")).toBe("/");
  });
});
