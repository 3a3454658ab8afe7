// Files served over HTTP as ByteSources and folders as ByteFolders, for the browser (fetch only; it
// also runs in Node 20). A read is a `Range` request for exactly its bytes, so the safetensors
// reader fetches the header and then each tensor as the loader asks; a server that ignores Range
// and answers 200 gets one whole-file GET, kept in memory for the later reads. In a folder, a file
// read whole (every loader reads every byte of its files) is checked against the manifest's sha256
// and put in the Cache API, keyed by URL + sha256, so the next visit reads it without the network.

import { insideName, memorySource, type ByteFolder, type ByteSource } from './byteSource.js';

/** One file of a served folder, as the manifest lists it. */
export interface UrlFile {
  /** Relative to the folder ("config.json"). */
  path: string;
  size: number;
  /** Hex SHA-256 of the file's bytes. */
  sha256: string;
}

/** The part of the Cache API a folder uses (`await caches.open(name)`). */
export interface WeightCache {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
}

/** How to fetch. */
export interface UrlSourceOptions {
  /** The file's size when known (a manifest's); else learnt from the first answer. */
  size?: number;
  /** Give up on one request after this long (default 120 s): a stalled server is an error, not a hang. */
  timeoutMs?: number;
  /** Called with the byte count of each answer as it arrives, for progress. */
  onBytes?: (n: number) => void;
  fetch?: typeof fetch;
}

/** Open `url` for reading by position (one Range request per read; see the file comment). */
export async function openUrlSource(url: string, opts: UrlSourceOptions = {}): Promise<ByteSource> {
  const src = new UrlSource(url, opts);
  if (opts.size === undefined) await src.probe();
  return src;
}

/** A file read by Range requests, or whole once the server shows it ignores Range. */
class UrlSource implements ByteSource {
  private whole: Uint8Array | null = null;
  private closed = false;
  private knownSize: number | undefined;
  /** Whether the server answered 200 to a Range request (then everything came in one GET). */
  servedWhole = false;

  constructor(
    readonly name: string,
    private readonly opts: UrlSourceOptions,
  ) {
    this.knownSize = opts.size;
  }

  get size(): number {
    return this.knownSize ?? 0;
  }

  /** Learn the size: a one-byte Range request (Content-Range's total), or the whole file on a 200. */
  async probe(): Promise<void> {
    const r = await this.request('bytes=0-0');
    if (r.status === 206) {
      const total = /\/(\d+)\s*$/.exec(r.headers.get('content-range') ?? '')?.[1];
      await r.body?.cancel();
      if (total === undefined) throw new Error(`${this.name}: the server's 206 answer has no Content-Range total`);
      this.knownSize = Number(total);
    } else if (r.status === 416) {
      await r.body?.cancel();
      this.knownSize = 0; // an empty file has no byte 0
    } else {
      await this.takeWhole(r);
    }
  }

  async read(target: Uint8Array, position: number): Promise<void> {
    if (this.closed) throw new Error(`${this.name}: closed`);
    const n = target.byteLength;
    if (position < 0 || position + n > this.size) throw new Error(`${this.name}: file ended at byte ${this.size} while reading ${n} bytes at ${position}`);
    if (n === 0) return;
    if (!this.whole) {
      const r = await this.request(`bytes=${position}-${position + n - 1}`);
      if (r.status === 206) {
        const got = await this.body(r);
        if (got.byteLength !== n) throw new Error(`${this.name}: asked for ${n} bytes at ${position}, the server sent ${got.byteLength}`);
        target.set(got);
        return;
      }
      await this.takeWhole(r);
    }
    target.set(this.whole!.subarray(position, position + n));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.whole = null;
  }

  /** The bytes a whole-file read gave (null while read by ranges). */
  wholeBytes(): Uint8Array | null {
    return this.whole;
  }

  /** A 200 answer: the whole file. Anything else: an error that says what the server said. */
  private async takeWhole(r: Response): Promise<void> {
    if (r.status !== 200) {
      await r.body?.cancel();
      throw new Error(`${this.name}: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
    }
    const bytes = await this.body(r);
    if (this.knownSize !== undefined && bytes.byteLength !== this.knownSize) throw new Error(`${this.name}: the server sent ${bytes.byteLength} bytes, the manifest says ${this.knownSize}`);
    this.knownSize = bytes.byteLength;
    this.whole = bytes;
    this.servedWhole = true;
  }

  private async request(range: string): Promise<Response> {
    const f = this.opts.fetch ?? globalThis.fetch;
    try {
      return await f(this.name, { headers: { Range: range }, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 120_000) });
    } catch (e) {
      throw new Error(`${this.name}: download failed (${describeFetchError(e)})`, { cause: e });
    }
  }

  /** A body's bytes, reported to onBytes as they arrive. */
  private async body(r: Response): Promise<Uint8Array> {
    try {
      if (!r.body || !this.opts.onBytes) {
        const b = new Uint8Array(await r.arrayBuffer());
        this.opts.onBytes?.(b.byteLength);
        return b;
      }
      const parts: Uint8Array[] = [];
      let total = 0;
      const reader = r.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        total += value.byteLength;
        this.opts.onBytes(value.byteLength);
      }
      const out = new Uint8Array(total);
      let at = 0;
      for (const p of parts) (out.set(p, at), (at += p.byteLength));
      return out;
    } catch (e) {
      throw new Error(`${this.name}: download failed while reading the answer (${describeFetchError(e)})`, { cause: e });
    }
  }
}

/** A fetch failure in a few words (a timeout says so). */
function describeFetchError(e: unknown): string {
  const err = e as Error;
  if (err?.name === 'TimeoutError') return 'no answer in time';
  return err?.message || String(e);
}

/** Hex SHA-256 through Web Crypto (a browser's secure context, or Node). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The Cache API key of a file: its URL with the sha256 as a query parameter, so new bytes never meet old ones. */
export function cacheKey(url: string, sha256: string): string {
  const u = new URL(url);
  u.searchParams.set('saelab-sha256', sha256);
  return u.href;
}

/** What a served folder needs besides its URL. */
export interface UrlFolderOptions extends Omit<UrlSourceOptions, 'size' | 'onBytes'> {
  /** Where fetched files are kept between visits (null: nowhere). */
  cache?: WeightCache | null;
  /** Called with each chunk of bytes obtained (from the network or the cache) and the file's path. */
  onBytes?: (n: number, file: string) => void;
}

/**
 * A folder served at `base` (a URL ending in "/") whose files are `files` (a manifest's list: no
 * listing over HTTP). Names that leave the folder are refused.
 */
export function urlFolder(base: string, files: readonly UrlFile[], opts: UrlFolderOptions = {}): ByteFolder {
  const byPath = new Map<string, UrlFile>();
  for (const f of files) {
    if (insideName(f.path) !== f.path) throw new Error(`${base}: the manifest names ${JSON.stringify(f.path)}, which is not a plain path inside the folder`);
    byPath.set(f.path, f);
  }
  const url = (rel: string) => new URL(rel, base).href;
  const entry = (rel: string): UrlFile => {
    const f = byPath.get(rel);
    if (!f) throw new Error(`${url(rel)}: not in the folder's manifest`);
    return f;
  };
  const open = async (rel: string): Promise<ByteSource> => {
    const f = entry(rel);
    const href = url(rel);
    const key = cacheKey(href, f.sha256);
    const cached = opts.cache ? await opts.cache.match(key).catch(() => undefined) : undefined;
    if (cached) {
      const bytes = new Uint8Array(await cached.arrayBuffer());
      if (bytes.byteLength === f.size) {
        opts.onBytes?.(bytes.byteLength, rel);
        return memorySource(href, bytes);
      }
    }
    const src = new UrlSource(href, { ...opts, size: f.size, onBytes: (n) => opts.onBytes?.(n, rel) });
    return opts.cache ? new CachingSource(src, f, key, opts.cache) : src;
  };
  return {
    name: base,
    label: url,
    list: async () => [...byPath.keys()].filter((p) => !p.includes('/')).sort(),
    has: async (rel) => byPath.has(rel),
    open,
    readBytes: async (rel) => {
      const src = await open(rel);
      try {
        const out = new Uint8Array(src.size);
        if (src.size > 0) await src.read(out, 0);
        return out;
      } finally {
        await src.close();
      }
    },
  };
}

/** A UrlSource that gathers what it reads and, once every byte was read and the sha256 matches, caches the file. */
class CachingSource implements ByteSource {
  private readonly gathered: Uint8Array;
  /** Disjoint, sorted [start, end) ranges read so far. */
  private ranges: [number, number][] = [];
  private stored = false;

  constructor(
    private readonly src: UrlSource,
    private readonly file: UrlFile,
    private readonly key: string,
    private readonly cache: WeightCache,
  ) {
    this.gathered = new Uint8Array(file.size);
  }

  get name(): string {
    return this.src.name;
  }

  get size(): number {
    return this.src.size;
  }

  async read(target: Uint8Array, position: number): Promise<void> {
    await this.src.read(target, position);
    if (this.stored) return;
    const whole = this.src.wholeBytes();
    if (whole) return this.store(whole);
    this.gathered.set(target, position);
    this.ranges = addRange(this.ranges, position, position + target.byteLength);
    if (this.ranges.length === 1 && this.ranges[0]![0] === 0 && this.ranges[0]![1] === this.file.size) await this.store(this.gathered);
  }

  async close(): Promise<void> {
    await this.src.close();
  }

  /** Check the bytes against the manifest and cache them (a failed put only costs the next visit a download). */
  private async store(bytes: Uint8Array): Promise<void> {
    this.stored = true;
    const got = await sha256Hex(bytes);
    if (got !== this.file.sha256) throw new Error(`${this.name}: sha256 ${got} differs from the manifest's ${this.file.sha256} (the file changed on the server?)`);
    await this.cache.put(this.key, new Response(bytes.slice(), { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) } })).catch(() => undefined);
  }
}

/** `ranges` with [start, end) added, merged. */
function addRange(ranges: [number, number][], start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  let s = start;
  let e = end;
  for (const [a, b] of ranges) {
    if (b < s || a > e) out.push([a, b]);
    else (s = Math.min(s, a), (e = Math.max(e, b)));
  }
  out.push([s, e]);
  return out.sort((x, y) => x[0] - y[0]);
}
