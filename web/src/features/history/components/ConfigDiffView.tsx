import { useState, type ReactNode } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { JsonDiff } from "@/components/JsonDiff";
import { zoneLabel } from "@/lib/routeMatch";
import { changesNothing, configDiffSummary, countConfigDiff } from "../api/configDiff";
import type { ConfigDiff } from "../api/revisions";

type ZoneChange = ConfigDiff["changed"][number];
type BackendChange = ConfigDiff["named_backends"]["changed"][number];

/** A difference whose before → after opens on demand. */
function Expandable({ name, before, after }: { name: string; before: unknown; after: unknown }) {
  const [open, setOpen] = useState(false);
  return (
    <li className="py-1">
      <span className="break-all">{name}</span>{" "}
      <Button variant="ghost" aria-expanded={open} aria-label={`${open ? "Hide" : "Show"} changes of ${name}`} onClick={() => { setOpen((o) => !o); }}>
        {open ? "Hide" : "Show"} changes
      </Button>
      {open && <JsonDiff before={before} after={after} caption={`${name}: now and after the rollback`} />}
    </li>
  );
}

function Part({ label, tone, items }: { label: string; tone: "created" | "changed" | "deleted" | "kept"; items: ReactNode[] }) {
  if (items.length === 0) return null;
  const colour = {
    created: "text-emerald-800 dark:text-emerald-300",
    changed: "text-sky-800 dark:text-sky-300",
    deleted: "text-red-800 dark:text-red-300",
    kept: "text-slate-700 dark:text-slate-300",
  }[tone];
  return (
    <section aria-label={label}>
      <h4 className={`font-semibold ${colour}`}>
        {label} ({items.length.toLocaleString()})
      </h4>
      <ul className="list-disc pl-5">{items}</ul>
    </section>
  );
}

const zoneName = (z: { hostname: string; path_prefix?: string | null; match?: Parameters<typeof zoneLabel>[2] }) => zoneLabel(z.hostname, z.path_prefix, z.match);

/**
 * Every difference a configuration rollback makes (or, for a dry run, would make): zones
 * re-created, changed and deleted; named backends re-created, restored and deleted;
 * domains re-created; and the domains it keeps, with the API's reason.
 */
export function ConfigDiffView({ diff }: { diff: ConfigDiff }) {
  const counts = countConfigDiff(diff);
  const b = diff.named_backends;
  return (
    <div className="space-y-3 text-sm">
      {changesNothing(counts) ? (
        <Banner tone="info">Nothing would change: the configuration is already as it was right after revision {diff.to_revision}.</Banner>
      ) : (
        <p role="status" className="font-medium">
          {configDiffSummary(counts)}
        </p>
      )}
      {counts.zonesCreated + counts.zonesChanged + counts.zonesDeleted > 0 && (
        <section aria-label="Zones" className="space-y-2">
          <h3 className="text-base font-semibold">Zones</h3>
          <Part
            label="Zones changed"
            tone="changed"
            items={diff.changed.map((c: ZoneChange) => (
              <Expandable key={c.id} name={zoneName(c.after)} before={c.before} after={c.after} />
            ))}
          />
          <Part
            label="Zones re-created"
            tone="created"
            items={diff.created.map((z) => (
              <li key={z.id} className="break-all">
                {zoneName(z)}
              </li>
            ))}
          />
          <Part
            label="Zones deleted"
            tone="deleted"
            items={diff.deleted.map((z) => (
              <li key={z.id} className="break-all">
                {zoneName(z)}
              </li>
            ))}
          />
        </section>
      )}
      {counts.backendsCreated + counts.backendsChanged + counts.backendsDeleted > 0 && (
        <section aria-label="Named backends" className="space-y-2">
          <h3 className="text-base font-semibold">Named backends</h3>
          <Part
            label="Named backends restored"
            tone="changed"
            items={b.changed.map((c: BackendChange) => (
              <Expandable key={c.id} name={c.before.name === c.after.name ? c.after.name : `${c.before.name} → ${c.after.name}`} before={{ name: c.before.name, url_template: c.before.url_template }} after={{ name: c.after.name, url_template: c.after.url_template }} />
            ))}
          />
          <Part
            label="Named backends re-created"
            tone="created"
            items={b.created.map((n) => (
              <li key={n.id} className="break-all">
                {n.name} → <code className="text-xs">{n.url_template}</code>
              </li>
            ))}
          />
          <Part
            label="Named backends deleted"
            tone="deleted"
            items={b.deleted.map((n) => (
              <li key={n.id} className="break-all">
                {n.name} → <code className="text-xs">{n.url_template}</code>
              </li>
            ))}
          />
        </section>
      )}
      {counts.domainsCreated + counts.domainsKept > 0 && (
        <section aria-label="Domains" className="space-y-2">
          <h3 className="text-base font-semibold">Domains</h3>
          <Part
            label="Domains re-created"
            tone="created"
            items={diff.domains.created.map((d) => (
              <li key={d.id} className="break-all">
                {d.name} <span className="text-slate-600 dark:text-slate-400">(with a new certificate order)</span>
              </li>
            ))}
          />
          <Part
            label="Domains kept"
            tone="kept"
            items={diff.domains.kept.map((k) => (
              <li key={k.domain.id} className="break-all">
                {k.domain.name}: <span className="text-slate-600 dark:text-slate-400">{k.reason}</span>
              </li>
            ))}
          />
        </section>
      )}
    </div>
  );
}
