// Download a model from the Hugging Face hub into the HF cache layout (hfCache.ts), as huggingface_hub
// does, so each tool reuses the other's files. Per file: HEAD the resolve URL for its etag and size
// (an LFS file answers with a redirect carrying x-linked-etag / x-linked-size), stream the body to
// blobs/<etag>.incomplete (resuming a partial one with a Range request), check size and sha256, rename
// it to blobs/<etag>, then link snapshots/<commit>/<file> to it. A half-finished download never looks
// finished: only verified blobs get their final name, and refs/<branch> is written last.

import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, stat, symlink, unlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { writeFileAtomic } from './atomicWrite.js';
import { checkRelativePath, checkRepoId, hfCacheDir, hfToken, hubOffline, HubError, isCommitHash, repoFolder } from './hfCache.js';

export { HubError } from './hfCache.js';

/** Options of downloadModel. */
export interface DownloadOptions {
  /** Branch, tag or commit hash (default 'main'). */
  revision?: string;
  /** Files to fetch (default: config, tokenizer files and safetensors weights, those the repo has). */
  files?: string[];
  /**
   * Choose the files from the repo's file list instead (after its metadata, before anything is
   * written to the cache: a HubError thrown here leaves no trace there). Wins over `files`.
   */
  select?: (repoFiles: ReadonlySet<string>, commit: string) => string[];
  /** What the repo holds, for messages ('model' by default; 'SAE repo'…). */
  label?: string;
  /** The hub (default $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Access token for gated or private repos (default $HF_TOKEN or the saved login); '' for none. */
  token?: string;
  /** The hub cache folder (default hfCacheDir()). */
  cacheDir?: string;
  /** Called as bytes arrive, over all files of this call (it steps back only if a server refuses to resume). */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /** fetch to use (tests, proxies). */
  fetchImpl?: typeof fetch;
  /** How many times a broken transfer is resumed within this call (default 3). */
  retries?: number;
  /** Abort a request that sends nothing for this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** What a model needs besides its weights; files the repo lacks are skipped. */
export const DEFAULT_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'vocab.json',
  'merges.txt',
  'special_tokens_map.json',
];
const SINGLE_WEIGHTS = 'model.safetensors';
const WEIGHTS_INDEX = 'model.safetensors.index.json';

interface Ctx {
  repoId: string;
  label: string;
  revision: string;
  endpoint: string;
  token: string | undefined;
  fetch: typeof fetch;
  retries: number;
  idleMs: number;
}

/** One file to fetch: where it comes from and what the hub says it is. */
interface Planned {
  file: string;
  url: string;
  etag: string;
  size: number | null;
}

/** Download `repoId` at `revision` (a model by default, or the files `select` picks) into the HF cache; returns the snapshot folder (findCachedModel finds it afterwards). */
export async function downloadModel(repoId: string, options: DownloadOptions = {}): Promise<string> {
  checkRepoId(repoId);
  const revision = options.revision ?? 'main';
  checkRelativePath(revision, 'revision');
  const endpoint = (options.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/, '');
  const label = options.label ?? 'model';
  if (hubOffline()) throw new HubError(`HF_HUB_OFFLINE is set: not downloading ${repoId} from ${endpoint}; place the ${label} in the HF cache or pass a local folder`);
  const ctx: Ctx = {
    repoId,
    label,
    revision,
    endpoint,
    token: options.token ?? hfToken(),
    fetch: options.fetchImpl ?? fetch,
    retries: options.retries ?? 3,
    idleMs: options.idleTimeoutMs ?? 60_000,
  };
  const repoDir = repoFolder(repoId, options.cacheDir ?? hfCacheDir());
  const { sha, siblings } = await fetchRepoInfo(ctx);
  const snapshot = join(repoDir, 'snapshots', sha);
  const blobs = join(repoDir, 'blobs');
  const fetchOne = async (file: string) => {
    const plan = await headFile(ctx, sha, file);
    await fetchBlob(ctx, plan, join(blobs, plan.etag));
    await linkInto(join(blobs, plan.etag), join(snapshot, file));
  };

  let files: string[];
  const wanted = options.select ? options.select(siblings, sha) : options.files;
  if (wanted) {
    files = [...new Set(wanted)];
    for (const f of files) {
      checkRelativePath(f, 'file');
      if (!siblings.has(f)) throw new HubError(`${repoId}@${revision} has no file ${JSON.stringify(f)} (at ${endpoint})`, { status: 404 });
    }
    await mkdir(blobs, { recursive: true });
    await mkdir(snapshot, { recursive: true });
  } else {
    await mkdir(blobs, { recursive: true });
    await mkdir(snapshot, { recursive: true });
    files = DEFAULT_FILES.filter((f) => siblings.has(f));
    if (siblings.has(SINGLE_WEIGHTS)) files.push(SINGLE_WEIGHTS);
    else if (siblings.has(WEIGHTS_INDEX)) {
      // The shards are named only inside the index, so it comes first (it is small: no progress).
      if (!(await isFile(join(snapshot, WEIGHTS_INDEX)))) await fetchOne(WEIGHTS_INDEX);
      files.push(...(await shardsOf(join(snapshot, WEIGHTS_INDEX), siblings, repoId)));
    } else {
      const other = [...siblings].filter((f) => /\.(bin|pt|pth|h5|msgpack|gguf)$/.test(f)).slice(0, 3);
      throw new HubError(`${repoId}@${revision} has no safetensors weights${other.length ? ` (only ${other.join(', ')})` : ''}: saelab reads only safetensors`);
    }
  }

  // HEAD every missing file first, so progress has a true total from the start.
  const plans: Planned[] = [];
  for (const f of files) if (!(await isFile(join(snapshot, f)))) plans.push(await headFile(ctx, sha, f));
  const progress = new Progress(options.onProgress);
  const counted = new Set<string>();
  for (const p of plans) {
    // Content already cached (from another revision, or twice in this repo) costs nothing.
    if (counted.has(p.etag) || (await isFile(join(blobs, p.etag)))) continue;
    counted.add(p.etag);
    progress.total += p.size ?? 0;
    progress.done += await sizeOf(join(blobs, `${p.etag}.incomplete`));
  }
  progress.report();
  for (const p of plans) {
    await fetchBlob(ctx, p, join(blobs, p.etag), progress);
    await linkInto(join(blobs, p.etag), join(snapshot, p.file));
  }
  // Last: a branch points at the snapshot only once the snapshot is whole.
  if (!isCommitHash(revision)) {
    const ref = join(repoDir, 'refs', revision);
    await mkdir(dirname(ref), { recursive: true });
    await writeFileAtomic(ref, sha);
  }
  return snapshot;
}

/** Running byte counts over the whole call, forwarded to onProgress. */
class Progress {
  done = 0;
  total = 0;
  constructor(private readonly cb?: (done: number, total: number) => void) {}
  add(n: number): void {
    this.done += n;
    this.report();
  }
  report(): void {
    this.cb?.(this.done, Math.max(this.total, this.done));
  }
}

/** GET the repo's metadata: the commit the revision points at, and its file names. */
async function fetchRepoInfo(ctx: Ctx): Promise<{ sha: string; siblings: Set<string> }> {
  const url = `${ctx.endpoint}/api/models/${ctx.repoId}/revision/${encodeURIComponent(ctx.revision)}`;
  const res = await send(ctx, 'GET', url, { accept: 'application/json' }, 'follow');
  if (!res.ok) throw await statusError(ctx, res);
  let json: { sha?: unknown; siblings?: unknown };
  try {
    json = (await res.json()) as typeof json;
  } catch (e) {
    throw new HubError(`${url} answered with something that is not JSON: is ${ctx.endpoint} a Hugging Face hub?`, { cause: e });
  }
  const sha = json?.sha;
  if (typeof sha !== 'string' || !isCommitHash(sha) || !Array.isArray(json.siblings)) {
    throw new HubError(`${url} answered without a commit hash or file list: is ${ctx.endpoint} a Hugging Face hub?`);
  }
  const siblings = new Set<string>();
  for (const s of json.siblings as unknown[]) {
    const name = (s as { rfilename?: unknown })?.rfilename;
    if (typeof name === 'string') siblings.add(name);
  }
  return { sha, siblings };
}

/** The resolve URL of a file at a commit (pinning the commit keeps every file of one snapshot consistent). */
function fileUrl(ctx: Ctx, sha: string, file: string): string {
  return `${ctx.endpoint}/${ctx.repoId}/resolve/${sha}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** HEAD a file: its etag (the blob name) and size, from x-linked-* on an LFS redirect or the plain headers. */
async function headFile(ctx: Ctx, sha: string, file: string): Promise<Planned> {
  const url = fileUrl(ctx, sha, file);
  const res = await send(ctx, 'HEAD', url, {}, 'head');
  if (!res.ok && !isRedirect(res.status)) throw await statusError(ctx, res, file);
  const h = res.headers;
  const raw = h.get('x-linked-etag') ?? h.get('etag');
  // huggingface_hub's normalisation: drop a weak prefix and the quotes.
  const etag = raw?.replace(/^W\//, '').replace(/"/g, '').trim();
  // The etag becomes a file name, so only a plain name is accepted.
  if (!etag || !/^[A-Za-z0-9][\w.-]{0,127}$/.test(etag)) {
    throw new HubError(`${url}: the server sent ${raw ? `an unusable etag ${JSON.stringify(raw.slice(0, 80))}` : 'no etag'}, so the file cannot be cached`);
  }
  const sizeHeader = h.get('x-linked-size') ?? h.get('content-length');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null;
  return { file, url, etag, size };
}

/** A transfer that broke midway: worth resuming. */
class Interrupted extends Error {}

/** Make blobs/<etag> hold the verified content, resuming or retrying a broken transfer. */
async function fetchBlob(ctx: Ctx, plan: Planned, blobPath: string, progress?: Progress): Promise<void> {
  if (await isFile(blobPath)) return;
  const part = `${blobPath}.incomplete`;
  const sha256 = /^[0-9a-f]{64}$/.test(plan.etag);
  // The hash must cover exactly the bytes in `part`: start it over what a previous run left there.
  let have = await sizeOf(part);
  if (plan.size !== null && have > plan.size) {
    await unlink(part);
    progress?.add(-have);
    have = 0;
  }
  const state = { have, hash: sha256 ? await hashFile(part, have) : null };
  for (let attempt = 0; ; attempt++) {
    try {
      await transfer(ctx, plan, part, state, progress);
      break;
    } catch (e) {
      if (!(e instanceof Interrupted)) throw e;
      if (attempt >= ctx.retries) {
        const of = plan.size !== null ? ` of ${plan.size}` : '';
        throw new HubError(`download of ${ctx.repoId}/${plan.file} broke after ${state.have}${of} bytes (${e.message}); run again to resume`, { cause: e.cause });
      }
      // Resume at once the first time (a dropped connection), then back off a little (a flaky network).
      await new Promise((ok) => setTimeout(ok, Math.min(1000 * attempt, 5000)));
    }
  }
  if (plan.size !== null && state.have !== plan.size) {
    await unlink(part).catch(() => undefined);
    throw new HubError(`download of ${ctx.repoId}/${plan.file}: got ${state.have} bytes, expected ${plan.size}; the partial file was deleted`);
  }
  if (state.hash) {
    const got = state.hash.digest('hex');
    if (got !== plan.etag) {
      await unlink(part).catch(() => undefined);
      throw new HubError(`download of ${ctx.repoId}/${plan.file} is corrupt: sha256 ${got}, expected ${plan.etag}; the partial file was deleted, run again`);
    }
  }
  await rename(part, blobPath);
}

/** One GET of the file into `part`, from byte `state.have` on (a Range request when resuming). */
async function transfer(ctx: Ctx, plan: Planned, part: string, state: { have: number; hash: Hash | null }, progress?: Progress): Promise<void> {
  if (plan.size !== null && state.have === plan.size) return; // a previous run got every byte
  const headers: Record<string, string> = state.have > 0 ? { range: `bytes=${state.have}-` } : {};
  const controller = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, ctx.idleMs);
  };
  arm();
  let res: Response;
  try {
    res = await send(ctx, 'GET', plan.url, headers, 'follow', controller.signal);
  } catch (e) {
    clearTimeout(timer);
    // A refused or reset connection on a file is retried like a broken body.
    throw e instanceof HubError ? new Interrupted(stalled ? `no answer for ${ctx.idleMs / 1000} s` : e.message, { cause: e }) : e;
  }
  const stop = async () => {
    clearTimeout(timer);
    await res.body?.cancel().catch(() => undefined);
  };
  if (res.status === 416) {
    // The server will not serve our range (the file changed?): drop the partial and go again from 0.
    await stop();
    await unlink(part).catch(() => undefined);
    restart(state, progress);
    throw new Interrupted('the server refused to resume');
  }
  if (res.status !== 200 && res.status !== 206) {
    await stop();
    throw await statusError(ctx, res, plan.file);
  }
  if (res.status === 206 && contentRangeStart(res) !== state.have) {
    await stop();
    throw new HubError(`download of ${ctx.repoId}/${plan.file}: asked for bytes from ${state.have}, the server sent ${res.headers.get('content-range')}`);
  }
  // A 200 is the whole file (the server ignored or was not sent a Range): start over.
  if (res.status === 200) restart(state, progress);
  const fh = await open(part, state.have > 0 ? 'a' : 'w');
  const reader = res.body?.getReader();
  try {
    if (!reader) return;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new Interrupted(stalled ? `no data for ${ctx.idleMs / 1000} s` : causeText(e), { cause: e });
      }
      if (chunk.done) break;
      arm();
      const bytes = chunk.value;
      if (plan.size !== null && state.have + bytes.byteLength > plan.size) {
        throw new HubError(`download of ${ctx.repoId}/${plan.file}: the server sent more than the ${plan.size} bytes it announced`);
      }
      // Bytes go to disk before they count: the hash and `have` must always describe the file.
      let off = 0;
      while (off < bytes.byteLength) off += (await fh.write(bytes, off, bytes.byteLength - off)).bytesWritten;
      state.hash?.update(bytes);
      state.have += bytes.byteLength;
      progress?.add(bytes.byteLength);
    }
    // A body cut short without a network error (no Content-Length) is resumed like a dropped one.
    if (plan.size !== null && state.have < plan.size) throw new Interrupted('the body ended early');
  } finally {
    clearTimeout(timer);
    await reader?.cancel().catch(() => undefined);
    await fh.close();
  }
}

/** Forget the partial bytes: the next write truncates the file. */
function restart(state: { have: number; hash: Hash | null }, progress?: Progress): void {
  progress?.add(-state.have);
  state.have = 0;
  if (state.hash) state.hash = createHash('sha256');
}

/** The first byte of a 206 answer's Content-Range (`bytes 100-999/1000`), or -1. */
function contentRangeStart(res: Response): number {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : -1;
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/**
 * One request, following redirects by hand so the token never leaves the hub's origin (LFS files
 * redirect to a CDN). 'head' mode stops at the LFS redirect, whose headers describe the file.
 */
async function send(ctx: Ctx, method: 'GET' | 'HEAD', url: string, extra: Record<string, string>, mode: 'follow' | 'head', signal?: AbortSignal): Promise<Response> {
  const origin = new URL(url).origin;
  let current = url;
  for (let hop = 0; hop <= 10; hop++) {
    // identity: a compressed body would break Content-Length, Range offsets and the checksum.
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'saelab', ...extra };
    if (ctx.token && new URL(current).origin === origin) headers['authorization'] = `Bearer ${ctx.token}`;
    let res: Response;
    try {
      // Without a caller's signal, a request that hangs still ends (body reads included).
      res = await ctx.fetch(current, { method, headers, redirect: 'manual', signal: signal ?? AbortSignal.timeout(ctx.idleMs) });
    } catch (e) {
      const where = new URL(current).origin;
      throw new HubError(`cannot reach ${where} to download ${ctx.repoId} (offline?): ${causeText(e)}; place the ${ctx.label} in the HF cache or pass a local folder`, { cause: e });
    }
    if (!isRedirect(res.status)) return res;
    if (mode === 'head' && res.headers.has('x-linked-etag')) return res;
    const location = res.headers.get('location');
    await res.body?.cancel().catch(() => undefined);
    if (!location) throw new HubError(`${current} redirected (HTTP ${res.status}) without a location`);
    current = new URL(location, current).toString();
  }
  throw new HubError(`${url}: more than 10 redirects`);
}

/** The most telling part of a network error: its code (ECONNREFUSED, ENOTFOUND…) or innermost message. */
function causeText(e: unknown): string {
  let c: unknown = e;
  let last = String(e);
  for (let depth = 0; c && depth < 5; depth++) {
    const err = c as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof err.code === 'string' && !err.code.startsWith('UND_ERR') && err.code !== 'ABORT_ERR') return err.code;
    if (typeof err.message === 'string' && err.message) last = err.message;
    c = err.cause ?? err.errors?.[0];
  }
  return last;
}

/** The HubError for a non-success HTTP answer, using the hub's X-Error-Code where it sends one. */
async function statusError(ctx: Ctx, res: Response, file?: string): Promise<HubError> {
  await res.body?.cancel().catch(() => undefined);
  const status = res.status;
  const code = res.headers.get('x-error-code');
  const what = `${ctx.repoId}@${ctx.revision}${file ? ` file ${file}` : ''} at ${ctx.endpoint}`;
  const opts = { status };
  // Without a token the hub answers 401 for a repo that does not exist too, so as not to reveal private ones.
  if (code === 'RepoNotFound') return new HubError(`no such ${ctx.label}: ${what} (HTTP ${status}; if it is private, set HF_TOKEN)`, opts);
  if (code === 'RevisionNotFound') return new HubError(`no such revision: ${what} (HTTP ${status})`, opts);
  if (code === 'EntryNotFound') return new HubError(`no such file: ${what} (HTTP ${status})`, opts);
  if (code === 'GatedRepo' || status === 401 || status === 403) {
    const token = ctx.token ? `HF_TOKEN is set but has no access: accept the ${ctx.label}'s terms on its hub page, or use another token` : 'set HF_TOKEN';
    return new HubError(`${what} is gated or private (HTTP ${status}): ${token}`, opts);
  }
  if (status === 404) return new HubError(`no such ${ctx.label} or revision: ${what} (HTTP 404)`, opts);
  if (status === 429) return new HubError(`${ctx.endpoint} is rate-limiting requests (HTTP 429) for ${what}: wait and try again, or set HF_TOKEN`, opts);
  return new HubError(`${ctx.endpoint} answered HTTP ${status} for ${what}${status >= 500 ? ': try again later' : ''}`, opts);
}

/** The shard files a model.safetensors.index.json names, each checked to be a plain file of the repo. */
async function shardsOf(indexPath: string, siblings: Set<string>, repoId: string): Promise<string[]> {
  let map: unknown;
  try {
    map = (JSON.parse(await readFile(indexPath, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new HubError(`${repoId}: ${WEIGHTS_INDEX} is not valid JSON: ${(e as Error).message.slice(0, 200)}`, { cause: e });
  }
  if (typeof map !== 'object' || map === null) throw new HubError(`${repoId}: ${WEIGHTS_INDEX} has no "weight_map" object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))].sort();
  for (const s of shards) {
    if (typeof s !== 'string') throw new HubError(`${repoId}: ${WEIGHTS_INDEX} names a shard that is not a file name`);
    checkRelativePath(s, 'shard');
    if (!siblings.has(s)) throw new HubError(`${repoId}: ${WEIGHTS_INDEX} names shard ${JSON.stringify(s)}, which the repo does not have`);
  }
  return shards as string[];
}

/** Point `linkPath` at the blob with a relative symlink (as huggingface_hub does), or copy where symlinks fail. */
async function linkInto(blobPath: string, linkPath: string): Promise<void> {
  await mkdir(dirname(linkPath), { recursive: true });
  // Build the link under a temp name and rename it: a reader never sees a missing or dangling file.
  const tmp = `${linkPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await symlink(relative(dirname(linkPath), blobPath), tmp);
  } catch {
    await copyFile(blobPath, tmp); // Windows without developer mode, some network file systems
  }
  try {
    await rename(tmp, linkPath);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** A sha256 already fed the first `length` bytes of `path` (nothing when it does not exist). */
async function hashFile(path: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) hash.update(chunk as Buffer);
  return hash;
}
