import { describe, expect, it } from "vitest";
import { isEmptyMatch, matchBadges, matchOfInput, zoneLabel } from "./routeMatch";

describe("route match badges", () => {
  it("names every condition compactly, in the order the proxy weighs them", () => {
    expect(matchBadges({ query: [{ name: "v", equals: "2" }, { name: "debug" }], headers: [{ name: "x-beta", equals: "1" }, { name: "ua", regex: "^curl" }, { name: "x-trace" }], methods: ["POST", "PUT"], path_regex: "^/v[0-9]+/" })).toEqual([
      "~ ^/v[0-9]+/",
      "POST PUT",
      "x-beta=1",
      "ua~^curl",
      "x-trace present",
      "?v=2",
      "?debug",
    ]);
    expect(matchBadges({ path_exact: "/api/health" })).toEqual(["= /api/health"]);
    expect(matchBadges(undefined)).toEqual([]);
    expect(isEmptyMatch({ methods: [], headers: [] })).toBe(true);
  });

  it("names a zone by hostname, prefix and conditions", () => {
    expect(zoneLabel("shop.example.com", "/api")).toBe("shop.example.com/api");
    expect(zoneLabel("shop.example.com", "/api", { methods: ["POST"] })).toBe("shop.example.com/api [POST]");
    expect(zoneLabel("shop.example.com", undefined, { methods: ["GET"], query: [{ name: "v", equals: "2" }] })).toBe("shop.example.com [GET, ?v=2]");
  });

  it("reads the well-formed part of a match the user gave", () => {
    expect(matchOfInput("POST")).toBeUndefined();
    expect(matchBadges(matchOfInput({ methods: ["POST", 3], headers: [{ name: "x-a", equals: "1" }, { equals: "no name" }, "x"], query: 7, path_exact: 1 }))).toEqual(["POST", "x-a=1"]);
  });
});
