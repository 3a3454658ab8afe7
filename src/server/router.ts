// Route matching for the server's route table. A pattern is a path of segments: a literal, `:name`
// (a whole-number id, digits only; anything else matches nothing, so a bad id is a 404), or a final
// `*` (the rest of the path, decoded). GET routes answer HEAD too. A path that some route matches
// with another method is a 405, one that no route matches a 404.

import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.js';

/** What a route answers: JSON, bytes of a type (with an optional CSP of their own), or an empty status. */
export type Reply =
  | { json: unknown; status?: number }
  | { type: string; body: Buffer | string; csp?: string; status?: number }
  | { empty: number };

/** What a handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  /** The `:name` segments as numbers. */
  params: Record<string, number>;
  /** The path after the pattern's literal prefix when it ends in `*`, decoded ('' otherwise). */
  rest: string;
  query: URLSearchParams;
  /** The JSON body (at most the body limit; 400 when it is not JSON). */
  json(): Promise<unknown>;
  /** Run model work through the compute queue (429 when full); the client leaving cancels a waiting job. */
  compute<T>(work: () => Promise<T>): Promise<T>;
}

export interface Route {
  method: 'GET' | 'POST';
  pattern: string;
  handle(c: RouteContext): Promise<Reply> | Reply;
}

/** A GET (and HEAD) route. */
export const get = (pattern: string, handle: Route['handle']): Route => ({ method: 'GET', pattern, handle });
/** A POST route (the server checks its origin and JSON content type before the handler runs). */
export const post = (pattern: string, handle: Route['handle']): Route => ({ method: 'POST', pattern, handle });

const WHOLE = /^\d{1,15}$/;

/** A URL path segment decoded, or a NUL (which matches no literal) when its escapes are malformed. */
function decodeSegment(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return '\0';
  }
}

/** The params and rest when `pattern` matches the raw path's segments, else null. */
function matchPattern(pattern: string, raw: string[]): { params: Record<string, number>; rest: string } | null {
  const pat = pattern.split('/').slice(1);
  const params: Record<string, number> = {};
  for (let i = 0; i < pat.length; i++) {
    const p = pat[i]!;
    if (p === '*') {
      // Decoded as a whole, as report files are named; the file readers refuse '..' and the like.
      try {
        return { params, rest: decodeURIComponent(raw.slice(i).join('/')) };
      } catch {
        return null;
      }
    }
    if (i >= raw.length) return null;
    // Segments are decoded one by one, so an encoded '/' stays inside its segment (and matches nothing).
    const s = decodeSegment(raw[i]!);
    if (p.startsWith(':')) {
      if (!WHOLE.test(s)) return null;
      params[p.slice(1)] = Number(s);
    } else if (p !== s) return null;
  }
  return raw.length === pat.length ? { params, rest: '' } : null;
}

/** The route for a method and raw (still encoded) path, with its params; HttpError 404 or 405 when none. */
export function matchRoute(routes: readonly Route[], method: string, rawPath: string): { route: Route; params: Record<string, number>; rest: string } {
  const raw = rawPath.split('/').slice(1);
  const want = method === 'HEAD' ? 'GET' : method;
  let other = false;
  for (const route of routes) {
    const m = matchPattern(route.pattern, raw);
    if (!m) continue;
    if (route.method === want) return { route, ...m };
    other = true;
  }
  if (other) throw new HttpError(405, `${method} is not allowed here`);
  throw new HttpError(404, rawPath.startsWith('/api/') ? 'no such API path or id' : 'no such path');
}
