import { useState } from "react";
import { Banner } from "@/components/ui/Banner";
import { Button } from "@/components/ui/Button";
import { JsonDiff } from "@/components/JsonDiff";
import { plural } from "@/lib/format";
import { zoneLabel } from "@/lib/routeMatch";
import { changesNothing, otherChangeLines, summarizeDiff, type ImportDiff } from "../api/parse";

const SHOWN = 200;

function Changed({ change }: { change: ImportDiff["changed"][number] }) {
  const [open, setOpen] = useState(false);
  const name = zoneLabel(change.after.hostname, change.after.path_prefix, change.after.match);
  return (
    <li className="py-1">
      <span className="break-all">{name}</span>{" "}
      <Button variant="ghost" aria-expanded={open} aria-label={`${open ? "Hide" : "Show"} changes of ${name}`} onClick={() => { setOpen((o) => !o); }}>
        {open ? "Hide" : "Show"} changes
      </Button>
      {open && <JsonDiff before={change.before} after={change.after} caption={`${name}: before and after`} />}
    </li>
  );
}

/** The import's diff: a summary, then every zone created, changed and deleted. */
export function ImportDiffView({ diff }: { diff: ImportDiff }) {
  const s = summarizeDiff(diff);
  if (changesNothing(s)) return <Banner tone="info">Nothing would change: everything in it is already in place.</Banner>;
  const others = otherChangeLines(s);
  return (
    <div className="space-y-3 text-sm">
      <p role="status" className="font-medium">
        {plural(s.created, "zone")} created, {s.changed.toLocaleString()} changed, {s.deleted.toLocaleString()} deleted
        {s.backendsCreated > 0 ? `, ${plural(s.backendsCreated, "named backend")} created` : ""}.
      </p>
      {others.length > 0 && (
        <section aria-label="Domains, users and grants">
          <h3 className="font-semibold">Domains, users and grants</h3>
          <ul className="list-disc pl-5">
            {others.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </section>
      )}
      {s.usersCreated > 0 && (
        <Banner tone="warning" title={`${plural(s.usersCreated, "user")} without a password`}>
          A document never carries passwords: {diff.users_created?.map((u) => u.username).join(", ")} cannot log in until an admin sets a password on their page (Users).
        </Banner>
      )}
      {s.backendsCreated > 0 && (
        <section aria-label="Named backends created">
          <h3 className="font-semibold">Named backends created</h3>
          <ul className="list-disc pl-5">
            {diff.named_backends_created?.map((b) => (
              <li key={b.id} className="break-all">
                {b.name} → <code className="text-xs">{b.url_template}</code>
                {b.preset ? " (preset)" : ""}
              </li>
            ))}
          </ul>
        </section>
      )}
      {s.created > 0 && (
        <section aria-label="Zones created">
          <h3 className="font-semibold text-emerald-800 dark:text-emerald-300">Created</h3>
          <ul className="list-disc pl-5">
            {diff.created.slice(0, SHOWN).map((z) => (
              <li key={z.id} className="break-all">
                {zoneLabel(z.hostname, z.path_prefix, z.match)}
              </li>
            ))}
          </ul>
          {s.created > SHOWN && <p className="text-slate-600 dark:text-slate-400">and {(s.created - SHOWN).toLocaleString()} more</p>}
        </section>
      )}
      {s.changed > 0 && (
        <section aria-label="Zones changed">
          <h3 className="font-semibold text-sky-800 dark:text-sky-300">Changed</h3>
          <ul className="pl-1">
            {diff.changed.slice(0, SHOWN).map((c) => (
              <Changed key={c.id} change={c} />
            ))}
          </ul>
          {s.changed > SHOWN && <p className="text-slate-600 dark:text-slate-400">and {(s.changed - SHOWN).toLocaleString()} more</p>}
        </section>
      )}
      {s.deleted > 0 && (
        <section aria-label="Zones deleted">
          <h3 className="font-semibold text-red-800 dark:text-red-300">Deleted</h3>
          <ul className="list-disc pl-5">
            {diff.deleted.slice(0, SHOWN).map((z) => (
              <li key={z.id} className="break-all">
                {zoneLabel(z.hostname, z.path_prefix, z.match)}
              </li>
            ))}
          </ul>
          {s.deleted > SHOWN && <p className="text-slate-600 dark:text-slate-400">and {(s.deleted - SHOWN).toLocaleString()} more</p>}
        </section>
      )}
    </div>
  );
}
