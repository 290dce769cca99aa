import { useState } from "react";
import { Link, useLocation, useNavigate } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { cn } from "@/components/ui/cn";
import { Input } from "@/components/ui/Field";
import { Pager } from "@/components/ui/Pager";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { WritesBlocked } from "@/components/WritesBlocked";
import { formatDate, plural } from "@/lib/format";
import { useWritesAllowed } from "@/lib/health";
import { usePagedSearch } from "@/lib/usePagedSearch";
import { PAGE_SIZE, useUserPage } from "../api/users";
import { NewUserDialog } from "./NewUserDialog";

/** Users (admins): list, create; each user's page sets role, state and grants. */
export function UsersPage() {
  const { allowed } = useWritesAllowed();
  const navigate = useNavigate();
  const { search, setSearch, q, offset, setOffset } = usePagedSearch();
  const page = useUserPage(q, offset);
  const [creating, setCreating] = useState(false);
  const deleted = ((useLocation().state ?? {}) as { deleted?: string }).deleted;

  return (
    <section>
      <PageHeader
        title="Users"
        actions={
          <Button variant="primary" disabled={!allowed} onClick={() => { setCreating(true); }}>
            New user
          </Button>
        }
      >
        Admins see everything; a user sees the domains and named backends granted to them.
      </PageHeader>
      <div className="space-y-4">
        {deleted && <Banner tone="success">Deleted {deleted}, with their sessions, API keys and grants.</Banner>}
        <WritesBlocked />
        <div className="max-w-md">
          <label htmlFor="user-search" className="sr-only">
            Search users by name
          </label>
          <Input id="user-search" type="search" placeholder="Search by username…" value={search} onChange={(e) => { setSearch(e.target.value); }} />
        </div>
        {page.isPending ? (
          <Loading what="Loading users" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          <Empty title={q ? `No user matches “${q}”` : "No users"} />
        ) : (
          <>
            <p className="text-sm text-slate-600 dark:text-slate-400">{page.data.total_exact ? plural(page.data.total, "user") : `More than ${plural(page.data.total, "user")}`}</p>
            <Table caption="Users">
              <THead>
                <tr>
                  <Th>Username</Th>
                  <Th>Role</Th>
                  <Th>State</Th>
                  <Th>Created</Th>
                </tr>
              </THead>
              <TBody>
                {page.data.items.map((u) => (
                  <Tr key={u.id}>
                    <Td className="font-medium break-all">
                      <Link to={`/users/${u.id}`} className="text-teal-700 underline-offset-2 hover:underline dark:text-teal-400">
                        {u.username}
                      </Link>
                    </Td>
                    <Td>{u.role}</Td>
                    <Td>
                      <span className={cn("rounded px-2 py-0.5 text-xs font-semibold", u.disabled ? "bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100" : "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100")}>
                        {u.disabled ? "disabled" : "enabled"}
                      </span>
                    </Td>
                    <Td className="whitespace-nowrap">{formatDate(u.created_at)}</Td>
                  </Tr>
                ))}
              </TBody>
            </Table>
            <Pager what="users" offset={offset} limit={PAGE_SIZE} shown={page.data.items.length} total={page.data.total} totalExact={page.data.total_exact} onOffset={setOffset} />
          </>
        )}
      </div>
      {creating && (
        <NewUserDialog
          onClose={() => { setCreating(false); }}
          onCreated={(u) => { void navigate(`/users/${u.id}`, { state: { created: true } }); }}
        />
      )}
    </section>
  );
}
