// A fake Hugging Face hub on 127.0.0.1 with the endpoints saelab's hub client and @huggingface/hub's
// upload path call, as the real hub answers them:
//   GET  /api/models/{repo}/revision/{rev}          {sha, siblings[{rfilename}]} (401 RepoNotFound for
//                                                   a missing repo, or a private one without its token)
//   HEAD|GET /{repo}/resolve/{rev}/{file}           small files: 200 with the git blob sha1 as etag;
//                                                   *.safetensors (LFS): 302 to the "CDN" (another port,
//                                                   another origin) with x-linked-etag = sha256, x-linked-size
//   GET  {cdn}/blob/{sha256}                        the LFS content, with Range (206) support
//   POST /api/repos/create                          {name, organization, visibility} → {url, id}; 409 if it exists
//   POST /api/models/{repo}/preupload/{rev}         {files[{path,size,sample}]} → {files[{path, uploadMode}]}
//   POST /{repo}.git/info/lfs/objects/batch         git-lfs batch (basic transfer): an upload action per
//                                                   object not stored yet, none for one already stored
//   PUT  {cdn}/upload/{sha256}                      the LFS object (its sha256 and size checked)
//   POST /api/models/{repo}/commit/{rev}            NDJSON: header, file (base64), lfsFile (oid) → {commitOid, commitUrl}
// Every request is logged (method, url, authorization, body text for JSON/NDJSON) so tests can check
// what went over the wire, tokens included.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** Git's blob id, the hub's etag for a small (non-LFS) file. */
export const gitSha1 = (b: Uint8Array): string => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

export interface FakeRepo {
  private: boolean;
  /** Commits, oldest first: each maps file → content. */
  commits: { sha: string; files: Map<string, Buffer> }[];
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  auth: string | undefined;
  range: string | undefined;
  /** The body as text (uploads of LFS content are logged by size only). */
  body: string;
}

export interface FakeHubOptions {
  /** The token that opens private repos and allows writes. */
  token: string;
  /** The first CDN GET sends this many bytes, then drops the connection. */
  cutFirstAfter?: number;
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  /** LFS objects by sha256 (what uploads stored, and what repos serve). */
  readonly objects = new Map<string, Buffer>();
  readonly requests: LoggedRequest[] = [];
  endpoint = '';
  private cdnOrigin = '';
  private hub: Server | null = null;
  private cdn: Server | null = null;
  private cut = false;
  private commitCount = 0;

  constructor(readonly opts: FakeHubOptions) {}

  /** Start both servers on loopback ports. */
  async start(): Promise<this> {
    const h = await listen((req, res) => void this.onHub(req, res));
    const c = await listen((req, res) => void this.onCdn(req, res));
    [this.hub, this.endpoint, this.cdn, this.cdnOrigin] = [h.server, h.origin, c.server, c.origin];
    return this;
  }

  async close(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
  }

  /** Add (or replace) a repo with one commit holding `files`. */
  addRepo(id: string, files: Record<string, Uint8Array>, isPrivate = false): string {
    const sha = this.nextSha();
    const map = new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)]));
    for (const [f, c] of map) if (isLfs(f)) this.objects.set(sha256(c), c);
    this.repos.set(id, { private: isPrivate, commits: [{ sha, files: map }] });
    return sha;
  }

  /** The files of a repo's newest commit. */
  head(id: string): Map<string, Buffer> | undefined {
    return this.repos.get(id)?.commits.at(-1)?.files;
  }

  /** Make the next CDN GET drop its connection after `n` bytes. */
  cutNextAfter(n: number): void {
    this.opts.cutFirstAfter = n;
    this.cut = false;
  }

  private nextSha(): string {
    this.commitCount++;
    return createHash('sha1').update(`commit ${this.commitCount}`).digest('hex');
  }

  private authorized(req: IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.opts.token}`;
  }

  /** The repo and commit a revision names, or null. */
  private commitOf(repo: FakeRepo, rev: string): FakeRepo['commits'][number] | null {
    if (rev === 'main') return repo.commits.at(-1) ?? null;
    return repo.commits.find((c) => c.sha === rev) ?? null;
  }

  private async onHub(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = decodeURIComponent(req.url ?? '');
    const binary = (req.headers['content-type'] ?? '').includes('octet');
    this.requests.push({ server: 'hub', method: req.method ?? '', url, auth: req.headers.authorization, range: req.headers.range, body: binary ? `<${body.length} bytes>` : body.toString('utf8') });
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) =>
      void res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(v));
    const notFound = () => json(401, { error: 'Repository not found' }, { 'x-error-code': 'RepoNotFound' });
    const visible = (id: string) => {
      const r = this.repos.get(id);
      return r && (!r.private || this.authorized(req)) ? r : null;
    };

    let m = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url);
    if (m && req.method === 'GET') {
      const repo = visible(m[1]!);
      if (!repo) return notFound();
      const c = this.commitOf(repo, m[2]!);
      if (!c) return json(404, { error: 'Invalid rev id' }, { 'x-error-code': 'RevisionNotFound' });
      return json(200, { id: m[1], sha: c.sha, private: repo.private, siblings: [...c.files.keys(), '.gitattributes'].map((rfilename) => ({ rfilename })) });
    }
    if (url === '/api/repos/create' && req.method === 'POST') {
      if (!this.authorized(req)) return json(401, { error: 'Invalid credentials in Authorization header' });
      const b = JSON.parse(body.toString('utf8')) as { name: string; organization?: string; visibility?: string; type?: string };
      const id = `${b.organization}/${b.name}`;
      if (this.repos.has(id)) return json(409, { error: 'You already created this model repo', url: `${this.endpoint}/${id}` });
      this.repos.set(id, { private: b.visibility === 'private', commits: [{ sha: this.nextSha(), files: new Map([['.gitattributes', Buffer.from('*.safetensors filter=lfs diff=lfs merge=lfs -text\n')]]) }] });
      return json(200, { url: `${this.endpoint}/${id}`, id });
    }
    m = /^\/api\/models\/(.+)\/preupload\/([^/?]+)$/.exec(url);
    if (m && req.method === 'POST') {
      if (!this.authorized(req)) return json(401, { error: 'Invalid credentials in Authorization header' });
      if (!this.repos.has(m[1]!)) return notFound();
      const b = JSON.parse(body.toString('utf8')) as { files: { path: string; size: number; sample: string }[] };
      return json(200, { files: b.files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path) || f.size > 10_000_000 ? 'lfs' : 'regular' })) });
    }
    m = /^\/(.+)\.git\/info\/lfs\/objects\/batch$/.exec(url);
    if (m && req.method === 'POST') {
      if (!this.authorized(req)) return json(401, { message: 'Invalid credentials' });
      if (!this.repos.has(m[1]!)) return notFound();
      const b = JSON.parse(body.toString('utf8')) as { operation: string; transfers: string[]; objects: { oid: string; size: number }[] };
      if (b.operation !== 'upload' || !b.transfers.includes('basic')) return json(422, { message: 'unsupported batch request' });
      const objects = b.objects.map((o) => (this.objects.has(o.oid) ? { oid: o.oid, size: o.size } : { oid: o.oid, size: o.size, authenticated: true, actions: { upload: { href: `${this.cdnOrigin}/upload/${o.oid}?size=${o.size}` } } }));
      return void res.writeHead(200, { 'content-type': 'application/vnd.git-lfs+json' }).end(JSON.stringify({ transfer: 'basic', objects }));
    }
    m = /^\/api\/models\/(.+)\/commit\/([^/?]+)$/.exec(url);
    if (m && req.method === 'POST') {
      if (!this.authorized(req)) return json(401, { error: 'Invalid credentials in Authorization header' });
      const repo = this.repos.get(m[1]!);
      if (!repo) return notFound();
      const files = new Map(repo.commits.at(-1)?.files ?? []);
      for (const line of body.toString('utf8').split('\n').filter(Boolean)) {
        const op = JSON.parse(line) as { key: string; value: { path: string; content?: string; encoding?: string; oid?: string; size?: number } };
        if (op.key === 'file') files.set(op.value.path, Buffer.from(op.value.content!, 'base64'));
        else if (op.key === 'lfsFile') {
          const obj = this.objects.get(op.value.oid!);
          if (!obj || obj.length !== op.value.size) return json(422, { error: `LFS object ${op.value.oid} was not uploaded` });
          files.set(op.value.path, obj);
        } else if (op.key === 'deletedFile') files.delete(op.value.path);
      }
      const sha = this.nextSha();
      repo.commits.push({ sha, files });
      return json(200, { commitOid: sha, commitUrl: `${this.endpoint}/${m[1]}/commit/${sha}`, success: true });
    }
    m = /^\/(.+?\/.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      const repo = visible(m[1]!);
      if (!repo) return notFound();
      const c = this.commitOf(repo, m[2]!);
      const content = c?.files.get(m[3]!);
      if (!c || !content) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
      if (isLfs(m[3]!)) {
        const h = sha256(content);
        return void res.writeHead(302, { location: `${this.cdnOrigin}/blob/${h}`, 'x-linked-etag': `"${h}"`, 'x-linked-size': String(content.length), 'x-repo-commit': c.sha, etag: '"pointer"' }).end();
      }
      res.writeHead(200, { etag: `"${gitSha1(content)}"`, 'content-length': String(content.length), 'x-repo-commit': c.sha });
      return void res.end(req.method === 'HEAD' ? undefined : content);
    }
    json(404, { error: `fake hub: no route for ${req.method} ${url}` });
  }

  private async onCdn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    if (req.method === 'PUT') {
      const body = await readBody(req);
      this.requests.push({ server: 'cdn', method: 'PUT', url, auth: req.headers.authorization, range: undefined, body: `<${body.length} bytes>` });
      const m = /^\/upload\/([0-9a-f]{64})\?size=(\d+)$/.exec(url);
      if (!m || sha256(body) !== m[1] || body.length !== Number(m[2])) return void res.writeHead(400).end('bad upload');
      this.objects.set(m[1]!, body);
      return void res.writeHead(200, { etag: `"${m[1]}"` }).end();
    }
    this.requests.push({ server: 'cdn', method: req.method ?? '', url, auth: req.headers.authorization, range: req.headers.range, body: '' });
    const content = this.objects.get(url.replace(/^\/blob\//, ''));
    if (!content) return void res.writeHead(404).end();
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start > content.length) return void res.writeHead(416).end();
    const headers = { 'content-length': String(content.length - start), 'accept-ranges': 'bytes' };
    if (m) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` });
    else res.writeHead(200, headers);
    if (req.method === 'HEAD') return void res.end();
    if (this.opts.cutFirstAfter !== undefined && !this.cut) {
      this.cut = true;
      res.write(content.subarray(start, start + this.opts.cutFirstAfter));
      // Let the client read what was sent, then drop the connection mid-body.
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    res.end(content.subarray(start));
  }
}

function isLfs(file: string): boolean {
  return file.endsWith('.safetensors');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  return new Promise((ok, fail) => {
    server.once('error', fail);
    // Loopback only: nothing outside this machine may reach the test server.
    server.listen(0, '127.0.0.1', () => ok({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}
