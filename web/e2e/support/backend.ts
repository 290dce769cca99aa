// A real local HTTP backend behind the proxy: answers every request 200 with
// `x-upstream: <name>` and a JSON description of what it received, and remembers it —
// except `/healthz`, which answers `healthStatus` (200 unless a story makes it sick);
// every other request answers `status` (200 unless a story makes the backend fail).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  method: string;
  path: string;
  host: string;
}

export class Backend {
  readonly seen: SeenRequest[] = [];
  /** What `/healthz` answers (a health check's probe), while the port stays open. */
  healthStatus = 200;
  /** What every other request answers. */
  status = 200;
  private readonly server: Server;

  private constructor(readonly name: string) {
    this.server = createServer((req, res) => {
      const request = { method: req.method ?? "", path: req.url ?? "", host: req.headers.host ?? "" };
      this.seen.push(request);
      req.resume();
      const status = request.path === "/healthz" ? this.healthStatus : this.status;
      res.writeHead(status, { "content-type": "application/json", "x-upstream": name });
      res.end(JSON.stringify({ upstream: name, ...request }));
    });
  }

  /** Listens on a port the OS picks on 127.0.0.1. */
  static async start(name: string): Promise<Backend> {
    const backend = new Backend(name);
    await new Promise<void>((resolve) => backend.server.listen(0, "127.0.0.1", resolve));
    return backend;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:PORT`, the upstream URL a zone gives. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => { resolve(); }));
  }
}
