// Calls to the server's JSON API. Errors come back as { error } with a status; they are thrown as
// one-line Errors for the views to show. On a static site (saelab export-site) the same GETs are
// answered from the site's files (siteData.ts) and there is no POST.

import { isStaticSite, staticJson } from './siteData.js';

/** GET a JSON document. */
export async function getJson<T>(path: string): Promise<T> {
  if (isStaticSite()) return (await staticJson(path)) as T;
  return answer<T>(await fetch(path, { headers: { accept: 'application/json' } }));
}

/** POST a JSON body, get a JSON document (the server refuses POSTs that are not application/json, or not from its own origin). */
export async function postJson<T>(path: string, body: unknown): Promise<T> {
  if (isStaticSite()) throw new Error(`${path} needs saelab serve: a static site has no server to compute on`);
  return answer<T>(await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
}

async function answer<T>(r: Response): Promise<T> {
  const v = (await r.json().catch(() => null)) as { error?: string } | null;
  if (!r.ok) throw new Error(v?.error ?? `HTTP ${r.status}`);
  return v as T;
}
