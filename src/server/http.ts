// Small HTTP helpers for the read-only server: JSON answers, errors that carry a status, one line
// for the user (never a stack trace) and any extra headers (Retry-After), a body reader with a size
// limit (413), and the security headers every answer gets.

import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error answered with `status` and its one-line message. */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message.replace(/[\r\n]+/g, ' '));
  }
}

// Scripts only from our own origin, nothing inline, no plugins, no framing: even text that slipped
// past escaping could not run a script.
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
// The same policy for a static site (saelab export-site), where it travels in a <meta> tag: a meta
// policy cannot carry frame-ancestors (browsers ignore it there), the rest is unchanged.
export const STATIC_PAGE_CSP = PAGE_CSP.replace(/; frame-ancestors 'none'/, '');
// Report files (SVG can hold scripts): rendered inert even when opened directly.
export const FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; sandbox";

/** Set the headers every answer carries. */
export function baseHeaders(res: ServerResponse, csp = PAGE_CSP): void {
  res.setHeader('content-security-policy', csp);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  res.setHeader('cache-control', 'no-store');
}

/** Answer with a JSON body. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', body.length);
  res.end(body);
}

/** Answer with bytes of a content type. */
export function sendBytes(res: ServerResponse, status: number, type: string, body: Buffer | string, head = false): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', buf.length);
  res.end(head ? undefined : buf);
}

/** Answer with one line of plain text (for answers given before any route is chosen). */
export function sendText(res: ServerResponse, status: number, line: string): void {
  sendBytes(res, status, 'text/plain; charset=utf-8', line.replace(/[\r\n]+/g, ' ') + '\n');
}

/** The request's Content-Length as a number (NaN when absent or malformed). */
export function declaredLength(req: IncomingMessage): number {
  const v = req.headers['content-length'];
  return v !== undefined && /^\d{1,20}$/.test(v) ? Number(v) : NaN;
}

/**
 * Read a request body of at most `limit` bytes; past it an HttpError 413. An oversized body is
 * still drained (up to 64 × limit) before the answer, so the client reads the 413 instead of a reset.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = declaredLength(req);
  const chunks: Buffer[] = [];
  let n = 0;
  let over = Number.isFinite(declared) && declared > limit;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) over = true;
    if (over) {
      if (n > 64 * limit) break; // stop reading; the answer closes the connection
      continue;
    }
    chunks.push(c);
  }
  if (over) throw new HttpError(413, `request body is over the limit of ${limit} bytes`);
  return Buffer.concat(chunks);
}
