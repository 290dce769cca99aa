// A fresh PostgreSQL database per stack, created and dropped with psql on the admin URL.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { POSTGRES_ADMIN_URL } from "./env";

const run = promisify(execFile);

async function psql(sql: string): Promise<void> {
  await run("psql", [POSTGRES_ADMIN_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], {
    env: { ...process.env, PGCONNECT_TIMEOUT: "10" },
  });
}

export class TestDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
  ) {}

  /** Creates `sy_e2e_<random>` on the admin URL's server. */
  static async create(): Promise<TestDatabase> {
    const name = `sy_e2e_${randomBytes(6).toString("hex")}`;
    await psql(`CREATE DATABASE "${name}"`);
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    return new TestDatabase(name, url.toString());
  }

  /** host:port of the server, for a relay in front of it. */
  get hostPort(): { host: string; port: number } {
    const url = new URL(this.url);
    return { host: url.hostname || "127.0.0.1", port: Number(url.port || 5432) };
  }

  /** The same database reached through `host:port` (a relay). */
  via(host: string, port: number): string {
    const url = new URL(this.url);
    url.hostname = host;
    url.port = String(port);
    return url.toString();
  }

  /** Drops it, closing whatever is still connected. */
  async drop(): Promise<void> {
    await psql(`DROP DATABASE IF EXISTS "${this.name}" WITH (FORCE)`);
  }
}
