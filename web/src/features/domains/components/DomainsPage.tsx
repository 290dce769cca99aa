import { useState } from "react";
import { Link } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Input } from "@/components/ui/Field";
import { Pager } from "@/components/ui/Pager";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { WritesBlocked } from "@/components/WritesBlocked";
import { useAuth } from "@/lib/auth";
import { formatDate, plural } from "@/lib/format";
import { useCan } from "@/lib/can";
import { usePagedSearch } from "@/lib/usePagedSearch";
import { PAGE_SIZE, useCredentialOptions, useDomainPage } from "../api/domains";
import { choiceLabel } from "../api/certificateChoice";
import type { DomainView } from "../api/types";
import { DnsCheck } from "@/components/DnsCheck";
import { CertificateStatus } from "./CertificateStatus";
import { DeleteDomainDialog } from "./DeleteDomainDialog";
import { EditDomainDialog } from "./EditDomainDialog";
import { NewDomainDialog } from "./NewDomainDialog";
import { UploadedCertificates } from "./UploadedCertificates";

/** Domains with their certificate: state, expiry, next attempt, manual TXT records, re-issue. */
export function DomainsPage() {
  const { isAdmin } = useAuth();
  const { allowed } = useCan({ kind: "admin" });
  const { search, setSearch, q, offset, setOffset } = usePagedSearch();
  const page = useDomainPage(q, offset);
  const credentials = useCredentialOptions(isAdmin);
  const credentialName = (id: string | null | undefined) => {
    if (!id) return "none";
    const c = credentials.data?.items.find((x) => x.id === id);
    return c ? `${c.name} (${c.provider === "manual" ? "manual DNS" : c.provider})` : isAdmin ? "unknown" : "set";
  };
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [editing, setEditing] = useState<DomainView | null>(null);
  const [deleting, setDeleting] = useState<DomainView | null>(null);

  return (
    <section>
      <PageHeader
        title="Domains"
        actions={
          isAdmin ? (
            <Button variant="primary" disabled={!allowed} onClick={() => { setCreating(true); }}>
              New domain
            </Button>
          ) : undefined
        }
      >
        Each domain gets a wildcard certificate; zones live under a domain.
      </PageHeader>
      <div className="space-y-4">
        {isAdmin && <WritesBlocked />}
        {!isAdmin && <p className="text-sm text-slate-600 dark:text-slate-400">Domains are added by administrators; these are the ones granted to you.</p>}
        {created && (
          <Banner tone="success" title={`Created ${created}`}>
            Its certificate order is pending; the state below updates by itself.
          </Banner>
        )}
        {done && <Banner tone="success">{done}</Banner>}
        <div className="max-w-md">
          <label htmlFor="domain-search" className="sr-only">
            Search domains by name
          </label>
          <Input id="domain-search" type="search" placeholder="Search by name…" value={search} onChange={(e) => { setSearch(e.target.value); }} />
        </div>
        {page.isPending ? (
          <Loading what="Loading domains" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          q ? <Empty title={`No domain matches “${q}”`} /> : <Empty title="No domains yet">{isAdmin ? "Add the first one with “New domain”." : "Ask an admin to grant you a domain."}</Empty>
        ) : (
          <>
            {"degraded" in page.data && page.data.degraded && <Banner tone="warning">These domains come from Redis (PostgreSQL is down).</Banner>}
            <p className="text-sm text-slate-600 dark:text-slate-400" aria-live="polite">
              {page.data.total_exact ? plural(page.data.total, "domain") : `More than ${plural(page.data.total, "domain")}`}
              {q && ` matching “${q}”`}
            </p>
            <ul aria-label="Domains" className="space-y-3">
              {page.data.items.map((d) => (
                <li key={d.id} aria-labelledby={`domain-${d.id}`} className="rounded-md border border-slate-200 p-4 dark:border-slate-700">
                  <div className="grid gap-3 md:grid-cols-[minmax(0,16rem)_1fr]">
                    <div className="min-w-0 space-y-1">
                      <h2 id={`domain-${d.id}`} className="font-semibold break-all">{d.name}</h2>
                      <p className="text-xs text-slate-500 dark:text-slate-400">Certificates: {choiceLabel(d.certificates)}</p>
                      <p className="text-xs text-slate-500 dark:text-slate-400">DNS credential: {credentialName(d.dns_credential_id)}</p>
                      <p className="text-xs text-slate-500 dark:text-slate-400">Added {formatDate(d.created_at)}</p>
                      <p className="text-xs">
                        <Link to={`/zones?q=${encodeURIComponent(d.name)}`} className="text-teal-700 underline dark:text-teal-400">
                          Zones under {d.name}
                        </Link>
                      </p>
                      {isAdmin && !("degraded" in d && d.degraded) && (
                        <div className="flex flex-wrap gap-2 pt-1">
                          <Button disabled={!allowed} aria-label={`Change the certificates and DNS credential of ${d.name}`} onClick={() => { setDone(null); setEditing(d); }}>
                            Certificates…
                          </Button>
                          <Button variant="danger" disabled={!allowed} aria-label={`Delete ${d.name}`} onClick={() => { setDone(null); setDeleting(d); }}>
                            Delete…
                          </Button>
                        </div>
                      )}
                    </div>
                    <CertificateStatus domainId={d.id} domainName={d.name} degraded={"degraded" in d && d.degraded} choice={d.certificates} />
                    {!("degraded" in d && d.degraded) && <DnsCheck target={{ kind: "domain", id: d.id }} />}
                    {!("degraded" in d && d.degraded) && <UploadedCertificates domainId={d.id} domainName={d.name} />}
                  </div>
                </li>
              ))}
            </ul>
            <Pager what="domains" offset={offset} limit={PAGE_SIZE} shown={page.data.items.length} total={page.data.total} totalExact={page.data.total_exact} onOffset={setOffset} />
          </>
        )}
      </div>
      {editing && (
        <EditDomainDialog
          domain={editing}
          onClose={() => { setEditing(null); }}
          onSaved={(d) => { setDone(`${d.name} now gets certificates: ${choiceLabel(d.certificates)}, DNS credential ${credentialName(d.dns_credential_id)}.`); }}
        />
      )}
      {deleting && (
        <DeleteDomainDialog
          domain={deleting}
          onClose={() => { setDeleting(null); }}
          onDeleted={(name) => { setCreated(null); setDone(`Deleted ${name}.`); }}
        />
      )}
      {isAdmin && (
        <NewDomainDialog
          open={creating}
          onClose={() => { setCreating(false); }}
          onCreated={(d) => { setCreated(d.name); }}
        />
      )}
    </section>
  );
}
