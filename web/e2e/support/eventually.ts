// Waiting for something to become true: poll with a deadline, never a bare sleep.
import { setTimeout as delay } from "node:timers/promises";

/** How often `eventually` polls. */
export const POLL_EVERY_MS = 50;

/**
 * Calls `check` until it returns a value other than `undefined` (or stops throwing), and
 * returns it; fails with `what` and the last observation once `timeoutMs` has passed.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = "not yet";
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) throw new Error(`${what}: still not true after ${timeoutMs} ms; last seen: ${last}`);
    // The interval between two polls, not a wait for the thing itself.
    await delay(POLL_EVERY_MS);
  }
}
