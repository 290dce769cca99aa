// Who may change what: the caller's role and grants (GET /me), read the way the API's one
// permission check reads them (panel-api `auth::authorize`), together with whether writes
// are possible at all (`useWritesAllowed`). The API stays the authority; the pages only
// avoid offering what it would refuse, and say why.
import { useAuth, type Me } from "./auth";
import { useWritesAllowed } from "./health";

/** A named backend as far as its permission goes. */
export interface BackendRef {
  id: string;
  preset: boolean;
  owner_user_id?: string | null;
}

/** What a write control would change. */
export type WriteTarget =
  /** An existing zone: an edit grant on its domain. */
  | { kind: "zone"; domainId: string | null | undefined }
  /** A new zone, or an import of zones: an edit grant on some domain. */
  | { kind: "new-zone" }
  /** A domain itself (its certificate's re-issue): an edit grant on it. */
  | { kind: "domain"; domainId: string }
  /** A named backend: its owner, an edit grant on it, or an admin; presets only admins. */
  | { kind: "named-backend"; backend: BackendRef }
  /** The caller's own things (API keys, a new named backend of their own). */
  | { kind: "own" }
  /** Users, grants, domains' creation, DNS credentials. */
  | { kind: "admin" };

export interface Permission {
  allowed: boolean;
  /** Why not, for a person; null when allowed. */
  reason: string | null;
  /** What stands in the way: the caller's rights (lasting) or the panel's health (passing). */
  because: "rights" | "health" | null;
}

type Level = "read" | "edit";

/** The caller's level on a domain or a named backend (edit includes read); null: none. */
function grantLevel(me: Me, target: { domainId?: string | null; backendId?: string }): Level | null {
  let level: Level | null = null;
  for (const g of me.grants) {
    const hit =
      (target.domainId != null && g.domain_id === target.domainId) ||
      (target.backendId !== undefined && g.named_backend_id === target.backendId);
    if (!hit) continue;
    if (g.level === "edit") return "edit";
    if (g.level === "read") level = "read";
  }
  return level;
}

const ASK = "an admin grants edit rights";

/**
 * Why the caller may not make this change (null: they may), from their role and grants
 * alone. Mirrors the API: admins everything; users what their grants reach.
 */
export function rightsReason(me: Me | null | undefined, target: WriteTarget): string | null {
  if (!me) return "You are not logged in.";
  if (me.role === "admin") return null;
  switch (target.kind) {
    case "own":
      return null;
    case "admin":
      return "Only admins may do this.";
    case "zone": {
      const level = target.domainId == null ? null : grantLevel(me, { domainId: target.domainId });
      if (level === "edit") return null;
      return level === "read"
        ? "Read-only: you hold a read grant on this zone’s domain, so you may look but not change or delete it."
        : `Read-only: changing this zone needs an edit grant on its domain (${ASK}).`;
    }
    case "new-zone": {
      if (me.grants.some((g) => g.domain_id != null && g.level === "edit")) return null;
      return me.grants.some((g) => g.domain_id != null)
        ? `Read-only: your domain grants are read grants, and a zone needs an edit grant on its domain (${ASK}).`
        : `Read-only: a zone needs an edit grant on its domain (${ASK}).`;
    }
    case "domain": {
      const level = grantLevel(me, { domainId: target.domainId });
      if (level === "edit") return null;
      return level === "read"
        ? "Read-only: you hold a read grant on this domain."
        : `Read-only: this needs an edit grant on the domain (${ASK}).`;
    }
    case "named-backend": {
      const b = target.backend;
      if (b.preset) return "A preset: only admins change it.";
      if (b.owner_user_id === me.user_id) return null;
      return grantLevel(me, { backendId: b.id }) === "edit" ? null : "You may use this backend but not change it.";
    }
  }
}

/** Whether the caller may make this change: rights first, then the panel's health. */
export function permission(rights: string | null, health: string | null): Permission {
  if (rights !== null) return { allowed: false, reason: rights, because: "rights" };
  if (health !== null) return { allowed: false, reason: health, because: "health" };
  return { allowed: true, reason: null, because: null };
}

/** The one switch a write control obeys: the caller's rights on `target`, and health. */
export function useCan(target: WriteTarget): Permission {
  const { user } = useAuth();
  const { reason } = useWritesAllowed();
  return permission(rightsReason(user, target), reason);
}
