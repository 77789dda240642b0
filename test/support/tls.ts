/**
 * A throwaway CA and certificates made with the openssl CLI, and
 * redis-server with a TLS port using them, for rediss:// tests.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, RedisServer } from './redis.js';

export class TestCA {
  private constructor(readonly dir: string) {}

  /**
   * ca.crt signs server.crt (127.0.0.1 and localhost) and client.crt;
   * other.crt is self-signed, trusted by nobody.
   */
  static create(): TestCA {
    const ca = new TestCA(fs.mkdtempSync(path.join(os.tmpdir(), 'firehose-redis-tls-')));
    ca.certificate('ca', 'test-ca', { selfSigned: true });
    ca.certificate('server', 'localhost', { san: 'IP:127.0.0.1,DNS:localhost' });
    ca.certificate('client', 'firehose-redis', { client: true });
    ca.certificate('other', 'other', { selfSigned: true });
    return ca;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** redis-server with a TLS port (and its plain port), on 127.0.0.1 and 127.0.0.2. */
  async redis(authClients: 'yes' | 'no' = 'no'): Promise<{ redis: RedisServer; tlsPort: number }> {
    const tlsPort = await freePort();
    const redis = await RedisServer.start({
      // 127.0.0.2 too: a loopback address the certificate does not name.
      args: ['--bind', '127.0.0.1', '127.0.0.2', '--tls-port', String(tlsPort), '--tls-cert-file', this.file('server.crt'),
        '--tls-key-file', this.file('server.key'), '--tls-ca-cert-file', this.file('ca.crt'), '--tls-auth-clients', authClients],
    });
    return { redis, tlsPort };
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'ignore' });
  }

  /** A P-256 key and a certificate for `cn`, signed by ca.crt unless self-signed. */
  private certificate(name: string, cn: string, opts: { selfSigned?: boolean; san?: string; client?: boolean }): void {
    const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
    if (opts.selfSigned) {
      this.openssl('req', '-x509', ...key, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`);
      return;
    }
    this.openssl('req', ...key, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    const ext = [opts.san ? `subjectAltName=${opts.san}` : '', `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`];
    fs.writeFileSync(this.file(`${name}.ext`), ext.filter(Boolean).join('\n') + '\n');
    this.openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`,
      '-days', '2', '-extfile', `${name}.ext`);
  }
}
