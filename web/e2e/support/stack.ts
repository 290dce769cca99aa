// The real binaries wired together as a user runs them, one stack per story file:
// a fresh PostgreSQL database reached through a cuttable relay, a Redis key prefix of its
// own, `panel-api` serving the built panel (web/dist) and the API on a port the OS picks,
// a `switchyard-proxy` on the same prefix, and a local HTTP backend. `stop()` takes all of
// it down again — processes, database, the prefix's keys — whatever state the test left.
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { randomBytes } from "node:crypto";
import { Backend } from "./backend";
import { ARTIFACTS, WEB_DIST, REDIS_URL } from "./env";
import { eventually } from "./eventually";
import { TestDatabase } from "./postgres";
import { Service } from "./process";
import { deleteHashField, deletePrefix, newPrefix, setHashField } from "./redis";
import { Relay } from "./relay";

/** How long a service may take to become ready (debug builds, a busy 2-core machine). */
export const READY_DEADLINE_MS = 90_000;

/** The first admin of every stack. */
export const ADMIN = { username: "root", password: "e2e-admin-password-5c1d" } as const;

export interface Reply {
  status: number;
  json: unknown;
}

/** A small client of the panel's REST API for a story's preconditions and checks. */
export class Api {
  constructor(
    readonly base: string,
    private readonly authorization: string | null,
  ) {}

  /** One call; `path` is under `/api/v1`. */
  async call(method: string, path: string, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (this.authorization) headers.authorization = this.authorization;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as unknown) : null };
  }

  /** One call that must answer `status`; its JSON. */
  async expect<T = Record<string, unknown>>(method: string, path: string, body: unknown, status: number): Promise<T> {
    const reply = await this.call(method, path, body);
    if (reply.status !== status) {
      throw new Error(`${method} ${path}: expected ${status}, got ${reply.status} ${JSON.stringify(reply.json)}`);
    }
    return reply.json as T;
  }

  /** A client authenticating with a new API key of `username` (made with the password). */
  static async forUser(base: string, username: string, password: string): Promise<Api> {
    const basic = new Api(base, `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`);
    const key = await basic.expect<{ key: string }>("POST", "/api-keys", { name: "e2e setup" }, 201);
    return new Api(base, `Bearer ${key.key}`);
  }
}

/** The running panel-api. */
export class Panel {
  private constructor(
    readonly service: Service,
    /** `http://127.0.0.1:PORT`, the panel's origin. */
    readonly url: string,
  ) {}

  static async start(databaseUrl: string, prefix: string): Promise<Panel> {
    if (!existsSync(join(WEB_DIST, "index.html"))) {
      throw new Error(`${WEB_DIST}/index.html is missing: build the panel first (npm run build in web/)`);
    }
    const service = Service.start(
      "panel-api",
      [
        "--listen", "127.0.0.1:0",
        "--database-url", databaseUrl,
        "--redis-url", REDIS_URL,
        "--key-prefix", prefix,
        "--cookie-secure", "false",
        "--outbox-replay-secs", "1",
        "--web-dir", WEB_DIST,
      ],
      // A sealing key of its own (uploaded certificates' keys, DNS credentials are sealed with it).
      { SWITCHYARD_ADMIN_USER: ADMIN.username, SWITCHYARD_ADMIN_PASSWORD: ADMIN.password, SWITCHYARD_SECRET_KEY: randomBytes(32).toString("base64") },
    );
    try {
      // panel-api binds port 0 and logs the address it got: {"message":"panel-api serving","listen":"127.0.0.1:PORT"}.
      const listen = await eventually(
        "panel-api reports the address it serves on",
        () => {
          if (!service.running) throw new Error(`panel-api exited:\n${service.logTail()}`);
          for (const line of service.logText().split("\n")) {
            if (!line.includes('"panel-api serving"')) continue;
            const parsed = JSON.parse(line) as { fields?: { listen?: string } };
            if (parsed.fields?.listen) return parsed.fields.listen;
          }
          return undefined;
        },
        READY_DEADLINE_MS,
      );
      const url = `http://${listen}`;
      await eventually("panel-api answers /api/v1/health", async () => ((await fetch(`${url}/api/v1/health`)).ok ? true : undefined), READY_DEADLINE_MS);
      return new Panel(service, url);
    } catch (e) {
      await service.stop();
      throw e;
    }
  }
}

/**
 * The addresses a proxy reports once it knows them (it binds port 0 and logs the ports it
 * got): {"fields":{"message":"proxy listening","http":"127.0.0.1:PORT","admin":"127.0.0.1:PORT"}}
 * (no `https` with `--local`).
 */
function proxyListening(log: string): { http: string; admin: string; https?: string } | undefined {
  for (const line of log.split("\n")) {
    if (!line.includes('"proxy listening"')) continue;
    const parsed = JSON.parse(line) as { fields?: { http?: string; admin?: string; https?: string } };
    const { http, admin, https } = parsed.fields ?? {};
    if (http && admin) return https ? { http, admin, https } : { http, admin };
  }
  return undefined;
}

/** The port of `IP:PORT` (IPv4). */
function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

/** What the proxy answered a request: status, the backend that answered (`x-upstream`), the headers, the body. */
export interface ProxyAnswer {
  status: number;
  upstream: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The certificate a TLS server presented: SHA-256 of its DER (hex, upper case, colons as Node gives it) and its names. */
export interface PeerCertificate {
  fingerprint256: string;
  subjectaltname: string;
}

/**
 * A running `switchyard-proxy`: in local mode (plain HTTP), or with `https` also its TLS
 * listener (certificates by SNI from Redis; zones that force HTTPS redirect).
 */
export class Proxy {
  private constructor(
    readonly service: Service,
    readonly id: string,
    readonly httpPort: number,
    readonly adminPort: number,
    readonly httpsPort: number | null,
  ) {}

  static async start(prefix: string, id: string, { https = false } = {}): Promise<Proxy> {
    const service = Service.start("switchyard-proxy", [
      ...(https ? ["--https-listen", "127.0.0.1:0"] : ["--local"]),
      "--http-listen", "127.0.0.1:0",
      "--admin-listen", "127.0.0.1:0",
      "--redis-url", REDIS_URL,
      "--key-prefix", prefix,
      "--snapshot-file", "snapshot.json",
      "--upgrade-sock", "upgrade.sock",
      "--proxy-id", id,
      "--grace-secs", "0",
      "--startup-timeout-ms", "2000",
      "--threads", "1",
    ]);
    try {
      const listening = await eventually(
        "the proxy reports the addresses it listens on",
        () => {
          if (!service.running) throw new Error(`switchyard-proxy exited:\n${service.logTail()}`);
          return proxyListening(service.logText());
        },
        READY_DEADLINE_MS,
      );
      const [httpPort, adminPort] = [portOf(listening.http), portOf(listening.admin)];
      await eventually(
        "the proxy is ready",
        async () => {
          if (!service.running) throw new Error(`switchyard-proxy exited:\n${service.logTail()}`);
          return (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok ? true : undefined;
        },
        READY_DEADLINE_MS,
      );
      return new Proxy(service, id, httpPort, adminPort, listening.https ? portOf(listening.https) : null);
    } catch (e) {
      await service.stop();
      throw e;
    }
  }

  /**
   * The certificate the HTTPS listener presents for `servername` (SNI), not verified
   * (the test compares it with the one it expects); the handshake's error if it fails.
   */
  peerCertificate(servername: string): Promise<PeerCertificate> {
    const port = this.httpsPort;
    if (port === null) return Promise.reject(new Error("this proxy has no HTTPS listener (start it with { https: true })"));
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
        const cert = socket.getPeerCertificate();
        socket.destroy();
        resolve({ fingerprint256: cert.fingerprint256, subjectaltname: cert.subjectaltname ?? "" });
      });
      socket.setTimeout(10_000, () => { socket.destroy(new Error(`TLS handshake for ${servername} timed out`)); });
      socket.on("error", reject);
    });
  }

  /** `GET http://{host}{path}` through the proxy, with `headers`: status, headers and body. */
  get(host: string, path = "/", headers: Record<string, string> = {}): Promise<ProxyAnswer> {
    return this.request("GET", host, path, headers);
  }

  /** `{method} http://{host}{path}` through the proxy (no body), with `headers`: status, the upstream that answered, the answer's headers, body. */
  request(method: string, host: string, path = "/", headers: Record<string, string> = {}): Promise<ProxyAnswer> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ method, host: "127.0.0.1", port: this.httpPort, path, headers: { ...headers, host }, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          const upstream = res.headers["x-upstream"];
          resolve({ status: res.statusCode ?? 0, upstream: Array.isArray(upstream) ? upstream[0] : upstream, headers: res.headers, body });
        });
      });
      req.on("error", reject);
      req.end();
    });
  }
}

/** Everything one story runs against. */
export class Stack {
  private constructor(
    readonly db: TestDatabase,
    readonly prefix: string,
    readonly relay: Relay,
    readonly panel: Panel,
    private readonly maybeProxy: Proxy | null,
    readonly backend: Backend,
    /** The first admin, by API key. */
    readonly admin: Api,
    private readonly cleanups: (() => Promise<unknown>)[],
  ) {}

  /** The panel's origin, the browser's base URL. */
  get url(): string {
    return this.panel.url;
  }

  get proxy(): Proxy {
    if (!this.maybeProxy) throw new Error("this stack runs no proxy");
    return this.maybeProxy;
  }

  /**
   * Starts it all; `{ proxy: false }` leaves the proxy out (the benchmark), `{ https: true }`
   * gives the proxy its TLS listener too.
   */
  static async start(name: string, { proxy: withProxy = true, https = false } = {}): Promise<Stack> {
    const cleanups: (() => Promise<unknown>)[] = [];
    const undo = async () => {
      const errors = [];
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (e) {
          errors.push(e);
        }
      }
      return errors;
    };
    try {
      const prefix = newPrefix();
      cleanups.push(() => deletePrefix(prefix));
      const db = await TestDatabase.create();
      cleanups.push(() => db.drop());
      const relay = await Relay.start(db.hostPort);
      cleanups.push(() => relay.stop());
      const backend = await Backend.start(`${name}-backend`);
      cleanups.push(() => backend.stop());
      const panel = await Panel.start(db.via(relay.host, relay.boundPort), prefix);
      panel.service.keepLogIn = join(ARTIFACTS, name);
      cleanups.push(() => panel.service.stop());
      const proxy = withProxy ? await Proxy.start(prefix, `${name}-proxy`, { https }) : null;
      if (proxy) {
        proxy.service.keepLogIn = join(ARTIFACTS, name);
        cleanups.push(() => proxy.service.stop());
      }
      const admin = await Api.forUser(panel.url, ADMIN.username, ADMIN.password);
      return new Stack(db, prefix, relay, panel, proxy, backend, admin, cleanups);
    } catch (e) {
      await undo();
      throw e;
    }
  }

  /** Stops every process, drops the database and deletes the prefix's keys (all attempted). */
  async stop(): Promise<void> {
    const errors: unknown[] = [];
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (e) {
        errors.push(e);
      }
    }
    this.cleanups.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, "cleaning up the stack");
  }

  /** A user (role `user`) and, when given, a grant on a domain; the user's id. */
  async user(username: string, password: string, grant?: { domainId: string; level: "read" | "edit" }): Promise<string> {
    const user = await this.admin.expect<{ id: string }>("POST", "/users", { username, password, role: "user" }, 201);
    if (grant) await this.admin.expect("POST", "/grants", { user_id: user.id, domain_id: grant.domainId, level: grant.level }, 201);
    return user.id;
  }

  /**
   * A proxy status in the fleet of a build older than data format 2 (it publishes no
   * `reads_format`), its heartbeat a few minutes ahead so it stays fresh while the story
   * runs: what the panel's format gate refuses policies for. The function removes it.
   */
  async oldProxy(id: string): Promise<() => Promise<void>> {
    const now = new Date();
    const status = { id, version: 0, heartbeat_at: new Date(now.getTime() + 300_000).toISOString(), applied_at: now.toISOString(), zones: 0, certs: 0 };
    await setHashField(`${this.prefix}proxies`, id, JSON.stringify(status));
    return () => deleteHashField(`${this.prefix}proxies`, id);
  }

  /** A domain (admin); its id. */
  async domain(name: string): Promise<string> {
    return (await this.admin.expect<{ id: string }>("POST", "/domains", { name }, 201)).id;
  }

  /** A zone routed to this stack's backend (admin); its id. */
  async zone(hostname: string): Promise<string> {
    const spec = { hostname, backend: { kind: "upstreams", upstreams: [{ url: this.backend.url, weight: 1 }] } };
    return (await this.admin.expect<{ id: string }>("POST", "/zones", spec, 201)).id;
  }
}
