import { describe, expect, it } from "vitest";
import { CERTIFICATE_CHOICES, choiceHint, choiceLabel, switchEffect } from "./certificateChoice";

describe("certificate choice", () => {
  it("offers the API's default first", () => {
    expect(CERTIFICATE_CHOICES).toEqual(["wildcard", "per_host"]);
  });

  it("labels each choice by how it is validated", () => {
    expect(choiceLabel("wildcard")).toContain("DNS-01");
    expect(choiceLabel("per_host")).toContain("HTTP-01");
  });

  it("hints with the domain's own names, or an example while none is typed", () => {
    expect(choiceHint("wildcard", "shop.test")).toContain("*.shop.test and shop.test");
    expect(choiceHint("per_host", "shop.test")).toContain("each zone hostname under shop.test");
    expect(choiceHint("wildcard", "  ")).toContain("*.example.com");
  });

  it("says what a switch does, and nothing when there is none", () => {
    expect(switchEffect("wildcard", "wildcard")).toBeNull();
    expect(switchEffect("per_host", "per_host")).toBeNull();
    expect(switchEffect("wildcard", "per_host")).toMatch(/keeps serving/);
    expect(switchEffect("per_host", "wildcard")).toMatch(/until the wildcard is issued/);
  });
});
