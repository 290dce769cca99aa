import { describe, expect, it } from "vitest";
import { emptyZoneForm, formErrors, formFromZone, specFromForm, type ZoneFormValues } from "./form";
import type { ZoneView } from "./types";

const zone: ZoneView = {
  id: "0b6f0c8e-0000-4000-8000-000000000001",
  domain_id: "0b6f0c8e-0000-4000-8000-000000000002",
  hostname: "app.example.com",
  path_prefix: "/api",
  backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.5:8080", weight: 3 }, { url: "http://10.0.0.6:8080", weight: 1 }] },
  force_https: true,
  preserve_host: false,
  allow: ["10.0.0.0/8", "192.0.2.1"],
  timeouts: { connect_ms: 500, read_ms: null },
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-02T00:00:00Z",
};

describe("form ↔ API", () => {
  it("fills the form from a zone and gives back the same spec", () => {
    const form = formFromZone(zone);
    expect(form.allow).toBe("10.0.0.0/8\n192.0.2.1");
    expect(form.upstreams).toEqual([
      { url: "http://10.0.0.5:8080", weight: "3" },
      { url: "http://10.0.0.6:8080", weight: "1" },
    ]);
    expect(form.connect_ms).toBe("500");
    expect(form.read_ms).toBe("");
    expect(specFromForm(form)).toEqual({
      ok: true,
      spec: {
        hostname: "app.example.com",
        path_prefix: "/api",
        backend: zone.backend,
        force_https: true,
        preserve_host: false,
        allow: ["10.0.0.0/8", "192.0.2.1"],
        timeouts: { connect_ms: 500 },
      },
    });
  });

  it("round-trips a named backend's parameters", () => {
    const named = { ...zone, backend: { kind: "named" as const, name: "svc", params: { port: "8080", region: "eu" } } };
    const form = formFromZone(named);
    expect(form.namedParams).toBe("port=8080\nregion=eu");
    const result = specFromForm(form);
    expect(result.ok && result.spec.backend).toEqual(named.backend);
  });

  it("trims what was typed and drops empty lines", () => {
    const form: ZoneFormValues = { ...emptyZoneForm, hostname: "  a.example.com ", allow: "\n 10.0.0.1 \n\n", upstreams: [{ url: " http://x:1 ", weight: " 2 " }] };
    const result = specFromForm(form);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.spec.hostname).toBe("a.example.com");
    expect(result.spec.allow).toEqual(["10.0.0.1"]);
    expect(result.spec.backend).toEqual({ kind: "upstreams", upstreams: [{ url: "http://x:1", weight: 2 }] });
    expect(result.spec.timeouts).toEqual({});
  });

  it("sends every upstream row so the API's positions are the form's", () => {
    const form: ZoneFormValues = { ...emptyZoneForm, upstreams: [{ url: "", weight: "1" }, { url: "http://b:1", weight: "1" }] };
    const result = specFromForm(form);
    expect(result.ok && result.spec.backend).toEqual({ kind: "upstreams", upstreams: [{ url: "", weight: 1 }, { url: "http://b:1", weight: 1 }] });
  });

  it("refuses what cannot be sent, naming the API's field", () => {
    const form: ZoneFormValues = { ...emptyZoneForm, connect_ms: "fast", upstreams: [{ url: "http://a:1", weight: "x" }] };
    expect(specFromForm(form)).toEqual({
      ok: false,
      problems: [
        { field: "backend.upstreams[0].weight", problem: '"x" is not a whole number' },
        { field: "timeouts.connect_ms", problem: '"fast" is not a whole number of milliseconds' },
      ],
    });
    const named: ZoneFormValues = { ...emptyZoneForm, backendKind: "named", namedName: "svc", namedParams: "port=1\nnonsense" };
    expect(specFromForm(named)).toEqual({ ok: false, problems: [{ field: "backend.params", problem: 'line 2 ("nonsense") is not name=value' }] });
  });

  it("a zone without a backend is kind none", () => {
    const result = specFromForm({ ...emptyZoneForm, hostname: "x.example.com", backendKind: "none" });
    expect(result.ok && result.spec.backend).toEqual({ kind: "none" });
  });
});

describe("API field errors → form fields", () => {
  it("puts each problem next to the field it names", () => {
    const errors = formErrors([
      { field: "hostname", problem: "lies within no domain you may edit" },
      { field: "path_prefix", problem: "must start with /" },
      { field: "allow[2]", problem: "\"banana\" is not an address" },
      { field: "backend.upstreams[1].url", problem: "not a URL" },
      { field: "backend.upstreams[0]", problem: "duplicate" },
      { field: "backend.upstreams[0].weight", problem: "weights must be 1–1000" },
      { field: "backend.name", problem: "no named backend \"svc\"" },
      { field: "backend.params.port", problem: "missing" },
      { field: "timeouts.read_ms", problem: "too long" },
    ]);
    expect(errors.other).toEqual([]);
    expect(errors.fields).toEqual({
      hostname: ["lies within no domain you may edit"],
      path_prefix: ["must start with /"],
      allow: ["line 3: \"banana\" is not an address"],
      "backend.upstreams[1].url": ["not a URL"],
      "backend.upstreams[0].url": ["duplicate"],
      "backend.upstreams[0].weight": ["weights must be 1–1000"],
      "backend.name": ["no named backend \"svc\""],
      "backend.params": ["missing"],
      "timeouts.read_ms": ["too long"],
    });
  });

  it("keeps several problems of one field, in order", () => {
    expect(formErrors([{ field: "hostname", problem: "a" }, { field: "hostname", problem: "b" }]).fields.hostname).toEqual(["a", "b"]);
  });

  it("reads bulk-shaped positions as the zone's own fields", () => {
    expect(formErrors([{ field: "create[0].hostname", problem: "x" }]).fields.hostname).toEqual(["x"]);
    expect(formErrors([{ field: "update[3].zone.path_prefix", problem: "y" }]).fields.path_prefix).toEqual(["y"]);
  });

  it("names problems the form has no field for above it", () => {
    const errors = formErrors([{ field: "after", problem: "not a cursor" }, { field: "", problem: "body is not JSON" }]);
    expect(errors.fields).toEqual({});
    expect(errors.other).toEqual(["after: not a cursor", "body is not JSON"]);
  });
});
