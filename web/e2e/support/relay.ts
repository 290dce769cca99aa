// A TCP relay in front of a real service (PostgreSQL) that a test can cut — every relayed
// connection closed, new ones refused — and restore on the same port, so an outage hits
// only the panel under test, never others sharing that server. The node twin of
// tests/src/relay.rs.
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly target: { host: string; port: number },
    private port: number,
  ) {}

  /** Relays a port the OS picks on 127.0.0.1 to `target`. */
  static async start(target: { host: string; port: number }): Promise<Relay> {
    const relay = new Relay(target, 0);
    await relay.listen();
    return relay;
  }

  /** The relay's own address, to give the process under test. */
  get host(): string {
    return "127.0.0.1";
  }
  get boundPort(): number {
    return this.port;
  }

  private listen(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = createConnection(this.target);
      this.track(inbound);
      this.track(outbound);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on("error", close).on("close", close);
      outbound.on("error", close).on("close", close);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private track(socket: Socket) {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
  }

  /** The service "goes down": open connections drop, new ones are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  }

  /** The service "comes back" on the same address. */
  async restore(): Promise<void> {
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.cut();
  }
}
