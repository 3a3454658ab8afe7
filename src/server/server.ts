// `saelab serve`: a read-only web UI and JSON API over one workspace database, on node:http.
// The routes are the table in `startServer` (one line each; router.ts says how patterns match):
//
//   GET  /                                   the page (src/server/ui, compiled) — /ui/<name>.js, /ui/style.css
//   GET  /api/workspace                      runs, SAEs (last training metrics, eval metrics), dashboards
//   GET  /api/saes/:id/metrics               training curves
//   GET  /api/dashboards/:id                 a dashboard
//   GET  /api/dashboards/:id/features?order=feature|density|maxAct&limit=&offset=
//   GET  /api/dashboards/:id/features/:f     a feature page
//   POST /api/dashboards/:id/text            {"text": "..."} → features per token (runs the model and SAE)
//   GET  /api/attributions[/:id]             reward-attribution runs, one run's report (rewardApi.ts)
//   GET  /api/reports                        report files (JSON, SVG, PNG) under the workspace folder
//   GET  /files/<path>                       one of those files
//
// Binds 127.0.0.1 unless told otherwise. Nothing is written. Before any route runs, every request
// passes, in order: the Host allow list (421; requestGuard.ts), the declared Content-Length against
// the body limit (413 before a byte of the body is read), the route table (404/405), and for a POST
// the same-origin check (403) and an application/json Content-Type (415). Model work goes through
// the bounded compute queue (429 when full; computeQueue.ts). Slow and silent sockets are closed by
// the header, request, keep-alive and idle timeouts. Every error is a JSON (or text) line, never a
// stack trace.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { ComputeQueue } from './computeQueue.js';
import { baseHeaders, declaredLength, FILE_CSP, HttpError, readBody, sendBytes, sendJson, sendText } from './http.js';
import { listReportFiles, readReportFile } from './reportFiles.js';
import { allowedHostNames, contentTypeProblem, crossSiteProblem, hostProblem } from './requestGuard.js';
import { get, matchRoute, post, type Reply, type Route, type RouteContext } from './router.js';
import { INDEX_HTML, uiDir, uiFile } from './staticAssets.js';
import { attributionsApi } from './rewardApi.js';
import { TextService } from './textService.js';
import { WorkspaceReader } from './workspaceApi.js';

/** Socket and request time limits, in milliseconds. */
export interface ServerTimeouts {
  /** To receive a request's headers (default 10 s): silent and slow-loris sockets are closed after it. */
  headersMs: number;
  /** To receive a whole request, headers and body (default 30 s). */
  requestMs: number;
  /** An idle keep-alive socket is closed after (default 5 s). */
  keepAliveMs: number;
  /** A socket with no traffic either way is closed after (default 120 s; it must cover a wait in the compute queue). */
  idleMs: number;
  /** How often the header and request limits are checked (default 1 s): their granularity. */
  checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, idleMs: 120_000, checkIntervalMs: 1_000 };

export interface ServeOptions {
  /** The workspace database. */
  db: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Host names answered besides those of the bound address (see requestGuard.ts, allowedHostNames). */
  allowedHosts?: string[];
  /** Device for "text → features" (the caller owns it). */
  device: Device;
  /** Largest request body in bytes (default 64 KiB). */
  maxBody?: number;
  /** Longest text for "text → features", in characters (default 8000). */
  maxText?: number;
  /** Compute requests running or waiting at once (default 4); one more gets 429. */
  queueSize?: number;
  /** Socket and request time limits (defaults in DEFAULT_TIMEOUTS). */
  timeouts?: Partial<ServerTimeouts>;
  /** Where a line about an internal error goes (default stderr). */
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** A whole number in a query value (digits only, at most `max`), or null. */
function wholeNumber(s: string, max = Number.MAX_SAFE_INTEGER): number | null {
  if (!/^\d{1,15}$/.test(s)) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

/** Send a route's reply. */
function send(res: ServerResponse, r: Reply, head: boolean): void {
  if ('json' in r) return sendJson(res, r.status ?? 200, r.json);
  if ('empty' in r) {
    res.statusCode = r.empty;
    res.end();
    return;
  }
  if (r.csp !== undefined) res.setHeader('content-security-policy', r.csp);
  sendBytes(res, r.status ?? 200, r.type, r.body, head);
}

/** Start the server (see the file comment); resolves once it listens. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const dbPath = resolve(o.db);
  const reader = new WorkspaceReader(dbPath);
  const workspace = dirname(dbPath);
  const ui = uiDir();
  const text = new TextService(o.device);
  const maxBody = o.maxBody ?? 64 * 1024;
  const maxText = o.maxText ?? 8000;
  let activity = 0; // connections and requests so far: the compute queue lets the loop turn while it grows
  const queue = new ComputeQueue(o.queueSize ?? 4, () => activity);
  const t: ServerTimeouts = { ...DEFAULT_TIMEOUTS, ...o.timeouts };
  if (t.headersMs > t.requestMs) throw new RangeError(`the headers timeout (${t.headersMs} ms) must not exceed the request timeout (${t.requestMs} ms)`);
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const host = o.host ?? '127.0.0.1';
  const allowed = allowedHostNames(host, o.allowedHosts);
  const page: Reply = { type: 'text/html; charset=utf-8', body: INDEX_HTML };
  const id = (c: RouteContext, name: string): number => c.params[name]!;

  // The route table: add a page or API call with one more line (get/post from router.ts).
  const routes: Route[] = [
    get('/', () => page),
    get('/index.html', () => page),
    get('/favicon.ico', () => ({ empty: 204 })),
    get('/ui/*', async (c) => {
      const f = await uiFile(ui, c.rest);
      if (!f) throw new HttpError(404, 'no such file');
      return { type: f[0], body: f[1] };
    }),
    get('/files/*', async (c) => {
      const f = await readReportFile(workspace, c.rest);
      return { type: f.type, body: f.body, csp: FILE_CSP };
    }),
    get('/api/workspace', () => ({ json: reader.workspace() })),
    get('/api/reports', async () => ({ json: { files: await listReportFiles(workspace) } })),
    get('/api/attributions', () => ({ json: attributionsApi(reader, undefined, undefined) })),
    get('/api/attributions/:run', (c) => ({ json: attributionsApi(reader, String(id(c, 'run')), undefined) })),
    get('/api/duplicates/:run', (c) => ({ json: reader.duplicatesRun(id(c, 'run')) })),
    get('/api/saes/:sae/metrics', (c) => ({ json: reader.metrics(id(c, 'sae')) })),
    get('/api/dashboards/:dash', (c) => ({ json: reader.dashboardInfo(id(c, 'dash')) })),
    get('/api/dashboards/:dash/features', (c) => {
      const limit = wholeNumber(c.query.get('limit') ?? '100', 1000);
      const offset = wholeNumber(c.query.get('offset') ?? '0');
      if (limit === null || offset === null) throw new HttpError(400, 'limit must be a whole number ≤ 1000 and offset a whole number');
      return { json: reader.featureList(id(c, 'dash'), c.query.get('order'), limit, offset) };
    }),
    get('/api/dashboards/:dash/features/:f', (c) => ({ json: reader.feature(id(c, 'dash'), id(c, 'f')) })),
    post('/api/dashboards/:dash/text', async (c) => {
      const t = ((await c.json()) as { text?: unknown } | null)?.text;
      if (typeof t !== 'string') throw new HttpError(400, 'the body must be JSON: {"text": "..."}');
      if (t.length > maxText) throw new HttpError(413, `text of ${t.length} characters is over the limit of ${maxText}`);
      const info = reader.dashboard(id(c, 'dash'));
      return { json: await c.compute(() => text.run(info, t)) };
    }),
  ];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    baseHeaders(res);
    const badHost = hostProblem(req, allowed);
    if (badHost) return sendText(res, 421, badHost);
    // Refused from the header alone: the body is never read (nor waited for).
    const declared = declaredLength(req);
    if (declared > maxBody) throw new HttpError(413, `request body of ${declared} bytes is over the limit of ${maxBody} bytes`);
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (!path.startsWith('/')) throw new HttpError(404, 'no such path');
    const { route, params, rest } = matchRoute(routes, method, path);
    if (route.method === 'POST') {
      const crossSite = crossSiteProblem(req);
      if (crossSite) throw new HttpError(403, crossSite);
      const badType = contentTypeProblem(req);
      if (badType) throw new HttpError(415, badType);
    }
    const ctx: RouteContext = {
      req, params, rest,
      query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
      json: async () => {
        const body = await readBody(req, maxBody);
        try {
          return JSON.parse(body.toString('utf8')) as unknown;
        } catch {
          throw new HttpError(400, 'the body must be JSON');
        }
      },
      compute: (work) => queue.submit(work, () => res.destroyed || req.socket.destroyed),
    };
    send(res, await route.handle(ctx), method === 'HEAD');
  };

  const server = createServer({ headersTimeout: t.headersMs, requestTimeout: t.requestMs, connectionsCheckingInterval: t.checkIntervalMs }, (req, res) => {
    activity++;
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 499) return void res.destroy(); // the client left while its job waited
      const message = e instanceof HttpError ? e.message : 'internal error (see the server log)';
      if (!(e instanceof HttpError)) log(`saelab serve: internal error on ${req.method} ${req.url}: ${(e as Error)?.message ?? String(e)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof HttpError) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
      if (status === 413) res.setHeader('connection', 'close');
      sendJson(res, status, { error: message, status });
    });
  });
  server.on('connection', () => activity++);
  server.keepAliveTimeout = t.keepAliveMs;
  server.setTimeout(t.idleMs);
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    // Malformed requests (bad headers, oversized header blocks) and the header/request timeouts: a
    // bare status line, no details, and the socket closed even if the client keeps sending.
    const status = e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : e.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`, () => socket.destroy());
    else socket.destroy();
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, host, () => (server.off('error', fail), ok()));
  });
  const port = (server.address() as AddressInfo).port;
  // A wildcard bind is not a name a browser can use (nor one the Host check accepts): show loopback.
  const shownHost = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`, host, port, server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
        text.dispose();
        reader.close();
      }),
  };
}
