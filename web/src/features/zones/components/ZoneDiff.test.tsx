import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { NO_NEW_SECRETS, type NewSecrets } from "../api/policies";
import type { Diff, ZoneView } from "../api/types";
import { ZoneDiff } from "./ZoneDiff";

afterEach(cleanup);

const base: ZoneView = {
  id: "z1",
  domain_id: "d1",
  hostname: "app.example.com",
  path_prefix: "/api",
  backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.5:8080", weight: 1 }] },
  force_https: false,
  preserve_host: false,
  allow: [],
  timeouts: {},
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
};

function show(diff: Diff, secrets: NewSecrets = NO_NEW_SECRETS) {
  const client = new QueryClient();
  return render(
    <QueryClientProvider client={client}>
      <ZoneDiff diff={diff} secrets={secrets} />
    </QueryClientProvider>,
  );
}

describe("<ZoneDiff>", () => {
  it("shows a change as before → after for the fields that differ", () => {
    const route = { zone_id: "z1", path_prefix: "/api", upstreams: [{ url: "http://10.0.0.5:8080", weight: 1 }], force_https: false, preserve_host: false, allow: [], timeouts: {} };
    const record = {
      hostname: "app.example.com",
      key: "switchyard:zone:app.example.com",
      before: { host: "app.example.com", routes: [route] },
      after: { host: "app.example.com", routes: [{ ...route, force_https: true }] },
    };
    show({ dry_run: true, created: [], deleted: [], changed: [{ id: "z1", before: base, after: { ...base, force_https: true } }], records: [record] });
    const list = screen.getByRole("list", { name: "Changes" });
    expect(within(list).getByText("Change")).toBeTruthy();
    expect(within(list).getByText("app.example.com/api")).toBeTruthy();
    const row = screen.getByRole("row", { name: /Force HTTPS/ });
    expect(within(row).getByText("no").tagName).toBe("DEL");
    expect(within(row).getByText("yes").tagName).toBe("INS");
    expect(screen.queryByRole("row", { name: /Hostname/ })).toBeNull();
    // What Redis will hold, now and after.
    expect(screen.getByText("switchyard:zone:app.example.com")).toBeTruthy();
    expect(screen.getByText(/"force_https": false/)).toBeTruthy();
    expect(screen.getByText(/"force_https": true/)).toBeTruthy();
  });

  it("says so when nothing would change", () => {
    show({ dry_run: true, created: [], deleted: [], changed: [{ id: "z1", before: base, after: base }], records: [] });
    expect(screen.getByText(/Nothing would change/)).toBeTruthy();
  });

  it("shows a delete with every field going away", () => {
    const record = { hostname: "app.example.com", key: "switchyard:zone:app.example.com", before: { host: "app.example.com", routes: [] }, after: null };
    show({ dry_run: true, created: [], changed: [], deleted: [base], records: [record] });
    expect(screen.getByText("Delete")).toBeTruthy();
    expect(screen.getByRole("row", { name: /Hostname/ })).toBeTruthy();
    expect(screen.getByText("no record")).toBeTruthy();
  });

  it("shows a change of match conditions as a row, and names the zone by them", () => {
    const before = { ...base, match: { methods: ["GET"] } };
    const after = { ...base, match: { methods: ["POST"], headers: [{ name: "x-beta", equals: "1" }] } };
    show({ dry_run: true, created: [], deleted: [], changed: [{ id: "z1", before, after }], records: [] });
    expect(within(screen.getByRole("list", { name: "Changes" })).getByText("app.example.com/api [POST, x-beta=1]")).toBeTruthy();
    const row = screen.getByRole("row", { name: /Match conditions/ });
    expect(within(row).getByText("methods GET").tagName).toBe("DEL");
    expect(within(row).getByText("methods POST; header x-beta = “1”").tagName).toBe("INS");
    expect(screen.queryByRole("row", { name: /Policies/ })).toBeNull();
  });

  it("shows JWT and forward auth in the policies row, a new secret marked but never shown", () => {
    // As the API answers: the JWT policy without its secret, before and after alike.
    const policies = {
      jwt: { algorithms: ["HS256"], leeway_secs: 30, realm: "api" },
      forward_auth: { url: "http://auth.internal/check", timeout_ms: 5000 },
    };
    const before = { ...base, policies };
    const after = { ...base, policies };
    const diff = { dry_run: true, created: [], deleted: [], changed: [{ id: "z1", before, after }], records: [] };
    show(diff);
    expect(screen.getByText(/Nothing would change/)).toBeTruthy();
    cleanup();
    show(diff, { passwords: [], jwtSecret: true });
    const row = screen.getByRole("row", { name: /Policies/ });
    expect(within(row).getByText(/HMAC secret;/).tagName).toBe("DEL");
    const added = within(row).getByText(/HMAC secret \(new secret\); forward auth http:\/\/auth\.internal\/check, timeout 5000 ms/);
    expect(added.tagName).toBe("INS");
  });
});
