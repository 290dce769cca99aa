import { useState } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { Dialog } from "@/components/ui/Dialog";
import { Input } from "@/components/ui/Field";
import { Pager } from "@/components/ui/Pager";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { WritesBlocked } from "@/components/WritesBlocked";
import { ApiError, errorMessage } from "@/lib/api/errors";
import { formatDate, plural } from "@/lib/format";
import { useRecheckHealth, useWritesAllowed } from "@/lib/health";
import { usePagedSearch } from "@/lib/usePagedSearch";
import { keyState, PAGE_SIZE, useKeyPage, useRevokeKey, type ApiKeyView, type KeyState } from "../api/keys";
import { NewKeyDialog } from "./NewKeyDialog";

const STATE_STYLE: Record<KeyState, string> = {
  active: "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
  revoked: "bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100",
  expired: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
};

/** The current user's API keys (for scripts): create (secret shown once), list, revoke. */
export function ApiKeysPage() {
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const { search, setSearch, q, offset, setOffset } = usePagedSearch();
  const page = useKeyPage(q, offset);
  const revoke = useRevokeKey();
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiKeyView | null>(null);
  const [done, setDone] = useState<string | null>(null);

  return (
    <section>
      <PageHeader
        title="API keys"
        actions={
          <Button variant="primary" disabled={!allowed} onClick={() => { setDone(null); setCreating(true); }}>
            New API key
          </Button>
        }
      >
        Your keys for scripts (<code>Authorization: Bearer sy_…</code>). They act as you, with your grants.
      </PageHeader>
      <div className="space-y-4">
        <WritesBlocked />
        {done && <Banner tone="success">{done}</Banner>}
        <div className="max-w-md">
          <label htmlFor="key-search" className="sr-only">
            Search keys by name
          </label>
          <Input id="key-search" type="search" placeholder="Search by name…" value={search} onChange={(e) => { setSearch(e.target.value); }} />
        </div>
        {page.isPending ? (
          <Loading what="Loading your keys" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          q ? <Empty title={`No key matches “${q}”`} /> : <Empty title="No API keys yet">Create one for a script; the browser never needs one.</Empty>
        ) : (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400">{page.data.total_exact ? plural(page.data.total, "key") : `More than ${plural(page.data.total, "key")}`}</p>
            <Table caption="Your API keys">
              <THead>
                <tr>
                  <Th>Name</Th>
                  <Th>Prefix</Th>
                  <Th>State</Th>
                  <Th>Created</Th>
                  <Th>Expires</Th>
                  <Th>Last used</Th>
                  <Th className="relative">
                    <span className="sr-only">Actions</span>
                  </Th>
                </tr>
              </THead>
              <TBody>
                {page.data.items.map((k) => {
                  const state = keyState(k, page.dataUpdatedAt);
                  return (
                    <Tr key={k.id}>
                      <Td className="font-medium break-all">{k.name}</Td>
                      <Td>
                        <code className="text-xs break-all">{k.prefix}</code>
                      </Td>
                      <Td>
                        <span className={cn("rounded px-2 py-0.5 text-xs font-semibold", STATE_STYLE[state])}>{state}</span>
                        {k.revoked_at && <span className="ml-1 text-xs text-slate-500 dark:text-slate-400">{formatDate(k.revoked_at)}</span>}
                      </Td>
                      <Td className="whitespace-nowrap">{formatDate(k.created_at)}</Td>
                      <Td className="whitespace-nowrap">{k.expires_at ? formatDate(k.expires_at) : "never"}</Td>
                      <Td className="whitespace-nowrap">{k.last_used_at ? formatDate(k.last_used_at) : "never"}</Td>
                      <Td>
                        {state !== "revoked" && (
                          <Button variant="danger" aria-label={`Revoke ${k.name}`} disabled={!allowed} onClick={() => { revoke.reset(); setRevoking(k); }}>
                            Revoke
                          </Button>
                        )}
                      </Td>
                    </Tr>
                  );
                })}
              </TBody>
            </Table>
            <Pager what="keys" offset={offset} limit={PAGE_SIZE} shown={page.data.items.length} total={page.data.total} totalExact={page.data.total_exact} onOffset={setOffset} />
          </>
        )}
      </div>
      {creating && <NewKeyDialog onClose={() => { setCreating(false); }} />}
      <Dialog
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ""}?`}
        onClose={() => { if (!revoke.isPending) setRevoking(null); }}
        footer={
          <>
            <Button disabled={revoke.isPending} onClick={() => { setRevoking(null); }}>
              Cancel
            </Button>
            <Button
              variant="danger"
              busy={revoke.isPending}
              disabled={!allowed}
              onClick={() => {
                if (!revoking) return;
                revoke.mutate(revoking.id, {
                  onSuccess: () => {
                    setDone(`Revoked ${revoking.name} (${revoking.prefix}).`);
                    setRevoking(null);
                  },
                  onError: (e) => {
                    if (e instanceof ApiError && e.status === 503) recheckHealth();
                  },
                });
              }}
            >
              Revoke key
            </Button>
          </>
        }
      >
        <p className="text-sm">
          Scripts using <code>{revoking?.prefix}</code> stop working at once (401). This cannot be undone.
        </p>
        {revoke.isError && (
          <Banner tone="error" title="Not revoked" className="mt-3">
            {errorMessage(revoke.error)}
          </Banner>
        )}
      </Dialog>
    </section>
  );
}
