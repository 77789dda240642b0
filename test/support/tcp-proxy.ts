/**
 * A TCP proxy on a free loopback port, for the faults that sit between the
 * writer and Redis: a stable address whose backend the test switches (a
 * managed Redis endpoint after a failover), and a network that holds a
 * request back and delivers it late (a stale transaction). Each client
 * connection gets its own connection to the backend chosen when it opened.
 */
import net from 'node:net';

export interface ProxyLink {
  readonly id: number;
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Bytes from the client seen so far (what the test may match on). */
  readonly sent: Buffer[];
  /** While held: client bytes kept here instead of reaching the backend. */
  held: Buffer[] | null;
  /** The client has gone (its end of the link is closed). */
  clientClosed: boolean;
}

export class TcpProxy {
  readonly links: ProxyLink[] = [];
  private readonly server: net.Server;
  private backendPort: number;
  /** Set by holdOn(): which chunk starts holding its link (once). */
  private holdWhen: ((link: ProxyLink, chunk: Buffer) => boolean) | null = null;

  private constructor(backendPort: number) {
    this.backendPort = backendPort;
    this.server = net.createServer((c) => this.accept(c));
  }

  static async start(backendPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(backendPort);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(0, '127.0.0.1', () => resolve());
    });
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** New connections go to this port; open ones stay where they are. */
  setBackend(port: number): void {
    this.backendPort = port;
  }

  /**
   * From now on, the first client chunk for which `when` is true (on any
   * link) starts holding that link: its bytes stop reaching the backend.
   * If the client then goes away, the backend side is kept open, so that
   * release() can still deliver the request late.
   */
  holdOn(when: (link: ProxyLink, chunk: Buffer) => boolean): void {
    this.holdWhen = when;
  }

  /** Links currently held. */
  get heldLinks(): ProxyLink[] {
    return this.links.filter((l) => l.held !== null);
  }

  /**
   * Delivers a held link's bytes to the backend, and resolves with what the
   * backend answered within `answerMs` (the client may be long gone).
   */
  async release(link: ProxyLink, answerMs = 500): Promise<string> {
    const bytes = link.held ?? [];
    link.held = null;
    const answer: Buffer[] = [];
    const onData = (d: Buffer) => answer.push(d);
    link.upstream.on('data', onData);
    for (const b of bytes) link.upstream.write(b);
    await new Promise((r) => setTimeout(r, answerMs));
    link.upstream.off('data', onData);
    if (link.clientClosed) link.upstream.destroy();
    return Buffer.concat(answer).toString('latin1');
  }

  /**
   * Stops moving bytes, both ways, on every open link (a partition): they
   * wait in the sockets until dropAll() throws them away.
   */
  pauseAll(): void {
    for (const l of this.links) {
      l.client.pause();
      l.upstream.pause();
    }
  }

  /** Cuts every open link, as a backend that died or a dropped network would. */
  dropAll(): void {
    for (const l of this.links) {
      l.client.destroy();
      l.upstream.destroy();
    }
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.backendPort, '127.0.0.1');
    const link: ProxyLink = { id: this.links.length, client, upstream, sent: [], held: null, clientClosed: false };
    this.links.push(link);
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('data', (d: Buffer) => {
      link.sent.push(d);
      if (link.held === null && this.holdWhen?.(link, d)) {
        this.holdWhen = null;
        link.held = [];
      }
      if (link.held !== null) link.held.push(d);
      else upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!link.clientClosed) client.write(d);
    });
    client.on('close', () => {
      link.clientClosed = true;
      // A held request outlives its client: that is the point of holding it.
      if (link.held === null) upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
