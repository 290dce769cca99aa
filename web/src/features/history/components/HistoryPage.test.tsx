import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Permission } from "@/lib/can";
import type { ConfigDiff, RevisionSummary } from "../api/revisions";
import { HistoryPage } from "./HistoryPage";

// The API client keeps the `fetch` it was created with: answer from here, before it loads.
type Answer = (method: string, path: string, body: unknown) => { status: number; body: unknown };
const net = vi.hoisted(() => {
  const state: { answer: Answer; requests: { method: string; path: string; query: string; body: unknown }[] } = {
    answer: () => ({ status: 500, body: {} }),
    requests: [],
  };
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = await request.text();
    const body: unknown = text ? JSON.parse(text) : undefined;
    const url = new URL(request.url);
    state.requests.push({ method: request.method, path: url.pathname, query: url.search, body });
    const { status, body: answer } = state.answer(request.method, url.pathname, body);
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

const at = "2026-12-06T20:00:00Z";
const rev = (number: number, action: string, records: RevisionSummary["records"]): RevisionSummary => ({ number, action, actor: "root (session)", at, restores: null, request_id: null, records, records_total: records.length });
const domainRev = rev(1, "domain.create", [{ id: "d1", key: "shop.test", kind: "domain", op: "create" }]);
const zoneRev = rev(3, "zone.create", [{ id: "z1", key: "www.shop.test", kind: "zone", op: "create" }]);
const zone = { id: "z1", domain_id: "d1", hostname: "www.shop.test", path_prefix: "", backend: { kind: "none" as const }, force_https: false, preserve_host: false, allow: [], timeouts: {}, created_at: at, updated_at: at };
const restoreDiff = (dry_run: boolean): ConfigDiff => ({
  to_revision: 1,
  dry_run,
  created: [],
  changed: [],
  deleted: [zone],
  records: [],
  named_backends: { created: [], changed: [], deleted: [] },
  domains: { created: [], kept: [{ domain: { id: "d2", name: "later.test", certificates: "wildcard", created_at: at }, reason: "created after revision 1; a rollback never deletes a domain" }] },
  revision: dry_run ? null : 9,
  version: dry_run ? null : 5,
});

const list = (items: RevisionSummary[], next?: string): Answer => (method, path) => {
  if (method === "GET" && path === "/api/v1/revisions") return { status: 200, body: { items, limit: 25, ...(next ? { next } : {}) } };
  if (method === "GET" && path === "/api/v1/revisions/3") return { status: 200, body: { ...zoneRev, records: [{ kind: "zone", id: "z1", key: "www.shop.test", op: "create", before: null, after: zone }], records_total: 1, limit: 50, offset: 0 } };
  return { status: 404, body: { error: { code: "not_found", message: "not found", details: [] } } };
};

function show() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <HistoryPage />
    </QueryClientProvider>,
  );
}

describe("<HistoryPage>", () => {
  it("lists the configuration's revisions, each with its records on demand", async () => {
    net.answer = list([zoneRev, domainRev], "3");
    show();
    expect(screen.getByText(/Loading the history/)).toBeTruthy();
    const revisions = await screen.findByRole("list", { name: "Revisions" });
    const top = within(revisions).getByRole("listitem", { name: "Revision 3: Zone created by root (session)" });
    expect(within(top).getByText("www.shop.test (zone created)")).toBeTruthy();
    // The newest is the configuration now: nothing to restore.
    expect(within(top).queryByRole("button", { name: /^Restore/ })).toBeNull();
    fireEvent.click(within(top).getByRole("button", { name: "Show records of revision 3" }));
    const records = await within(top).findByRole("list", { name: "Records of revision 3" });
    expect(within(records).getByRole("row", { name: /hostname/ }).textContent).toContain('"www.shop.test"');
    // Cursor paging: "Older" asks for the revisions below the page's `next`.
    fireEvent.click(screen.getByRole("button", { name: "Older" }));
    await waitFor(() => {
      expect(net.requests.some((r) => r.path === "/api/v1/revisions" && r.query.includes("after=3"))).toBe(true);
    });
  });

  it("says when there is no revision yet", async () => {
    net.answer = list([]);
    show();
    expect(await screen.findByText("No revisions yet")).toBeTruthy();
  });

  it("shows the API's message when the history cannot be read", async () => {
    net.answer = () => ({ status: 503, body: { error: { code: "unavailable", message: "PostgreSQL is unavailable", details: [] } } });
    show();
    expect((await screen.findByRole("alert")).textContent).toContain("PostgreSQL is unavailable");
  });

  it("restores the configuration through the dry run's every difference, applied only on confirm", async () => {
    net.answer = (method, path, body) => (method === "POST" && path === "/api/v1/rollback" ? { status: 200, body: restoreDiff((body as { dry_run?: boolean }).dry_run === true) } : list([zoneRev, domainRev])(method, path, body));
    show();
    fireEvent.click(await screen.findByRole("button", { name: "Restore configuration to this revision (revision 1)" }));
    const dialog = await screen.findByRole("dialog", { name: "Restore configuration to revision 1?" });
    expect(within(dialog).getByRole("status").textContent).toBe("1 zone deleted; 1 domain kept as it is.");
    expect(within(within(dialog).getByRole("region", { name: "Zones deleted" })).getByText("www.shop.test")).toBeTruthy();
    expect(within(within(dialog).getByRole("region", { name: "Domains kept" })).getByText(/a rollback never deletes a domain/)).toBeTruthy();
    expect(net.requests.filter((r) => r.method === "POST").map((r) => r.body)).toEqual([{ revision: 1, dry_run: true }]);

    fireEvent.click(within(dialog).getByRole("button", { name: "Restore" }));
    const done = await screen.findByText("Configuration restored to revision 1");
    expect(done.parentElement?.textContent).toContain("Recorded as revision 9. Redis version 5");
    expect(net.requests.filter((r) => r.method === "POST").map((r) => r.body)).toEqual([{ revision: 1, dry_run: true }, { revision: 1 }]);
  });

  it("shows a refused restore in words", async () => {
    net.answer = (method, path, body) =>
      method === "POST" ? { status: 422, body: { error: { code: "invalid", message: "the request is invalid", details: [{ field: "revision", problem: "revision 1 is no longer kept" }] } } } : list([zoneRev, domainRev])(method, path, body);
    show();
    fireEvent.click(await screen.findByRole("button", { name: "Restore configuration to this revision (revision 1)" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Not restored to revision 1");
    expect(alert.textContent).toContain("revision: revision 1 is no longer kept");
  });

  it("offers no restore to whoever may not make it, and says why", async () => {
    permission.value = { allowed: false, reason: "PostgreSQL is down: the panel is read-only", because: "health" };
    net.answer = list([zoneRev, domainRev]);
    show();
    const button = await screen.findByRole("button", { name: "Restore configuration to this revision (revision 1)" });
    expect((button as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByRole("note").textContent).toContain("PostgreSQL is down");
  });
});
