// A configuration rollback's answer (`ConfigDiff`) counted and put in words: zones
// created, changed and deleted, named backends re-created, restored and deleted, domains
// re-created, and the domains a rollback leaves as they are (never deleted).
import { plural } from "@/lib/format";
import type { ConfigDiff } from "./revisions";

export interface ConfigDiffCounts {
  zonesCreated: number;
  zonesChanged: number;
  zonesDeleted: number;
  backendsCreated: number;
  backendsChanged: number;
  backendsDeleted: number;
  domainsCreated: number;
  domainsKept: number;
}

export function countConfigDiff(diff: ConfigDiff): ConfigDiffCounts {
  return {
    zonesCreated: diff.created.length,
    zonesChanged: diff.changed.length,
    zonesDeleted: diff.deleted.length,
    backendsCreated: diff.named_backends.created.length,
    backendsChanged: diff.named_backends.changed.length,
    backendsDeleted: diff.named_backends.deleted.length,
    domainsCreated: diff.domains.created.length,
    domainsKept: diff.domains.kept.length,
  };
}

/** Whether restoring changes anything at all (a kept domain is no change). */
export function changesNothing(c: ConfigDiffCounts): boolean {
  return c.zonesCreated + c.zonesChanged + c.zonesDeleted + c.backendsCreated + c.backendsChanged + c.backendsDeleted + c.domainsCreated === 0;
}

/**
 * The rollback in one sentence: "2 zones changed, 1 zone re-created, 1 named backend
 * deleted; 1 domain kept as it is." Only what happens is named.
 */
export function configDiffSummary(c: ConfigDiffCounts): string {
  const parts = [
    c.zonesChanged > 0 ? `${plural(c.zonesChanged, "zone")} changed` : null,
    c.zonesCreated > 0 ? `${plural(c.zonesCreated, "zone")} re-created` : null,
    c.zonesDeleted > 0 ? `${plural(c.zonesDeleted, "zone")} deleted` : null,
    c.backendsChanged > 0 ? `${plural(c.backendsChanged, "named backend")} restored` : null,
    c.backendsCreated > 0 ? `${plural(c.backendsCreated, "named backend")} re-created` : null,
    c.backendsDeleted > 0 ? `${plural(c.backendsDeleted, "named backend")} deleted` : null,
    c.domainsCreated > 0 ? `${plural(c.domainsCreated, "domain")} re-created` : null,
  ].filter((p): p is string => p !== null);
  const changes = parts.length === 0 ? "Nothing changes" : parts.join(", ");
  const kept = c.domainsKept > 0 ? `; ${plural(c.domainsKept, "domain")} kept as ${c.domainsKept === 1 ? "it is" : "they are"}` : "";
  return `${changes}${kept}.`;
}

/**
 * What an applied restore did, for the banner after it: the differences, the revision it
 * recorded, and where it went (the Redis version the proxies serve it at, or queued while
 * Redis did not answer).
 */
export function restoredSummary(diff: ConfigDiff): string {
  const parts = [configDiffSummary(countConfigDiff(diff))];
  if (diff.revision != null) parts.push(`Recorded as revision ${diff.revision}.`);
  if (diff.version != null) parts.push(`Redis version ${diff.version}: each proxy serves it once it reaches that version.`);
  else if (diff.revision != null) parts.push("Redis did not answer: the change is queued and reaches the proxies once Redis is back.");
  return parts.join(" ");
}
