import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Permission } from "@/lib/can";
import type { Diff, ZoneView } from "../api/types";
import type { ZoneRevision } from "../api/history";
import { ZoneHistory, type RolledBack } from "./ZoneHistory";

// The API client keeps the `fetch` it was created with: answer from here, before it loads.
type Answer = (method: string, path: string, body: unknown) => { status: number; body: unknown };
const net = vi.hoisted(() => {
  const state: { answer: Answer; requests: { method: string; path: string; body: unknown }[] } = {
    answer: () => ({ status: 500, body: {} }),
    requests: [],
  };
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = await request.text();
    const body: unknown = text ? JSON.parse(text) : undefined;
    const path = new URL(request.url).pathname;
    state.requests.push({ method: request.method, path, body });
    const { status, body: answer } = state.answer(request.method, path, body);
    return new Response(JSON.stringify(answer), { status, headers: { "content-type": "application/json" } });
  };
  return state;
});

const permission = vi.hoisted((): { value: Permission } => ({ value: { allowed: true, reason: null, because: null } }));
vi.mock("@/lib/can", () => ({ useCan: () => permission.value }));

afterEach(cleanup);
beforeEach(() => {
  net.requests = [];
  permission.value = { allowed: true, reason: null, because: null };
});

const first: ZoneView = {
  id: "z1",
  domain_id: "d1",
  hostname: "www.shop.test",
  path_prefix: "",
  backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.1:8080", weight: 1 }] },
  force_https: false,
  preserve_host: false,
  allow: [],
  timeouts: {},
  created_at: "2026-12-06T20:00:00Z",
  updated_at: "2026-12-06T20:00:00Z",
};
const second: ZoneView = { ...first, backend: { kind: "upstreams", upstreams: [{ url: "http://10.0.0.9:8080", weight: 1 }] }, updated_at: "2026-12-06T20:05:00Z" };

const head = (number: number, action: string) => ({ number, action, actor: "root (session)", at: "2026-12-06T20:00:00Z", restores: null, request_id: null });
const created: ZoneRevision = { ...head(3, "zone.create"), kind: "zone", id: "z1", key: "www.shop.test", op: "create", before: null, after: first as unknown as Record<string, never> };
const changed: ZoneRevision = { ...head(5, "zone.update"), kind: "zone", id: "z1", key: "www.shop.test", op: "update", before: first as unknown as Record<string, never>, after: second as unknown as Record<string, never> };
const rollbackDiff = (dry_run: boolean): Diff => ({ dry_run, created: [], changed: [{ id: "z1", before: second, after: first }], deleted: [], records: [], revision: dry_run ? null : 7, version: dry_run ? null : 4 });

function show(onRolledBack: (done: RolledBack) => void = () => undefined) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <ZoneHistory zoneId="z1" title="www.shop.test" domainId="d1" onRolledBack={onRolledBack} />
    </QueryClientProvider>,
  );
  return client;
}

const history = (items: ZoneRevision[]) => (method: string, path: string) =>
  method === "GET" && path === "/api/v1/zones/z1/revisions" ? { status: 200, body: { items, limit: 20 } } : { status: 500, body: {} };

describe("<ZoneHistory>", () => {
  it("lists the revisions newest first, each before → after; the newest is current, with no rollback", async () => {
    net.answer = history([changed, created]);
    show();
    expect(screen.getByRole("status").textContent).toMatch(/Loading the zone’s history/);
    const list = await screen.findByRole("list", { name: "Revisions of www.shop.test" });
    const newest = within(list).getByRole("listitem", { name: "Revision 5: Zone changed by root (session)" });
    expect(within(newest).getByText("current")).toBeTruthy();
    expect(within(newest).queryByRole("button")).toBeNull();
    const backend = within(newest).getByRole("row", { name: /Backend/ });
    expect(within(backend).getByRole("deletion").textContent).toBe("http://10.0.0.1:8080");
    expect(within(backend).getByRole("insertion").textContent).toBe("http://10.0.0.9:8080");
    const oldest = within(list).getByRole("listitem", { name: "Revision 3: Zone created by root (session)" });
    expect(within(oldest).getByRole("button", { name: "Roll back to this (revision 3)" })).toBeTruthy();
  });

  it("says when no history is recorded", async () => {
    net.answer = history([]);
    show();
    expect(await screen.findByText("No history recorded for this zone")).toBeTruthy();
  });

  it("shows the API's message when the history cannot be read", async () => {
    net.answer = () => ({ status: 503, body: { error: { code: "unavailable", message: "PostgreSQL is unavailable", details: [] } } });
    show();
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Could not load the zone’s history");
    expect(alert.textContent).toContain("PostgreSQL is unavailable");
  });

  it("offers a read-only user no rollback, and says why", async () => {
    permission.value = { allowed: false, reason: "Read-only: you hold a read grant on this zone’s domain, so you may look but not change or delete it.", because: "rights" };
    net.answer = history([changed, created]);
    show();
    await screen.findByRole("list", { name: "Revisions of www.shop.test" });
    const button = await screen.findByRole("button", { name: "Roll back to this (revision 3)" });
    expect((button as HTMLButtonElement).disabled).toBe(true);
    const note = document.getElementById(button.getAttribute("aria-describedby") ?? "");
    expect(note?.textContent).toMatch(/^Read-only: you hold a read grant/);
  });

  it("rolls back through the API's dry run, and applies only on confirm", async () => {
    net.answer = (method, path, body) => {
      if (method === "POST" && path === "/api/v1/zones/z1/rollback") {
        const dry = (body as { dry_run?: boolean }).dry_run === true;
        return { status: 200, body: rollbackDiff(dry) };
      }
      return history([changed, created])(method, path);
    };
    const done = vi.fn();
    show(done);
    fireEvent.click(await screen.findByRole("button", { name: "Roll back to this (revision 3)" }));
    const dialog = await screen.findByRole("dialog", { name: "Roll back to revision 3?" });
    expect(within(within(dialog).getByRole("row", { name: /Backend/ })).getByRole("insertion").textContent).toBe("http://10.0.0.1:8080");
    expect(net.requests.filter((r) => r.method === "POST")).toEqual([{ method: "POST", path: "/api/v1/zones/z1/rollback", body: { revision: 3, dry_run: true } }]);
    expect(done).not.toHaveBeenCalled();

    fireEvent.click(within(dialog).getByRole("button", { name: "Roll back" }));
    await waitFor(() => {
      expect(done).toHaveBeenCalledWith({ to: 3, diff: rollbackDiff(false) });
    });
    expect(net.requests.filter((r) => r.method === "POST").map((r) => r.body)).toEqual([{ revision: 3, dry_run: true }, { revision: 3 }]);
  });

  it("shows a refusal in words: a 403's message, a 422's problem by field", async () => {
    let refusal = { status: 403, body: { error: { code: "forbidden", message: "you may read this zone but not change it", details: [] } } };
    net.answer = (method, path) => (method === "POST" ? refusal : history([changed, created])(method, path));
    show();
    fireEvent.click(await screen.findByRole("button", { name: "Roll back to this (revision 3)" }));
    let alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Not rolled back to revision 3");
    expect(alert.textContent).toContain("you may read this zone but not change it");
    expect(screen.queryByRole("dialog")).toBeNull();

    refusal = { status: 422, body: { error: { code: "invalid", message: "the request is invalid", details: [{ field: "revision", problem: "revision 3 is no longer kept" } as never] } } };
    fireEvent.click(screen.getByRole("button", { name: "Roll back to this (revision 3)" }));
    await waitFor(() => {
      alert = screen.getByRole("alert");
      expect(alert.textContent).toContain("revision: revision 3 is no longer kept");
    });
  });
});
