import { useState } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
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
import { PAGE_SIZE, useCredentialPage, useDeleteCredential } from "../api/credentials";
import { isProvider, PROVIDER_LABELS } from "../api/secret";
import type { CredentialView } from "../api/types";
import { CredentialDialog } from "./CredentialDialog";

/** DNS provider credentials (admins): list, create, rotate, delete. Secrets are write-only. */
export function CredentialsPage() {
  const { allowed } = useWritesAllowed();
  const recheckHealth = useRecheckHealth();
  const { search, setSearch, q, offset, setOffset } = usePagedSearch();
  const page = useCredentialPage(q, offset);
  const remove = useDeleteCredential();
  const [editing, setEditing] = useState<CredentialView | "new" | null>(null);
  const [deleting, setDeleting] = useState<CredentialView | null>(null);
  const [done, setDone] = useState<string | null>(null);

  return (
    <section>
      <PageHeader
        title="DNS credentials"
        actions={
          <Button variant="primary" disabled={!allowed} onClick={() => { setEditing("new"); }}>
            New credential
          </Button>
        }
      >
        How certificates' DNS-01 challenges are answered. Secrets are stored encrypted and never shown.
      </PageHeader>
      <div className="space-y-4">
        <WritesBlocked />
        {done && <Banner tone="success">{done}</Banner>}
        <div className="max-w-md">
          <label htmlFor="credential-search" className="sr-only">
            Search credentials by name
          </label>
          <Input id="credential-search" type="search" placeholder="Search by name…" value={search} onChange={(e) => { setSearch(e.target.value); }} />
        </div>
        {page.isPending ? (
          <Loading what="Loading credentials" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          q ? <Empty title={`No credential matches “${q}”`} /> : <Empty title="No DNS credentials yet">Add one so domains can get certificates.</Empty>
        ) : (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400">{page.data.total_exact ? plural(page.data.total, "credential") : `More than ${plural(page.data.total, "credential")}`}</p>
            <Table caption="DNS credentials">
              <THead>
                <tr>
                  <Th>Name</Th>
                  <Th>Provider</Th>
                  <Th>Secret</Th>
                  <Th>API base URL</Th>
                  <Th>Updated</Th>
                  <Th className="relative">
                    <span className="sr-only">Actions</span>
                  </Th>
                </tr>
              </THead>
              <TBody>
                {page.data.items.map((c) => (
                  <Tr key={c.id}>
                    <Td className="font-medium break-all">{c.name}</Td>
                    <Td>{isProvider(c.provider) ? PROVIDER_LABELS[c.provider] : c.provider}</Td>
                    <Td>{c.secret === "set" ? "set (hidden)" : c.provider === "manual" ? "none needed" : c.secret}</Td>
                    <Td className="break-all">{c.api_base_url ?? <span className="text-slate-500 dark:text-slate-400">the provider's</span>}</Td>
                    <Td className="whitespace-nowrap">{formatDate(c.updated_at)}</Td>
                    <Td>
                      <div className="flex flex-wrap gap-2">
                        <Button aria-label={`Rotate ${c.name}`} disabled={!allowed} onClick={() => { setDone(null); setEditing(c); }}>
                          Rotate
                        </Button>
                        <Button variant="danger" aria-label={`Delete ${c.name}`} disabled={!allowed} onClick={() => { setDone(null); remove.reset(); setDeleting(c); }}>
                          Delete
                        </Button>
                      </div>
                    </Td>
                  </Tr>
                ))}
              </TBody>
            </Table>
            <Pager what="credentials" offset={offset} limit={PAGE_SIZE} shown={page.data.items.length} total={page.data.total} totalExact={page.data.total_exact} onOffset={setOffset} />
          </>
        )}
      </div>
      {editing !== null && (
        <CredentialDialog
          existing={editing === "new" ? null : editing}
          onClose={() => { setEditing(null); }}
          onDone={(message) => {
            setEditing(null);
            setDone(message);
          }}
        />
      )}
      <Dialog
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ""}?`}
        onClose={() => { if (!remove.isPending) setDeleting(null); }}
        footer={
          <>
            <Button disabled={remove.isPending} onClick={() => { setDeleting(null); }}>
              Cancel
            </Button>
            <Button
              variant="danger"
              busy={remove.isPending}
              disabled={!allowed}
              onClick={() => {
                if (!deleting) return;
                remove.mutate(deleting.id, {
                  onSuccess: () => {
                    setDone(`Deleted ${deleting.name}.`);
                    setDeleting(null);
                  },
                  onError: (e) => {
                    if (e instanceof ApiError && e.status === 503) recheckHealth();
                  },
                });
              }}
            >
              Delete
            </Button>
          </>
        }
      >
        <p className="text-sm">Its sealed secret is destroyed. A credential a domain still uses cannot be deleted.</p>
        {remove.isError && (
          <Banner tone="error" title="Not deleted" className="mt-3">
            {errorMessage(remove.error)}
          </Banner>
        )}
      </Dialog>
    </section>
  );
}
