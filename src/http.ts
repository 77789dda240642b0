/**
 * /healthz and /metrics. Health is 200 only while the service is doing its
 * job; otherwise 503 with the reasons, so an orchestrator can restart it and
 * an operator can read why.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Health {
  ok: boolean;
  reasons: string[];
  details: Record<string, unknown>;
}

export interface HttpHandlers {
  health(): Health;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export class HttpServer {
  private readonly server: http.Server;

  constructor(private readonly handlers: HttpHandlers) {
    this.server = http.createServer((req, res) => void this.route(req, res));
    // Probes and scrapers hold connections open; do not let them delay exit.
    this.server.keepAliveTimeout = 5000;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (path === '/healthz') {
        const h = this.handlers.health();
        const body = JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', reasons: h.reasons, ...h.details });
        res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(body + '\n');
      } else if (path === '/metrics') {
        const m = await this.handlers.metrics();
        res.writeHead(200, { 'content-type': m.contentType }).end(m.body);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  }
}
