// `saelab serve`: a read-only web UI and JSON API over one workspace database, on node:http.
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
// Binds 127.0.0.1 unless told otherwise. Nothing is written. Unknown paths and ids: 404; a body over
// the limit: 413; every error is a JSON (or text) line, never a stack trace.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { baseHeaders, FILE_CSP, HttpError, readBody, sendBytes, sendJson } from './http.js';
import { listReportFiles, readReportFile } from './reportFiles.js';
import { INDEX_HTML, uiDir, uiFile } from './staticAssets.js';
import { attributionsApi } from './rewardApi.js';
import { TextService } from './textService.js';
import { WorkspaceReader } from './workspaceApi.js';

export interface ServeOptions {
  /** The workspace database. */
  db: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Device for "text → features" (the caller owns it). */
  device: Device;
  /** Largest request body in bytes (default 64 KiB). */
  maxBody?: number;
  /** Longest text for "text → features", in characters (default 8000). */
  maxText?: number;
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

/** A whole number in a path segment or query value (digits only), or null. */
function wholeNumber(s: string | null | undefined, max = Number.MAX_SAFE_INTEGER): number | null {
  if (s === null || s === undefined || !/^\d{1,15}$/.test(s)) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

/** A URL path segment decoded, or a NUL (which matches no route) when its escapes are malformed. */
function decodeSegment(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return '\0';
  }
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
  const log = o.log ?? ((line: string) => process.stderr.write(line + '\n'));

  const api = async (req: IncomingMessage, res: ServerResponse, parts: string[], query: URLSearchParams): Promise<void> => {
    const method = req.method ?? 'GET';
    const get = method === 'GET' || method === 'HEAD';
    const id = (s: string | undefined) => {
      const n = wholeNumber(s);
      if (n === null) throw new HttpError(404, `no such id '${s}'`);
      return n;
    };
    const only = (ok: boolean) => {
      if (!ok) throw new HttpError(405, `${method} is not allowed here`);
    };
    const [a, b, c, d, ...rest] = parts;
    if (rest.length > 0) throw new HttpError(404, 'no such API path');
    if (a === 'workspace' && b === undefined) {
      only(get);
      return sendJson(res, 200, reader.workspace());
    }
    if (a === 'attributions') {
      only(get);
      return sendJson(res, 200, attributionsApi(reader, b, c));
    }
    if (a === 'reports' && b === undefined) {
      only(get);
      return sendJson(res, 200, { files: await listReportFiles(workspace) });
    }
    if (a === 'saes' && b !== undefined && c === 'metrics' && d === undefined) {
      only(get);
      return sendJson(res, 200, reader.metrics(id(b)));
    }
    if (a === 'dashboards' && b !== undefined) {
      const dash = id(b);
      if (c === undefined) {
        only(get);
        return sendJson(res, 200, reader.dashboardInfo(dash));
      }
      if (c === 'features' && d === undefined) {
        only(get);
        const limit = wholeNumber(query.get('limit') ?? '100', 1000);
        const offset = wholeNumber(query.get('offset') ?? '0');
        if (limit === null || offset === null) throw new HttpError(400, 'limit must be a whole number ≤ 1000 and offset a whole number');
        return sendJson(res, 200, reader.featureList(dash, query.get('order'), limit, offset));
      }
      if (c === 'features' && d !== undefined) {
        only(get);
        return sendJson(res, 200, reader.feature(dash, id(d)));
      }
      if (c === 'text' && d === undefined) {
        only(method === 'POST');
        const body = await readBody(req, maxBody);
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          throw new HttpError(400, 'the body must be JSON: {"text": "..."}');
        }
        const t = (parsed as { text?: unknown } | null)?.text;
        if (typeof t !== 'string') throw new HttpError(400, 'the body must be JSON: {"text": "..."}');
        if (t.length > maxText) throw new HttpError(413, `text of ${t.length} characters is over the limit of ${maxText}`);
        const info = reader.dashboard(dash);
        return sendJson(res, 200, await text.run(info, t));
      }
    }
    throw new HttpError(404, 'no such API path');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    baseHeaders(res);
    const url = new URL(req.url ?? '/', 'http://localhost');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      throw new HttpError(404, 'no such path');
    }
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    // Segments are decoded one by one, so an encoded '/' stays inside its segment (and matches nothing).
    if (path.startsWith('/api/')) return api(req, res, url.pathname.slice(5).split('/').map(decodeSegment), url.searchParams);
    if (method !== 'GET' && !head) throw new HttpError(405, `${method} is not allowed here`);
    if (path === '/' || path === '/index.html') return sendBytes(res, 200, 'text/html; charset=utf-8', INDEX_HTML, head);
    if (path.startsWith('/ui/')) {
      const f = await uiFile(ui, path.slice(4));
      if (!f) throw new HttpError(404, 'no such file');
      return sendBytes(res, 200, f[0], f[1], head);
    }
    if (path.startsWith('/files/')) {
      const f = await readReportFile(workspace, path.slice(7));
      res.setHeader('content-security-policy', FILE_CSP);
      return sendBytes(res, 200, f.type, f.body, head);
    }
    if (path === '/favicon.ico') {
      res.statusCode = 204;
      res.end();
      return;
    }
    throw new HttpError(404, 'no such path');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof HttpError ? e.message : 'internal error (see the server log)';
      if (!(e instanceof HttpError)) log(`saelab serve: internal error on ${req.method} ${req.url}: ${(e as Error)?.message ?? String(e)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (status === 413) res.setHeader('connection', 'close');
      sendJson(res, status, { error: message, status });
    });
  });
  server.on('clientError', (_e, socket) => {
    // Malformed requests (bad headers, oversized header blocks): a bare 400, no details.
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, host, () => (server.off('error', fail), ok()));
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
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
