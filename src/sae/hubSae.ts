// `--sae` by name: `hf:OWNER/REPO[/SUBFOLDER][@REV]` or a SAELens release `RELEASE/SAE_ID`
// (saeReleases.ts) → a local SAE folder in the HF cache. A folder already cached is used as it is;
// otherwise only the SAE's files (cfg.json + sae_weights.safetensors [+ sparsity.safetensors], or
// sparsify's cfg.json + sae.safetensors, or ae.safetensors [+ config.json]) are downloaded with
// io/hubDownload.ts (resume, sha256, progress, the HF cache layout). The files are chosen from the
// repo's file list before anything is written, so a repo or folder without an SAE leaves nothing in
// the cache. A path that exists here always wins over a name.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkRelativePath, findCachedModel, hfCacheDir, hubOffline, isRepoId, repoFolder } from '../io/hfCache.js';
import { downloadModel, type DownloadOptions } from '../io/hubDownload.js';
import { isReleaseName, nearest, nearReleaseName, resolveReleaseSae, SaeSpecError, type ReleaseSae, type ReleaseTable } from './saeReleases.js';

export { SaeSpecError } from './saeReleases.js';

/** An SAE on the hub: a folder of a repo at a revision. */
export interface HubSaeRef {
  repoId: string;
  /** The folder inside the repo ('' for the repo's root). */
  subfolder: string;
  revision: string;
  /** How the user wrote it (for messages). */
  text: string;
  /** Set when it came from a SAELens release name. */
  release?: ReleaseSae;
}

/** What `--sae TEXT` means: a local path, or an SAE on the hub. */
export type SaeSpec = { kind: 'local'; path: string } | ({ kind: 'hub' } & HubSaeRef);

/** Parse `hf:OWNER/REPO[/SUBFOLDER][@REV]`; SaeSpecError when malformed. */
export function parseHfSpec(text: string): HubSaeRef {
  const body = text.slice('hf:'.length);
  const at = body.lastIndexOf('@');
  const path = at >= 0 ? body.slice(0, at) : body;
  const revision = at >= 0 ? body.slice(at + 1) : 'main';
  const parts = path.split('/');
  const repoId = parts.slice(0, 2).join('/');
  const subfolder = parts.slice(2).join('/').replace(/\/+$/, '');
  const usage = 'expected hf:OWNER/REPO[/SUBFOLDER][@REVISION]';
  if (parts.length < 2 || !isRepoId(repoId)) throw new SaeSpecError(`${text}: ${JSON.stringify(repoId)} is not a hub repo id (${usage})`);
  if (revision === '') throw new SaeSpecError(`${text}: empty revision after "@" (${usage})`);
  try {
    if (subfolder) checkRelativePath(subfolder, 'folder');
    checkRelativePath(revision, 'revision');
  } catch (e) {
    throw new SaeSpecError(`${text}: ${(e as Error).message} (${usage})`);
  }
  return { repoId, subfolder, revision, text };
}

/** Whether `text` can only be a file system path. */
function looksLikePath(text: string): boolean {
  return /^(\.{1,2}|~)?[/\\]/.test(text) || text === '.' || text === '..' || text === '~' || /^[A-Za-z]:[/\\]/.test(text);
}

/**
 * Read `--sae TEXT`: `hf:…` is the hub; an existing path is local; else a SAELens release name is
 * resolved through the table (SaeSpecError for an unknown SAE id, or a release saelab cannot read);
 * anything else is a local path (the caller reports it missing), unless it is one typo away from a
 * release name, which is then suggested.
 */
export function parseSaeSpec(text: string, table?: ReleaseTable): SaeSpec {
  if (text.startsWith('hf:')) return { kind: 'hub', ...parseHfSpec(text) };
  if (existsSync(text) || looksLikePath(text)) return { kind: 'local', path: text };
  if (isReleaseName(text, table)) {
    const r = resolveReleaseSae(text, table);
    return { kind: 'hub', repoId: r.repo, subfolder: r.path.replace(/\/+$/, ''), revision: 'main', text, release: r };
  }
  const near = text.includes('/') ? nearReleaseName(text, table) : null;
  if (near) throw new SaeSpecError(`${text}: no such folder, and ${JSON.stringify(text.split('/')[0])} is not a SAELens release: did you mean "${near}"?`);
  return { kind: 'local', path: text };
}

// ---- which files of a repo folder make an SAE --------------------------------------------------

/** The files of an SAE folder in each layout saelab reads: required, then optional. */
const LAYOUTS: readonly { required: string[]; optional: string[] }[] = [
  { required: ['cfg.json', 'sae_weights.safetensors'], optional: ['sparsity.safetensors'] }, // SAELens
  { required: ['cfg.json', 'sae.safetensors'], optional: [] }, // sparsify
  { required: ['ae.safetensors'], optional: ['config.json'] }, // dictionary_learning export
];

/** The SAE files directly inside `folder` ('' = root) among `files` (repo-relative names), or null. */
export function saeFilesIn(files: ReadonlySet<string>, folder: string): string[] | null {
  const at = (f: string) => (folder ? `${folder}/${f}` : f);
  for (const l of LAYOUTS) {
    if (l.required.every((f) => files.has(at(f)))) return [...l.required, ...l.optional.filter((f) => files.has(at(f)))].map(at);
  }
  return null;
}

/** The folders under `folder` that hold an SAE (sorted). */
function saeFoldersUnder(files: ReadonlySet<string>, folder: string): string[] {
  const prefix = folder ? `${folder}/` : '';
  const dirs = new Set<string>();
  for (const f of files) {
    if (!f.startsWith(prefix)) continue;
    const slash = f.lastIndexOf('/');
    if (slash >= prefix.length) dirs.add(f.slice(0, slash));
  }
  return [...dirs].filter((d) => saeFilesIn(files, d) !== null).sort();
}

/** The SAE's files in the repo, or SaeSpecError saying what the folder holds instead. */
export function pickSaeFiles(files: ReadonlySet<string>, ref: HubSaeRef): string[] {
  const found = saeFilesIn(files, ref.subfolder);
  if (found) return found;
  const where = ref.subfolder ? `folder ${ref.subfolder} of ${ref.repoId}` : ref.repoId;
  const prefix = ref.subfolder ? `${ref.subfolder}/` : '';
  const under = [...files].filter((f) => f.startsWith(prefix));
  const inside = saeFoldersUnder(files, ref.subfolder);
  const base = ref.text.startsWith('hf:') ? `hf:${ref.repoId}${ref.subfolder ? `/${ref.subfolder}` : ''}` : null;
  const rev = ref.revision === 'main' ? '' : `@${ref.revision}`;
  if (inside.length) {
    const shown = inside.slice(0, 6).map((d) => d.slice(prefix.length)).join(', ');
    const eg = base ? `, e.g. hf:${ref.repoId}/${inside[0]}${rev}` : '';
    throw new SaeSpecError(`${ref.text}: ${where} holds ${inside.length} SAE folder${inside.length > 1 ? 's' : ''} (${shown}${inside.length > 6 ? ', …' : ''}): name one${eg}`);
  }
  if (files.has(ref.subfolder)) throw new SaeSpecError(`${ref.text}: ${ref.subfolder} is a file of ${ref.repoId}, not a folder${ref.subfolder.endsWith('.pt') ? ' (a torch pickle, which saelab does not read: docs/hub.md shows the conversion)' : ''}`);
  if (under.length === 0) {
    const tops = new Set([...files].filter((f) => f.includes('/')).map((f) => f.slice(0, f.indexOf('/'))));
    const near = ref.subfolder ? nearest(ref.subfolder, tops) : null;
    throw new SaeSpecError(`${ref.text}: ${ref.repoId}@${ref.revision} has no folder ${ref.subfolder}${near ? `: did you mean "${near}"?` : ''}`);
  }
  const direct = under.filter((f) => !f.slice(prefix.length).includes('/')).map((f) => f.slice(prefix.length));
  const pickle = direct.find((f) => /\.(pt|pth|ckpt|bin)$/.test(f));
  if (pickle) throw new SaeSpecError(`${ref.text}: ${where} holds a torch checkpoint (${pickle}), which saelab does not read (a pickle can run code); docs/hub.md shows the few lines of Python that convert it to safetensors`);
  if (direct.includes('params.npz')) throw new SaeSpecError(`${ref.text}: ${where} holds params.npz (Gemma Scope's numpy format), which saelab does not read`);
  throw new SaeSpecError(`${ref.text}: ${where} holds no SAE files (cfg.json with sae_weights.safetensors or sae.safetensors, or ae.safetensors)`);
}

// ---- opening -------------------------------------------------------------------------------------

/** Options of openHubSae: the hub client's (endpoint, token, cache folder, progress, fetch). */
export type OpenHubSaeOptions = Pick<DownloadOptions, 'endpoint' | 'token' | 'cacheDir' | 'onProgress' | 'fetchImpl' | 'retries' | 'idleTimeoutMs'> & {
  /** Called once the repo is known to hold the SAE, before its files download (not for a cached SAE). */
  onDownload?: (ref: HubSaeRef) => void;
};

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Whether `dir` holds every file of one SAE layout. */
function cachedSaeFolder(dir: string): boolean {
  return localSaeFiles(dir) !== null;
}

/** The SAE files of a local folder (names inside it, in the first layout it completes), or null. */
export function localSaeFiles(dir: string): string[] | null {
  for (const l of LAYOUTS) if (l.required.every((f) => isFile(join(dir, f)))) return [...l.required, ...l.optional.filter((f) => isFile(join(dir, f)))];
  return null;
}

/** The local folder of a hub SAE: the cached snapshot's folder, else a download (not when HF_HUB_OFFLINE is set). */
export async function openHubSae(ref: HubSaeRef, options: OpenHubSaeOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? hfCacheDir();
  const snap = findCachedModel(ref.repoId, { revision: ref.revision, cacheDir });
  if (snap && cachedSaeFolder(join(snap, ref.subfolder))) return join(snap, ref.subfolder);
  if (hubOffline()) {
    throw new SaeSpecError(`${ref.text}: not in the HF cache (looked in ${repoFolder(ref.repoId, cacheDir)}), and HF_HUB_OFFLINE is set, so no download`);
  }
  const { onDownload, ...download } = options;
  const snapshot = await downloadModel(ref.repoId, {
    ...download,
    cacheDir,
    revision: ref.revision,
    label: 'SAE repo',
    select: (files) => {
      const picked = pickSaeFiles(files, ref);
      onDownload?.(ref); // only once there is something to download
      return picked;
    },
  });
  return join(snapshot, ref.subfolder);
}

/** `--sae TEXT` → a local folder path (hub SAEs downloaded or found in the cache); local paths are returned as given. */
export async function resolveSaeSpec(text: string, options: OpenHubSaeOptions & { table?: ReleaseTable } = {}): Promise<{ path: string; hub: HubSaeRef | null }> {
  const spec = parseSaeSpec(text, options.table);
  if (spec.kind === 'local') return { path: spec.path, hub: null };
  const { kind: _, ...ref } = spec;
  return { path: await openHubSae(ref, options), hub: ref };
}
