import type { Permission } from "@/lib/can";
import { useWritesAllowed } from "@/lib/health";

/**
 * Next to a form's submit: why it is disabled, when it is. Given a `can` (from `useCan`),
 * its reason — the caller's rights or the panel's health; without, health alone.
 */
export function WritesBlocked({ can }: { can?: Permission }) {
  const health = useWritesAllowed();
  const reason = can ? can.reason : health.reason;
  if (!reason) return null;
  const rights = can?.because === "rights";
  return (
    <p role="note" className={rights ? "text-sm text-slate-700 dark:text-slate-300" : "text-sm text-amber-800 dark:text-amber-300"}>
      {reason}
    </p>
  );
}
