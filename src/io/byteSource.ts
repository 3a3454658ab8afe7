// Where bytes come from, so the same parsing and loading code reads a local folder in Node (file
// descriptors: fileByteSource.ts) and a folder served over HTTP in a browser (Range requests:
// urlByteSource.ts). Loaders take a ByteFolder and name files relative to it; nothing here imports
// Node built-ins.

/** One file, read by position. */
export interface ByteSource {
  /** A label for messages: the path or URL. */
  readonly name: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Fill `target` with the bytes from `position` (an error when the file has fewer). */
  read(target: Uint8Array, position: number): Promise<void>;
  /** Release it; further reads throw. Safe to call twice. */
  close(): Promise<void>;
}

/** A folder of files, named relative to it ("config.json", "model-00001-of-00002.safetensors"). */
export interface ByteFolder {
  /** A label for messages: the folder's path or URL. */
  readonly name: string;
  /** The label of a file in it (a path or URL), for messages. */
  label(rel: string): string;
  /** The plain files directly inside, sorted. */
  list(): Promise<string[]>;
  /** Whether `rel` is a plain file in it. */
  has(rel: string): Promise<boolean>;
  /** Open `rel` for reading by position. */
  open(rel: string): Promise<ByteSource>;
  /** All of `rel`'s bytes. */
  readBytes(rel: string): Promise<Uint8Array>;
}

/** All bytes of an open source. */
export async function readAllBytes(src: ByteSource): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  if (src.size > 0) await src.read(out, 0);
  return out;
}

/** A ByteSource over bytes already in memory. */
export function memorySource(name: string, bytes: Uint8Array): ByteSource {
  let open = true;
  return {
    name,
    size: bytes.byteLength,
    async read(target, position) {
      if (!open) throw new Error(`${name}: closed`);
      if (position < 0 || position + target.byteLength > bytes.byteLength) throw new Error(`${name}: file ended at byte ${bytes.byteLength} while reading ${target.byteLength} bytes at ${position}`);
      target.set(bytes.subarray(position, position + target.byteLength));
    },
    async close() {
      open = false;
    },
  };
}

/**
 * `rel` as a plain relative path inside a folder ("./a//b" → "a/b", "a/../b" → "b"), or null when it
 * leaves the folder or is absolute (an index or manifest must not make us read /etc/passwd).
 */
export function insideName(rel: string): string | null {
  if (rel === '' || rel.startsWith('/') || rel.includes('\\') || rel.includes('\0') || /^[A-Za-z]:/.test(rel)) return null;
  const parts: string[] = [];
  for (const p of rel.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(p);
  }
  return parts.length > 0 ? parts.join('/') : null;
}
