// A raw HTTP/1.1 client over one loopback TCP socket for server tests: it sends bytes exactly as
// written (any Host, no Content-Type, a Content-Length with no body, headers one byte at a time)
// and reads answers one by one (Content-Length bodies), with a time bound on every wait.

import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** performance.now() when the whole answer had arrived. */
  at: number;
}

/** One socket to 127.0.0.1:port (see the file comment). */
export class RawSocket {
  private buf = Buffer.alloc(0);
  private readonly ready: RawAnswer[] = [];
  private wake: (() => void) | null = null;
  /** performance.now() when the server closed the socket, or null while it is open. */
  closedAt: number | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      // Parsed on arrival, so an answer's time is when it came, not when the test asked for it.
      for (let a = this.parse(); a; a = this.parse()) this.ready.push(a);
      this.wake?.();
    });
    const closed = () => {
      this.closedAt ??= performance.now();
      this.wake?.();
    };
    socket.on('end', closed);
    socket.on('close', closed);
    socket.on('error', closed);
  }

  /** Connect to 127.0.0.1:port. */
  static open(port: number): Promise<RawSocket> {
    return new Promise((ok, fail) => {
      const s = connect({ host: '127.0.0.1', port }, () => (s.off('error', fail), ok(new RawSocket(s))));
      s.once('error', fail);
    });
  }

  /** Write bytes now (a loopback write of a few KB goes to the kernel at once). */
  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** The next whole answer; rejects after `timeoutMs` or when the socket closes first. */
  async answer(timeoutMs = 5000): Promise<RawAnswer> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const a = this.ready.shift();
      if (a) return a;
      if (this.closedAt !== null) throw new Error(`socket closed before a whole answer (${this.buf.length} bytes: ${this.buf.toString('latin1').slice(0, 80)})`);
      if (!(await this.waitData(until - performance.now()))) throw new Error(`no whole answer within ${timeoutMs} ms`);
    }
  }

  /** Wait until the server closes the socket; the time it closed, or null if still open after `timeoutMs`. */
  async closed(timeoutMs: number): Promise<number | null> {
    const until = performance.now() + timeoutMs;
    while (this.closedAt === null) if (!(await this.waitData(until - performance.now()))) break;
    return this.closedAt;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private waitData(ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((ok) => {
      const timer = setTimeout(() => ((this.wake = null), ok(false)), ms);
      this.wake = () => (clearTimeout(timer), (this.wake = null), ok(true));
    });
  }

  private parse(): RawAnswer | null {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [statusLine, ...lines] = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const n = Number(headers['content-length'] ?? 0);
    if (this.buf.length < end + 4 + n) return null;
    const body = this.buf.subarray(end + 4, end + 4 + n).toString('utf8');
    this.buf = this.buf.subarray(end + 4 + n);
    return { status: Number(statusLine!.split(' ')[1]), headers, body, at: performance.now() };
  }
}

/** A request's bytes: method, path, headers (Host first, as given), and an optional body with its Content-Length. */
export function requestText(method: string, path: string, headers: Record<string, string>, body?: string): string {
  const h = { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) };
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body ?? ''}`;
}

/** One request on a fresh socket, its answer, and the socket closed. */
export async function rawRequest(port: number, text: string, timeoutMs = 5000): Promise<RawAnswer> {
  const s = await RawSocket.open(port);
  try {
    s.send(text);
    return await s.answer(timeoutMs);
  } finally {
    s.destroy();
  }
}
