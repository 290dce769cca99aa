import { useWritesAllowed } from "@/lib/health";

/** Next to a form's submit: why it is disabled, when it is. */
export function WritesBlocked() {
  const { reason } = useWritesAllowed();
  if (!reason) return null;
  return (
    <p role="note" className="text-sm text-amber-800 dark:text-amber-300">
      {reason}
    </p>
  );
}
