import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { Button } from "@/components/ui/Button";
import { Input } from "@/components/ui/Field";
import { Pager } from "@/components/ui/Pager";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { WritesBlocked } from "@/components/WritesBlocked";
import { useAuth } from "@/lib/auth";
import { plural } from "@/lib/format";
import { useCan } from "@/lib/can";
import { usePagedSearch } from "@/lib/usePagedSearch";
import { PAGE_SIZE, useBackendPage } from "../api/backends";
import { ownership } from "../api/rules";
import { NewBackendDialog } from "./NewBackendDialog";
import { Parameters } from "./Parameters";

/** Named backends: presets and custom ones, each a URL template zones render with their parameters. */
export function NamedBackendsPage() {
  const { user, isAdmin } = useAuth();
  const { allowed } = useCan({ kind: "own" });
  const navigate = useNavigate();
  const { search, setSearch, q, offset, setOffset } = usePagedSearch();
  const page = useBackendPage(q, offset);
  const [creating, setCreating] = useState(false);

  return (
    <section>
      <PageHeader
        title="Named backends"
        actions={
          <Button variant="primary" disabled={!allowed} onClick={() => { setCreating(true); }}>
            New named backend
          </Button>
        }
      >
        A URL template defined once; zones use it by name with their own parameters.
      </PageHeader>
      <div className="space-y-4">
        <WritesBlocked />
        <div className="max-w-md">
          <label htmlFor="backend-search" className="sr-only">
            Search named backends by name
          </label>
          <Input id="backend-search" type="search" placeholder="Search by name…" value={search} onChange={(e) => { setSearch(e.target.value); }} />
        </div>
        {page.isPending ? (
          <Loading what="Loading named backends" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          q ? <Empty title={`No named backend matches “${q}”`} /> : <Empty title="No named backends yet">Create one to share a backend URL pattern between zones.</Empty>
        ) : (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400">{page.data.total_exact ? plural(page.data.total, "named backend") : `More than ${plural(page.data.total, "named backend")}`}</p>
            <Table caption="Named backends">
              <THead>
                <tr>
                  <Th>Name</Th>
                  <Th>Kind</Th>
                  <Th>URL template</Th>
                  <Th>Parameters</Th>
                </tr>
              </THead>
              <TBody>
                {page.data.items.map((b) => (
                  <Tr key={b.id}>
                    <Td className="font-medium break-all">
                      <Link to={`/named-backends/${b.id}`} className="text-teal-700 underline-offset-2 hover:underline dark:text-teal-400">
                        {b.name}
                      </Link>
                    </Td>
                    <Td className="whitespace-nowrap">{ownership(b, user)}</Td>
                    <Td>
                      <code className="text-xs break-all">{b.url_template}</code>
                    </Td>
                    <Td>
                      <Parameters names={b.parameters} />
                    </Td>
                  </Tr>
                ))}
              </TBody>
            </Table>
            <Pager what="named backends" offset={offset} limit={PAGE_SIZE} shown={page.data.items.length} total={page.data.total} totalExact={page.data.total_exact} onOffset={setOffset} />
          </>
        )}
      </div>
      {creating && (
        <NewBackendDialog
          isAdmin={isAdmin}
          onClose={() => { setCreating(false); }}
          onCreated={(b) => { void navigate(`/named-backends/${b.id}`, { state: { created: true } }); }}
        />
      )}
    </section>
  );
}
