// Text documents from a corpus: one file or a folder (recursively, in sorted order), plain text
// (.txt, .md) or JSON lines (.jsonl, .json: one object per line, the text under a named field),
// each optionally .gz or .xz. Streamed: documents come one at a time and the corpus is never held
// whole in memory (a single document is). Plain text is split into documents on a separator,
// by default "<|endoftext|>" (the shared corpus's) — a file without it is one document.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compressionOf, fileBytes } from './byteStream.js';
import { DataError } from './errors.js';
import { StrictUtf8Decoder } from './utf8.js';

/** The document separator of the shared corpus (and GPT-2's training data). */
export const ENDOFTEXT = '<|endoftext|>';

const TEXT_EXTS = ['.txt', '.md'];
const JSONL_EXTS = ['.jsonl', '.json'];

export interface TextSourceOptions {
  /** The field of each JSON line that holds the text. Default 'text'. */
  textField?: string;
  /** Split plain text into documents on this string. Default "<|endoftext|>"; '' or null: one document per file. */
  docSeparator?: string | null;
}

/** One document and where it came from. */
export interface TextDocument {
  text: string;
  /** The file it came from. */
  file: string;
}

/** The corpus files under `path` (itself when a file), sorted, as the source reads them. */
export async function listCorpusFiles(path: string): Promise<string[]> {
  const st = await stat(path).catch(() => null);
  if (!st) throw new DataError(`${path}: no such file or folder`);
  if (st.isFile()) {
    if (!kindOf(path)) throw new DataError(`${path}: not a corpus file (expected ${supported()})`);
    return [path];
  }
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue; // hidden files and temp files
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && kindOf(p)) files.push(p);
    }
  };
  await walk(path);
  if (files.length === 0) throw new DataError(`${path}: no corpus files in this folder (expected ${supported()})`);
  return files;
}

/** Stream the documents of a file or folder; a DataError when it holds none. */
export async function* readDocuments(path: string, opts: TextSourceOptions = {}): AsyncGenerator<TextDocument> {
  const files = await listCorpusFiles(path);
  let count = 0;
  for (const file of files) {
    const gen = kindOf(file) === 'jsonl' ? jsonlDocuments(file, opts.textField ?? 'text') : textDocuments(file, opts.docSeparator === undefined ? ENDOFTEXT : opts.docSeparator);
    for await (const text of gen) {
      count++;
      yield { text, file };
    }
  }
  if (count === 0) throw new DataError(`${path}: the corpus is empty (no non-blank documents in ${files.length === 1 ? 'it' : `its ${files.length} files`})`);
}

/** 'text' or 'jsonl' by extension (after any .gz/.xz), or null for files the source skips. */
function kindOf(file: string): 'text' | 'jsonl' | null {
  const base = compressionOf(file) ? file.slice(0, file.lastIndexOf('.')) : file;
  if (TEXT_EXTS.some((e) => base.endsWith(e))) return 'text';
  if (JSONL_EXTS.some((e) => base.endsWith(e))) return 'jsonl';
  return null;
}

function supported(): string {
  return `${[...TEXT_EXTS, ...JSONL_EXTS].join(', ')}, optionally .gz or .xz`;
}

/** The text of a file in pieces, strictly UTF-8 (a bad byte is a DataError with its offset). */
async function* textChunks(file: string): AsyncGenerator<string> {
  const where = compressionOf(file) ? ' of the decompressed stream' : '';
  const dec = new StrictUtf8Decoder((offset) => new DataError(`${file}: not UTF-8 text: invalid byte at offset ${offset}${where}`));
  for await (const chunk of fileBytes(file)) {
    const s = dec.push(chunk);
    if (s) yield s;
  }
  const tail = dec.end();
  if (tail) yield tail;
}

/** Plain-text documents split on `sep` (blank ones skipped; text kept as it is, not trimmed). */
async function* textDocuments(file: string, sep: string | null): AsyncGenerator<string> {
  let buf = '';
  for await (const s of textChunks(file)) {
    // Search only the new text (and a separator's length before it): a long document stays linear.
    const from = Math.max(0, buf.length - (sep ? sep.length - 1 : 0));
    buf += s;
    if (!sep) continue;
    let at: number;
    let start = 0;
    let scan = from;
    while ((at = buf.indexOf(sep, scan)) >= 0) {
      const doc = buf.slice(start, at);
      if (doc.trim()) yield doc;
      start = at + sep.length;
      scan = start;
    }
    buf = buf.slice(start);
  }
  if (buf.trim()) yield buf;
}

/** Lines of a text file (.gz/.xz too, strict UTF-8), without their line ends. */
export async function* textLines(file: string): AsyncGenerator<string> {
  let buf = '';
  for await (const s of textChunks(file)) {
    let scan = buf.length;
    buf += s;
    let nl: number;
    let start = 0;
    while ((nl = buf.indexOf('\n', scan)) >= 0) {
      yield buf.slice(start, nl).replace(/\r$/, '');
      start = nl + 1;
      scan = start;
    }
    buf = buf.slice(start);
  }
  if (buf) yield buf.replace(/\r$/, '');
}

/** JSON-lines documents: `field` of each object (a bare JSON string is taken as the text). */
async function* jsonlDocuments(file: string, field: string): AsyncGenerator<string> {
  let n = 0;
  for await (const line of textLines(file)) {
    n++;
    if (!line.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${file}:${n}: not valid JSON (${(e as Error).message}); JSON-lines files hold one object per line`, { cause: e });
    }
    const text = typeof v === 'string' ? v : v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[field] : undefined;
    if (typeof text !== 'string') {
      const keys = v !== null && typeof v === 'object' ? Object.keys(v).slice(0, 8).join(', ') : typeof v;
      throw new DataError(`${file}:${n}: no string field "${field}" (has: ${keys || 'nothing'}); choose it with --text-field`);
    }
    if (text.trim()) yield text;
  }
}
