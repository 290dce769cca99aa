import { useEffect, useState } from "react";
import { Link, useLocation, useNavigate, useSearchParams } from "react-router";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { Input } from "@/components/ui/Field";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { WritesBlocked } from "@/components/WritesBlocked";
import { formatDate, plural } from "@/lib/format";
import { useCan } from "@/lib/can";
import { matchBadges, type RouteMatch } from "@/lib/routeMatch";
import { describeBackend } from "../api/diff";
import { policyBadges } from "../api/policies";
import { isDegradedZone, type Policies } from "../api/types";
import { useZonePage } from "../api/zones";
import { LiveOnFleet } from "./LiveOnFleet";
import { MatchBadge } from "./MatchSection";
import { PolicyBadge } from "./PoliciesSection";
import type { AppliedState } from "./ZoneEditorPage";

const SEARCH_DELAY_MS = 300;

function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const t = window.setTimeout(() => {
      setDebounced(value);
    }, ms);
    return () => {
      window.clearTimeout(t);
    };
  }, [value, ms]);
  return debounced;
}

/** Zones, a page at a time by the server's cursor, searched by the server. */
export function ZonesPage() {
  const navigate = useNavigate();
  const handed = (useLocation().state ?? {}) as AppliedState;
  const can = useCan({ kind: "new-zone" });
  // The search lives in the URL (?q=), so a link or a return from login keeps it.
  const [params, setParams] = useSearchParams();
  const [search, setSearch] = useState(() => params.get("q") ?? "");
  const q = useDebounced(search.trim(), SEARCH_DELAY_MS);
  useEffect(() => {
    if ((params.get("q") ?? "") !== q) setParams(q ? { q } : {}, { replace: true, state: null });
  }, [q, params, setParams]);
  // The cursors of the pages before this one, so "Previous" can go back.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [lastQ, setLastQ] = useState(q);
  if (q !== lastQ) {
    setLastQ(q);
    setCursors([null]);
  }
  const after = cursors[cursors.length - 1] ?? null;
  const page = useZonePage(q, after);

  return (
    <section>
      <PageHeader
        title="Zones"
        actions={
          <>
            <Button
              disabled={!can.allowed}
              onClick={() => {
                void navigate("/zones/bulk");
              }}
            >
              Bulk
            </Button>
            <Button
              variant="primary"
              disabled={!can.allowed}
              onClick={() => {
                void navigate("/zones/new");
              }}
            >
              New zone
            </Button>
          </>
        }
      >
        Hostname (and path prefix) → backend.
      </PageHeader>
      <div className="space-y-4">
        {handed.applied && (
          <div>
            {handed.deleted && <p className="mb-1 text-sm">Deleted {handed.deleted}.</p>}
            <LiveOnFleet applied={handed.applied} />
          </div>
        )}
        <WritesBlocked can={can} />
        <div className="max-w-md">
          <label htmlFor="zone-search" className="sr-only">
            Search zones by hostname
          </label>
          <Input
            id="zone-search"
            type="search"
            placeholder="Search by hostname…"
            value={search}
            onChange={(e) => {
              setSearch(e.target.value);
            }}
          />
        </div>
        {page.isPending ? (
          <Loading what="Loading zones" />
        ) : page.isError ? (
          <ErrorState error={page.error} retry={() => void page.refetch()} />
        ) : page.data.items.length === 0 ? (
          q ? (
            <Empty title={`No zone matches “${q}”`}>Search looks for the text anywhere in the hostname.</Empty>
          ) : (
            <Empty title="No zones yet">{can.allowed ? <Link to="/zones/new" className="text-teal-700 underline dark:text-teal-400">Create the first zone</Link> : null}</Empty>
          )
        ) : (
          <>
            {"degraded" in page.data && page.data.degraded && (
              <Banner tone="warning">These zones come from Redis (PostgreSQL is down): what the proxies serve right now.</Banner>
            )}
            <p className="text-sm text-slate-600 dark:text-slate-400" aria-live="polite">
              {page.data.total_exact ? plural(page.data.total, "zone") : `More than ${plural(page.data.total, "zone")}`}
              {q && ` matching “${q}”`}
              {page.isPlaceholderData && " — loading…"}
            </p>
            <Table caption="Zones">
              <THead>
                <tr>
                  <Th>Hostname</Th>
                  <Th>Path</Th>
                  <Th>Backend</Th>
                  <Th>HTTPS</Th>
                  <Th>Policies</Th>
                  <Th>Updated</Th>
                </tr>
              </THead>
              <TBody>
                {page.data.items.map((z) => (
                  <Tr key={z.id}>
                    <Td className="font-medium break-all">
                      <Link to={`/zones/${z.id}`} className="text-teal-700 underline-offset-2 hover:underline dark:text-teal-400">
                        {z.hostname}
                      </Link>
                    </Td>
                    <Td className="break-all">
                      <span className="flex flex-wrap items-center gap-1">
                        {z.path_prefix || <span className="text-slate-500 dark:text-slate-400">/</span>}
                        <ZoneMatch match={z.match} />
                      </span>
                    </Td>
                    <Td className="break-all">{describeBackend(z.backend)}</Td>
                    <Td>{z.force_https ? "forced" : "—"}</Td>
                    <Td>
                      <ZonePolicies policies={z.policies} />
                    </Td>
                    <Td className="whitespace-nowrap">{isDegradedZone(z) ? "—" : formatDate(z.updated_at)}</Td>
                  </Tr>
                ))}
              </TBody>
            </Table>
            <nav aria-label="Pages" className="flex items-center gap-2">
              <Button
                disabled={cursors.length <= 1}
                onClick={() => {
                  setCursors((c) => c.slice(0, -1));
                }}
              >
                Previous
              </Button>
              <span className="text-sm text-slate-600 dark:text-slate-400">Page {cursors.length}</span>
              <Button
                disabled={!page.data.next || page.isPlaceholderData}
                onClick={() => {
                  const next = page.data.next;
                  if (next) setCursors((c) => [...c, next]);
                }}
              >
                Next
              </Button>
            </nav>
          </>
        )}
      </div>
    </section>
  );
}

/** The policies a zone has, as compact badges ("—" for none). */
function ZonePolicies({ policies }: { policies: Policies | null | undefined }) {
  const badges = policyBadges(policies);
  if (badges.length === 0) return <span className="text-slate-500 dark:text-slate-400">—</span>;
  return (
    <ul aria-label="Policies" className="flex flex-wrap gap-1">
      {badges.map((b) => (
        <li key={b}>
          <PolicyBadge label={b} />
        </li>
      ))}
    </ul>
  );
}

/**
 * A zone's match conditions as compact badges beside its path ("POST PUT", "x-beta=1",
 * "?v=2", "= /api/health", "~ ^/v[0-9]+/"): two zones on one hostname and prefix differ here.
 */
export function ZoneMatch({ match }: { match: RouteMatch | null | undefined }) {
  const badges = matchBadges(match);
  if (badges.length === 0) return null;
  return (
    <ul aria-label="Match conditions" className="inline-flex flex-wrap gap-1">
      {badges.map((b) => (
        <li key={b}>
          <MatchBadge label={b} />
        </li>
      ))}
    </ul>
  );
}
