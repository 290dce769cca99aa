import type { ReactNode } from "react";
import { Link } from "react-router";
import { cn } from "@/components/ui/cn";
import { Empty, ErrorState, Loading, PageHeader } from "@/components/ui/States";
import { Table, TBody, Td, Th, THead, Tr } from "@/components/ui/Table";
import { errorMessage } from "@/lib/api/errors";
import { formatAge, formatDate } from "@/lib/format";
import { useHealth, type Health } from "@/lib/health";
import { useDomainCount, useZoneCount, type Count } from "../api/counts";
import { expiryWhy } from "../api/expiry";
import { UNCOVERED_SHOWN, useUncovered } from "../api/uncovered";

type Verdict = "up" | "down" | "unknown";

const VERDICT_STYLE: Record<Verdict, string> = {
  up: "bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100",
  down: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  unknown: "bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100",
};

function Pill({ verdict, children }: { verdict: Verdict; children: ReactNode }) {
  return <span className={cn("rounded px-2 py-0.5 text-xs font-semibold", VERDICT_STYLE[verdict])}>{children}</span>;
}

function asVerdict(s: string): Verdict {
  return s === "up" ? "up" : s === "down" ? "down" : "unknown";
}

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="rounded-md border border-slate-200 p-4 dark:border-slate-700">
      <h3 className="text-sm font-medium text-slate-600 dark:text-slate-400">{title}</h3>
      <div className="mt-1">{children}</div>
    </div>
  );
}

function Services({ health }: { health: Health }) {
  const worker = health.cert_worker_heartbeat_age_secs;
  return (
    <div className="grid gap-3 sm:grid-cols-3">
      <Card title="PostgreSQL">
        <Pill verdict={asVerdict(health.postgres)}>{health.postgres}</Pill>
      </Card>
      <Card title="Redis">
        <Pill verdict={asVerdict(health.redis)}>{health.redis}</Pill>
        {health.version != null && <span className="ml-2 text-sm">version {health.version}</span>}
      </Card>
      <Card title="Cert worker">
        <Pill verdict={asVerdict(health.cert_worker)}>{health.cert_worker}</Pill>
        {worker != null && <span className="ml-2 text-sm">heartbeat {formatAge(worker)} ago</span>}
      </Card>
    </div>
  );
}

function CountCard({ title, query, to }: { title: string; query: { data?: Count | undefined; isPending: boolean; error: unknown }; to: string }) {
  return (
    <Card title={title}>
      {query.isPending ? (
        <span className="text-sm text-slate-500 dark:text-slate-400">…</span>
      ) : query.data ? (
        <Link to={to} className="text-2xl font-semibold text-teal-700 hover:underline dark:text-teal-400">
          {query.data.exact ? query.data.total.toLocaleString() : `${query.data.total.toLocaleString()}+`}
          {query.data.degraded && <span className="ml-2 text-xs font-normal text-amber-700 dark:text-amber-300">(from Redis)</span>}
        </Link>
      ) : (
        <span className="text-sm text-red-700 dark:text-red-400">{errorMessage(query.error)}</span>
      )}
    </Card>
  );
}

/** Every proxy: applied version, heartbeat age, current or stale, upstream endpoints it judges down. */
function FleetStatus({ health }: { health: Health }) {
  if (health.redis === "down") return <Empty title="Redis does not answer">The proxies report through Redis; their state is unknown until it is back.</Empty>;
  if (health.proxies.length === 0) return <Empty title="No proxy reports to this Redis yet">Start a proxy with the same Redis and key prefix; it appears here within a heartbeat.</Empty>;
  return (
    <Table caption="Proxies">
      <THead>
        <tr>
          <Th>Proxy</Th>
          <Th>Applied version</Th>
          <Th>Heartbeat</Th>
          <Th>State</Th>
          <Th className="text-right">Zones</Th>
          <Th className="text-right">Certificates</Th>
          <Th className="text-right">Endpoints down</Th>
        </tr>
      </THead>
      <TBody>
        {health.proxies.map((p) => (
          <Tr key={p.id}>
            <Td className="font-medium whitespace-nowrap">{p.id}</Td>
            <Td>
              {p.applied_version}
              {health.version != null && p.applied_version !== health.version && <span className="text-slate-500 dark:text-slate-400"> of {health.version}</span>}
              <span className="block text-xs text-slate-500 dark:text-slate-400">applied {new Date(p.applied_at).toLocaleTimeString()}</span>
              {p.replica_versions_behind != null && (
                <span className={cn("block text-xs", p.replica_versions_behind > 0 ? "font-semibold text-amber-800 dark:text-amber-300" : "text-slate-500 dark:text-slate-400")}>
                  reads a replica, {p.replica_versions_behind === 0 ? "in step" : `${p.replica_versions_behind.toLocaleString()} behind`}
                </span>
              )}
            </Td>
            <Td className="whitespace-nowrap">{formatAge(p.heartbeat_age_secs)} ago</Td>
            <Td>{p.stale ? <Pill verdict="down">stale</Pill> : p.current ? <Pill verdict="up">current</Pill> : <Pill verdict="unknown">behind</Pill>}</Td>
            <Td className="text-right">{p.zones.toLocaleString()}</Td>
            <Td className="text-right">{p.certs.toLocaleString()}</Td>
            <Td className={cn("text-right", p.endpoints_down > 0 && "font-semibold text-amber-800 dark:text-amber-300")}>{p.endpoints_down.toLocaleString()}</Td>
          </Tr>
        ))}
      </TBody>
    </Table>
  );
}

function ExpiringCertificates({ health }: { health: Health }) {
  if (health.expiring_certificates.length === 0) return <Empty title="No certificate expires within 30 days" />;
  return (
    <Table caption="Certificates expiring within 30 days">
      <THead>
        <tr>
          <Th>Certificate</Th>
          <Th>Source</Th>
          <Th>Expires</Th>
          <Th className="text-right">Days left</Th>
          <Th>Why</Th>
        </tr>
      </THead>
      <TBody>
        {health.expiring_certificates.map((c) => (
          <Tr key={`${c.source}:${c.name}`}>
            <Td className="break-all">{c.name}</Td>
            <Td>{c.source}</Td>
            <Td>{formatDate(c.not_after)}</Td>
            <Td className={cn("text-right", c.days_left < 7 && "font-semibold text-red-700 dark:text-red-400")}>{c.days_left < 0 ? "expired" : c.days_left.toFixed(1)}</Td>
            <Td className={cn("break-words", c.why === "renewal_failing" && "text-red-700 dark:text-red-400")}>{expiryWhy(c)}</Td>
          </Tr>
        ))}
      </TBody>
    </Table>
  );
}

/** Zones whose hostname no certificate covers: each links to its zone. */
function UncoveredZones() {
  const uncovered = useUncovered();
  if (uncovered.isPending) return <Loading what="Looking for zones without a certificate" />;
  if (uncovered.isError) return <ErrorState error={uncovered.error} title="Zones without a certificate could not be listed" retry={() => void uncovered.refetch()} />;
  const { items, total, total_exact } = uncovered.data;
  if (items.length === 0) return <Empty title="Every zone's hostname has a certificate" />;
  return (
    <div className="space-y-1 text-sm">
      <p className="text-slate-700 dark:text-slate-300">
        HTTPS handshakes for these hostnames fail until a certificate covering them is issued or uploaded
        {total > items.length ? ` (the first ${UNCOVERED_SHOWN} of ${total_exact ? total.toLocaleString() : `${total.toLocaleString()}+`})` : ""}:
      </p>
      <ul aria-label="Zones no certificate covers" className="list-disc space-y-0.5 pl-5">
        {items.map((u) => (
          <li key={u.zone_id}>
            <Link to={`/zones/${u.zone_id}`} className="break-all text-teal-700 underline dark:text-teal-400">
              {u.hostname}
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function OverviewPage() {
  const health = useHealth();
  const zones = useZoneCount();
  const domains = useDomainCount();
  return (
    <section className="space-y-6">
      <PageHeader title="Overview">The fleet and the services behind it; refreshed every few seconds.</PageHeader>
      <div className="grid gap-3 sm:grid-cols-2">
        <CountCard title="Domains" query={domains} to="/domains" />
        <CountCard title="Zones" query={zones} to="/zones" />
      </div>
      {health.isPending ? (
        <Loading what="Checking health" />
      ) : health.isError ? (
        <ErrorState error={health.error} title="Health is unavailable" retry={() => void health.refetch()} />
      ) : (
        <>
          <section aria-labelledby="services" className="space-y-2">
            <h2 id="services" className="text-lg font-semibold">
              Services{" "}
              <span className={cn("ml-1 align-middle", health.data.status === "ok" ? "" : "")}>
                <Pill verdict={health.data.status === "ok" ? "up" : "down"}>{health.data.status}</Pill>
              </span>
            </h2>
            <Services health={health.data} />
            {health.data.problems.length > 0 && (
              <ul className="list-disc space-y-1 pl-5 text-sm text-amber-900 dark:text-amber-200">
                {health.data.problems.map((p) => (
                  <li key={p}>{p}</li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="proxies" className="space-y-2">
            <h2 id="proxies" className="text-lg font-semibold">
              Proxies
            </h2>
            <FleetStatus health={health.data} />
            {health.data.notices.length > 0 && (
              <div role="status" aria-label="Upstream endpoints down" className="space-y-1 text-sm text-slate-700 dark:text-slate-300">
                <p>Upstream endpoints the proxies take no traffic to (the backends&apos; own health; it does not degrade the panel):</p>
                <ul className="list-disc space-y-1 pl-5">
                  {health.data.notices.map((n) => (
                    <li key={n}>{n}</li>
                  ))}
                </ul>
              </div>
            )}
          </section>
          <section aria-labelledby="expiring" className="space-y-2">
            <h2 id="expiring" className="text-lg font-semibold">
              Certificates expiring soon
            </h2>
            <ExpiringCertificates health={health.data} />
          </section>
          <section aria-labelledby="uncovered" className="space-y-2">
            <h2 id="uncovered" className="text-lg font-semibold">
              Zones without a certificate
            </h2>
            <UncoveredZones />
          </section>
        </>
      )}
    </section>
  );
}
