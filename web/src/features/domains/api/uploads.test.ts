import { describe, expect, it } from "vitest";
import { describeUpload, readPemFile, type UploadView } from "./uploads";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const upload = (over: Partial<UploadView>): UploadView => ({
  id: "u1",
  domain_id: "d1",
  hostname: null,
  name: "*.example.com",
  names: ["*.example.com", "example.com"],
  not_before: "2026-01-01T00:00:00Z",
  not_after: "2027-03-01T00:00:00Z",
  fingerprint_sha256: "ab".repeat(32),
  issuer: "CN=Corp CA",
  key_type: "ecdsa-p256",
  redis_key: "sy:cert:uploaded:*.example.com",
  created_at: "2026-12-01T00:00:00Z",
  updated_at: "2026-12-01T00:00:00Z",
  ...over,
});

describe("describeUpload", () => {
  it("says what a domain upload covers and that nothing renews it", () => {
    const s = describeUpload(upload({}), NOW);
    expect(s.covers).toBe("*.example.com and example.com");
    expect(s.tone).toBe("ok");
    expect(s.validity).toMatch(/83 days left; never renewed automatically/);
  });
  it("names the hostname of a hostname upload and warns within 30 days", () => {
    const s = describeUpload(upload({ hostname: "shop.example.com", not_after: "2026-12-20T12:00:00Z" }), NOW);
    expect(s.covers).toBe("shop.example.com");
    expect(s.tone).toBe("warn");
    expect(s.validity).toMatch(/13 days left/);
  });
  it("says an expired one must be replaced", () => {
    const s = describeUpload(upload({ not_after: "2026-12-01T00:00:00Z" }), NOW);
    expect(s.tone).toBe("bad");
    expect(s.validity).toMatch(/^Expired on .*: replace it\.$/);
  });
});

describe("readPemFile", () => {
  it("reads a PEM file and refuses anything else by name", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n";
    await expect(readPemFile(new File([pem], "chain.pem"))).resolves.toBe(pem);
    await expect(readPemFile(new File([new Uint8Array([0x30, 0x82, 0x01])], "leaf.der"))).rejects.toThrow("leaf.der is not a PEM file");
  });
});
