// The Hugging Face cache layout, the same one huggingface_hub and transformers use, so a model either
// tool downloaded is found here and ours is found by them:
//   <cache>/models--ORG--NAME/refs/<branch>            a file holding the commit hash
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file> usually a symlink into blobs/
//   <cache>/models--ORG--NAME/blobs/<etag>              the content (sha256 for LFS files, git sha1 otherwise)

import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, normalize, sep } from 'node:path';

/** A failure to find or download a model from the hub; the message is one line for the user. */
export class HubError extends Error {
  override name = 'HubError';
  /** The HTTP status that caused it, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message.replace(/[\r\n]+/g, ' '), options);
    this.status = options?.status;
  }
}

type Env = Record<string, string | undefined>;

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (huggingface_hub's rule). */
export function hfHome(env: Env = process.env): string {
  if (env['HF_HOME']) return env['HF_HOME'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'huggingface');
}

/** The hub cache folder: $HF_HUB_CACHE (or the legacy $HUGGINGFACE_HUB_CACHE), else <hfHome>/hub. */
export function hfCacheDir(env: Env = process.env): string {
  return env['HF_HUB_CACHE'] || env['HUGGINGFACE_HUB_CACHE'] || join(hfHome(env), 'hub');
}

/** The hub token: $HF_TOKEN, the legacy $HUGGING_FACE_HUB_TOKEN, else the file `huggingface-cli login` writes. */
export function hfToken(env: Env = process.env): string | undefined {
  const fromEnv = env['HF_TOKEN'] || env['HUGGING_FACE_HUB_TOKEN'];
  if (fromEnv) return fromEnv.trim();
  try {
    const t = readFileSync(env['HF_TOKEN_PATH'] || join(hfHome(env), 'token'), 'utf8').trim();
    return t || undefined;
  } catch {
    return undefined;
  }
}

/** Whether HF_HUB_OFFLINE asks for no network (as huggingface_hub reads it). */
export function hubOffline(env: Env = process.env): boolean {
  return ['1', 'on', 'yes', 'true'].includes((env['HF_HUB_OFFLINE'] ?? '').toLowerCase());
}

// Hub ids: `NAME` or `ORG/NAME`, letters, digits, '-', '_', '.'; never '..' (it becomes a folder name).
const REPO_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/** Whether `s` is a well-formed hub model id (`gpt2`, `EleutherAI/pythia-70m`). */
export function isRepoId(s: string): boolean {
  return REPO_ID.test(s) && !s.includes('..') && s.length <= 200;
}

/** Throw HubError unless `repoId` is a well-formed hub model id. */
export function checkRepoId(repoId: string): void {
  if (!isRepoId(repoId)) throw new HubError(`${JSON.stringify(repoId)} is not a hub model id (expected NAME or ORG/NAME)`);
}

/** Whether a revision is a full commit hash (40 hex digits) rather than a branch or tag. */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/** Throw HubError unless `path` is a relative path that stays inside its folder (revision names, file names). */
export function checkRelativePath(path: string, what: string): void {
  const n = normalize(path);
  if (path === '' || isAbsolute(path) || path.includes('\\') || path.includes('\0') || n === '..' || n.startsWith(`..${sep}`) || n.split(sep).includes('..')) {
    throw new HubError(`${what} ${JSON.stringify(path)} is not a plain relative name`);
  }
}

/** The cache folder of one repo: `<cache>/models--ORG--NAME` (`models--gpt2` for a bare name). */
export function repoFolder(repoId: string, cacheDir: string = hfCacheDir()): string {
  checkRepoId(repoId);
  return join(cacheDir, `models--${repoId.replace('/', '--')}`);
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The commit a revision names in a repo folder: the hash itself, or the content of refs/<revision>; null if unknown. */
export function cachedCommit(repoDir: string, revision: string): string | null {
  if (isCommitHash(revision)) return revision;
  checkRelativePath(revision, 'revision');
  try {
    const hash = readFileSync(join(repoDir, 'refs', revision), 'utf8').trim();
    // The hash becomes a folder name: accept only a plain name.
    return /^[\w.-]+$/.test(hash) && !hash.startsWith('.') ? hash : null;
  } catch {
    return null;
  }
}

/** The cached snapshot folder of `repoId` at `revision` (a branch resolved through refs/, or a commit hash), or null. */
export function findCachedModel(repoId: string, options: { revision?: string; cacheDir?: string } = {}): string | null {
  const revision = options.revision ?? 'main';
  const dir = repoFolder(repoId, options.cacheDir ?? hfCacheDir());
  const commit = cachedCommit(dir, revision);
  if (commit !== null) {
    const snap = join(dir, 'snapshots', commit);
    if (isDir(snap)) return snap;
  }
  // A snapshot placed by hand under the revision's own name (no refs file) still counts.
  const named = join(dir, 'snapshots', revision);
  return revision !== commit && isDir(named) ? named : null;
}
