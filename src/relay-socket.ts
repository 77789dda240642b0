/**
 * The client half of a WebSocket connection without `ws`: the opening
 * handshake (RFC 6455 section 4) over node:http or node:https, and the few
 * frames a client sends (ping, pong, close), masked as section 5.3 demands.
 * What arrives on the socket afterwards is the native parser's business
 * (native/core/websocket.h): openRelaySocket hands over the raw socket and
 * the bytes already read past the 101 answer, and read() then passes on
 * each read.
 *
 * The socket reads into one buffer of its own (net's `onread`), reused for
 * every read: at 100k events/s a fresh 64 KiB buffer per read was most of
 * the Node thread's allocations and a good part of peak RSS (dead buffers
 * awaiting the garbage collector). Until the upgrade, reads are copied
 * and handed to node:http, which parses the 101 answer.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import tls, { type ConnectionOptions, type TLSSocket } from 'node:tls';

/** RFC 6455 section 1.3: appended to the key to compute Sec-WebSocket-Accept. */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
/** How much of a refusal's body goes into the error message. */
const EXCERPT_CHARS = 200;
/** One read at most: four times Node's default, a quarter as many crossings into the addon. */
const READ_BUFFER_BYTES = 256 << 10;

/** Where a socket's reads go: node:http until the upgrade, then read()'s sink. */
interface ReadRoute {
  socket?: Socket;
  upgraded: boolean;
  sink: ((chunk: Buffer) => void) | null;
  /** Read after the upgrade, before read(): TLS may decrypt more than one record after a pause. */
  early: Buffer[];
}

export interface RelaySocketOptions {
  /** Longest time from the start of the connection to the 101 answer. */
  handshakeTimeoutMs: number;
  /** For wss://: a private CA, or a server name other than the URL's host. */
  tls?: Pick<ConnectionOptions, 'ca' | 'servername'>;
  /** Extra request headers (e.g. User-Agent). */
  headers?: Record<string, string>;
  /** Aborts the handshake (the socket is destroyed). */
  signal?: AbortSignal;
}

/** The handshake failed; status is the HTTP status of a refusal. */
export class HandshakeError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HandshakeError';
  }
}

/**
 * An upgraded connection. Read from `socket` (after consuming `head`) and
 * attach an 'error' listener at once: nothing else listens any more.
 */
export class RelaySocket {
  constructor(
    readonly socket: Socket | TLSSocket,
    /** Bytes the server sent right after its 101 answer, already read. */
    readonly head: Buffer,
    private readonly route: ReadRoute = { upgraded: true, sink: null, early: [] },
  ) {}

  /**
   * Starts passing each read to sink, or (null) drops what comes from now
   * on. A chunk is a view of a buffer that the next read overwrites: copy
   * what you keep. The socket stays paused until socket.resume().
   */
  read(sink: ((chunk: Buffer) => void) | null): void {
    const early = this.route.early.splice(0);
    this.route.sink = sink ?? (() => {});
    if (sink) for (const chunk of early) sink(chunk);
  }

  /** Returns socket.write()'s answer (false: the socket buffers). */
  ping(payload: Uint8Array = Buffer.alloc(0)): boolean {
    return this.socket.write(clientFrame(OP_PING, payload));
  }

  /** Answers a ping: the payload must be the ping's. */
  pong(payload: Uint8Array): boolean {
    return this.socket.write(clientFrame(OP_PONG, payload));
  }

  /**
   * Sends a close frame, without a status when code is undefined (the echo
   * of a close that had none); the caller then waits for the server's close
   * and ends the socket.
   */
  close(code?: number, reason = ''): boolean {
    if (code === undefined) {
      if (reason) throw new RangeError('a close reason needs a close code');
      return this.socket.write(clientFrame(OP_CLOSE, Buffer.alloc(0)));
    }
    const text = Buffer.from(reason);
    if (!((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))) {
      throw new RangeError(`close code ${code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999`);
    }
    if (text.length > 123) throw new RangeError(`close reason of ${text.length} bytes: at most 123 fit in a close frame`);
    const payload = Buffer.allocUnsafe(2 + text.length);
    payload.writeUInt16BE(code, 0);
    text.copy(payload, 2);
    return this.socket.write(clientFrame(OP_CLOSE, payload));
  }
}

/** One final (FIN) client frame, masked with a fresh random key. */
export function clientFrame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  if (opcode >= 0x8 && n > 125) throw new RangeError(`control frame payload of ${n} bytes: at most 125 allowed`);
  const head = n < 126 ? 2 : n <= 0xffff ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + 4 + n);
  frame[0] = 0x80 | opcode;
  if (head === 2) {
    frame[1] = 0x80 | n;
  } else if (head === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = frame.subarray(head, head + 4);
  randomFillSync(mask);
  for (let i = 0; i < n; i++) frame[head + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/**
 * Opens a WebSocket to a ws:// or wss:// URL, offering no extension and no
 * subprotocol. Rejects with a HandshakeError that says what the server did.
 */
export function openRelaySocket(url: string, opts: RelaySocketOptions): Promise<RelaySocket> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.reject(new HandshakeError(`${url} is not a URL: use ws://host[:port]/path or wss://...`));
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    return Promise.reject(new HandshakeError(`${url}: only ws:// and wss:// URLs can be opened as a WebSocket`));
  }
  const origin = `${u.protocol}//${u.host}`;
  const secure = u.protocol === 'wss:';
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (message: string, status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      // Without an agent, node:http may leave a socket it got from createConnection open.
      route.socket?.destroy();
      reject(new HandshakeError(message, status));
    };
    const onAbort = () => fail(`handshake with ${origin} aborted`);
    const timer = setTimeout(
      () => fail(`${origin} did not complete the WebSocket handshake within ${opts.handshakeTimeoutMs} ms`),
      opts.handshakeTimeoutMs,
    );

    const route: ReadRoute = { upgraded: false, sink: null, early: [] };
    const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const onread = {
      buffer,
      // true: go on reading (a sink that wants a pause calls socket.pause()).
      callback: (n: number) => {
        const chunk = buffer.subarray(0, n);
        if (route.sink) route.sink(chunk);
        else if (route.upgraded) route.early.push(Buffer.from(chunk));
        else route.socket?.emit('data', Buffer.from(chunk));
        return true;
      },
    };
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(u.port || (secure ? 443 : 80));
    const req = (secure ? https : http).request({
      hostname: host,
      port,
      path: u.pathname + u.search,
      // No agent: node:http takes this socket, which reads into our buffer.
      createConnection: () => {
        route.socket = secure
          ? // tls.connect takes onread too (Node's documentation), which @types/node leaves out.
            tls.connect({ host, port, servername: opts.tls?.servername ?? (net.isIP(host) ? undefined : host), ca: opts.tls?.ca, onread } as ConnectionOptions)
          : net.connect({ host, port, onread });
        return route.socket;
      },
      headers: {
        ...opts.headers,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
      },
    });
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (err) => fail(`cannot reach ${origin}: ${err.message}`));
    req.on('response', (res) => {
      // Node sees no upgrade in a 101 without Upgrade and Connection headers.
      if (res.statusCode === 101) {
        fail(`${origin} answered 101 without the Upgrade and Connection headers of a WebSocket upgrade`);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      const refuse = () => {
        const body = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
        const excerpt = body.length > EXCERPT_CHARS ? `${body.slice(0, EXCERPT_CHARS)}...` : body;
        fail(
          `${origin} answered HTTP ${res.statusCode} ${res.statusMessage ?? ''} instead of upgrading to WebSocket` +
            (excerpt ? `: ${excerpt}` : ' (empty body)'),
          res.statusCode,
        );
      };
      res.on('data', (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        if (size >= 4 * EXCERPT_CHARS) refuse();
      });
      res.on('end', refuse);
      res.on('error', refuse);
    });
    req.on('upgrade', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const h = res.headers;
      let problem: string | undefined;
      if (h.upgrade?.toLowerCase() !== 'websocket') {
        problem = `upgraded to "${h.upgrade}", not to websocket`;
      } else if (h['sec-websocket-accept'] !== accept) {
        problem = 'answered with a wrong Sec-WebSocket-Accept: it is not a WebSocket server, or a proxy is in the way';
      } else if (h['sec-websocket-extensions'] !== undefined) {
        problem = `enabled extensions it was not offered (${h['sec-websocket-extensions']})`;
      } else if (h['sec-websocket-protocol'] !== undefined) {
        problem = `picked a subprotocol it was not offered (${h['sec-websocket-protocol']})`;
      }
      if (problem) {
        socket.destroy();
        fail(`${origin} ${problem}`);
        return;
      }
      if (settled) {
        socket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.setTimeout(0);
      socket.setNoDelay(true);
      // Held until read() says where the bytes go.
      route.upgraded = true;
      socket.pause();
      resolve(new RelaySocket(socket, head, route));
    });
    req.end();
  });
}
