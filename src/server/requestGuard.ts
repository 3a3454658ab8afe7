// Checks every request passes before a route runs, against other web pages in the user's browser:
//
// - Host allow list (DNS rebinding): a page on evil.example can make its own name resolve to
//   127.0.0.1 and then read our answers as same-origin; its requests still carry `Host:
//   evil.example`, so only the names this server is reached by are answered. The port in the Host
//   header is not compared: the name is what an attacker controls, and an ssh tunnel
//   (`ssh -L 9000:localhost:8017`) legitimately shows another port.
// - Same origin for every state-changing or compute request (POST): a cross-site form or
//   `text/plain` fetch needs no CORS preflight, so the server itself refuses an Origin (else
//   Sec-Fetch-Site) that is not its own; a request with neither (curl, scripts) is allowed. POST
//   bodies must be `application/json`, which no cross-site page can send without a preflight.

import type { IncomingMessage } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

/** A Host header split into its lower-case name (IPv6 without brackets) and port ('' when absent), or null when malformed. */
export function parseHost(h: string | undefined): { name: string; port: string } | null {
  if (h === undefined) return null;
  const v6 = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/i.exec(h);
  if (v6) return { name: v6[1]!.toLowerCase(), port: v6[2] ?? '' };
  const named = /^([a-z0-9_.-]+)(?::(\d{1,5}))?$/i.exec(h);
  if (named) return { name: named[1]!.toLowerCase(), port: named[2] ?? '' };
  return null;
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];
const WILDCARD = new Set(['0.0.0.0', '::', '']);

/** Whether a bind address is a loopback one (only this machine can connect). */
function isLoopback(bind: string): boolean {
  return bind === 'localhost' || bind === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bind);
}

/**
 * The host names (lower case, IPv6 without brackets) a server bound to `bind` answers to: for a
 * loopback address, localhost / 127.0.0.1 / ::1; for 0.0.0.0 or ::, those plus this machine's
 * host name and every address of its interfaces; for any other address or name, that one; and
 * always `extra` (`--allowed-hosts`).
 */
export function allowedHostNames(bind: string, extra: readonly string[] = []): Set<string> {
  const b = bind.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  const names = new Set<string>(extra.map((e) => e.toLowerCase().replace(/^\[(.*)\]$/, '$1')));
  if (!WILDCARD.has(b)) names.add(b);
  if (isLoopback(b) || WILDCARD.has(b)) for (const n of LOOPBACK) names.add(n);
  if (WILDCARD.has(b)) {
    names.add(hostname().toLowerCase());
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(a.address.toLowerCase());
  }
  return names;
}

/** Whether `s` is a host name or IP address `--allowed-hosts` may list. */
export function isHostName(s: string): boolean {
  return parseHost(s) !== null && !/:\d+$/.test(s.replace(/^\[.*\]/, ''));
}

/** Why a request's Host header is refused, or null when it names this server. */
export function hostProblem(req: IncomingMessage, allowed: ReadonlySet<string>): string | null {
  const h = req.headers.host;
  const parsed = parseHost(h);
  if (parsed && allowed.has(parsed.name)) return null;
  const shown = h === undefined ? 'none' : `'${h.slice(0, 80).replace(/[^\x20-\x7e]/g, '?')}'`;
  return `saelab serve: Host ${shown} is not a name of this server (add it with --allowed-hosts)`;
}

/**
 * Why a POST is refused as cross-site, or null when it comes from our own pages or from a
 * non-browser client: an Origin must name this server (scheme http or https, the Host header's
 * name and port); without an Origin, a Sec-Fetch-Site must be same-origin; with neither it passes.
 */
export function crossSiteProblem(req: IncomingMessage): string | null {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const host = parseHost(req.headers.host);
    let u: URL | null = null;
    try {
      u = new URL(origin);
    } catch {
      u = null;
    }
    const port = (p: string) => (p === '80' || p === '443' ? '' : p);
    const same = host !== null && u !== null && (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase() === host.name && port(u.port) === port(host.port);
    return same ? null : 'cross-origin requests are refused (the Origin is not this server)';
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return `cross-site requests are refused (Sec-Fetch-Site: ${site.slice(0, 20)})`;
  return null;
}

/** Why a POST body's Content-Type is refused, or null when it is application/json. */
export function contentTypeProblem(req: IncomingMessage): string | null {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/json' ? null : `the body must be sent as Content-Type: application/json (got ${type === '' ? 'none' : type.slice(0, 60)})`;
}
