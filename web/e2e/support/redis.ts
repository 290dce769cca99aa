// Each stack's Redis keys live under a prefix of its own; at the end only those keys are
// deleted (SCAN + DEL through redis-cli), never anything else, never a flush.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { REDIS_URL } from "./env";

const run = promisify(execFile);

/** A new prefix, `sy-e2e-<random>:` (no glob characters, so SCAN's MATCH is exact). */
export function newPrefix(): string {
  return `sy-e2e-${randomBytes(6).toString("hex")}:`;
}

async function cli(args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["--no-auth-warning", "-u", REDIS_URL, ...args], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

/** Deletes every key under `prefix`; the number deleted. */
export async function deletePrefix(prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9:_-]+$/.test(prefix)) throw new Error(`refusing to scan for an unusual prefix ${prefix}`);
  const keys = (await cli(["--scan", "--pattern", `${prefix}*`])).split("\n").filter((k) => k.startsWith(prefix));
  for (let i = 0; i < keys.length; i += 500) await cli(["DEL", ...keys.slice(i, i + 500)]);
  return keys.length;
}

/** Sets one field of a hash (HSET). */
export async function setHashField(key: string, field: string, value: string): Promise<void> {
  await cli(["HSET", key, field, value]);
}

/** Deletes one field of a hash (HDEL). */
export async function deleteHashField(key: string, field: string): Promise<void> {
  await cli(["HDEL", key, field]);
}
