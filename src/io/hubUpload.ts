// Upload files to a hub model repo with @huggingface/hub (Hugging Face's own client: createRepo, then
// one commit through the hub's protocol — preupload to sort regular from LFS files, the git-lfs
// batch API and the storage PUTs for LFS content, then the NDJSON commit). We keep only what it does
// not do for us: the token from HF_TOKEN or the token file (hfToken), errors as one HubError line that
// never carries the token, and byte progress over the whole commit.

import { statSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { commitIter, createRepo, HubApiError, type CommitOperation } from '@huggingface/hub';
import { hfToken, HubError, isRepoId } from './hfCache.js';

/** One file of a commit: its path in the repo, and a local file or the bytes themselves. */
export type UploadFile = { path: string; file: string } | { path: string; content: Uint8Array };

/** Options of pushFiles. */
export interface PushOptions {
  /** Create the repo private (an existing repo keeps its visibility). */
  private?: boolean;
  /** The commit's title. */
  message?: string;
  /** The hub (default $HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Write token (default $HF_TOKEN or the saved login). */
  token?: string;
  /** fetch to use (tests, proxies). */
  fetchImpl?: typeof fetch;
  /** Bytes uploaded so far over all files (LFS content; small files count when the commit lands). */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

/** What a push did. */
export interface PushResult {
  repoId: string;
  /** Whether this push created the repo. */
  created: boolean;
  commit: string;
  url: string;
}

/** Replace the token wherever a message might carry it (the library's messages quote server answers). */
function scrub(text: string, token: string): string {
  return token ? text.split(token).join('***') : text;
}

/** A library or network error as one HubError line. */
function hubError(e: unknown, what: string, token: string): HubError {
  if (e instanceof HubApiError) {
    const status = e.statusCode;
    const hint = status === 401 ? ': the token was refused (HF_TOKEN or the token file)' : status === 403 ? ': the token may not write here (it needs write access to this owner)' : '';
    return new HubError(scrub(`${what}: HTTP ${status}${hint} (${e.message.split('\n')[0]})`, token), { status, cause: e });
  }
  const err = e as Error & { cause?: { code?: string } };
  const code = err.cause?.code;
  return new HubError(scrub(`${what}: ${code ?? err.message ?? String(e)}`, token), { cause: e });
}

/** Create `repoId` (a model repo) unless it exists, then commit `files` to its main branch in one commit. */
export async function pushFiles(repoId: string, files: readonly UploadFile[], options: PushOptions = {}): Promise<PushResult> {
  if (!isRepoId(repoId) || !repoId.includes('/')) throw new HubError(`--repo ${JSON.stringify(repoId)}: expected OWNER/NAME (a hub user or organisation, and the repo's name)`);
  const endpoint = (options.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/, '');
  const token = options.token ?? hfToken() ?? '';
  if (!token) throw new HubError('pushing needs a hub token with write access: set HF_TOKEN, or log in once with `hf auth login` (it saves the token file saelab reads)');
  if (!token.startsWith('hf_')) throw new HubError('the hub token (HF_TOKEN or the token file) does not start with "hf_": not a Hugging Face access token');
  const common = { accessToken: token, hubUrl: endpoint, ...(options.fetchImpl ? { fetch: options.fetchImpl } : {}) };
  const repo = { type: 'model' as const, name: repoId };

  let created = true;
  try {
    await createRepo({ ...common, repo, ...(options.private ? { visibility: 'private' as const } : {}) });
  } catch (e) {
    if (!(e instanceof HubApiError && e.statusCode === 409)) throw hubError(e, `cannot create ${repoId} at ${endpoint}`, token);
    created = false; // it exists: commit into it
  }

  const sizes = new Map<string, number>();
  const operations: CommitOperation[] = files.map((f) => {
    if ('file' in f) {
      sizes.set(f.path, statSync(f.file).size);
      // A file: URL is read lazily, in slices, by the library (no whole-file copy in memory).
      return { operation: 'addOrUpdate', path: f.path, content: pathToFileURL(f.file) };
    }
    sizes.set(f.path, f.content.byteLength);
    return { operation: 'addOrUpdate', path: f.path, content: new Blob([Uint8Array.from(f.content)]) };
  });
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const done = new Map<string, number>();
  const report = () => options.onProgress?.([...done.values()].reduce((a, b) => a + b, 0), total);

  try {
    const it = commitIter({ ...common, repo, operations, title: options.message ?? `Upload ${files.length} files with saelab`, useXet: false });
    for (;;) {
      const step = await it.next();
      if (step.done) {
        const out = step.value;
        if (!out) throw new HubError(`${repoId}: the hub answered the commit without a commit id`);
        for (const [p, n] of sizes) done.set(p, n);
        report();
        return { repoId, created, commit: out.commit.oid, url: out.commit.url };
      }
      const ev = step.value;
      if (ev.event === 'fileProgress' && ev.state === 'uploading') {
        done.set(ev.path, Math.round((sizes.get(ev.path) ?? 0) * ev.progress));
        report();
      } else if (ev.event === 'fileProgress' && ev.state === 'error') {
        throw new HubError(`upload of ${ev.path} to ${repoId} failed`);
      }
    }
  } catch (e) {
    if (e instanceof HubError) throw e;
    throw hubError(e, `upload to ${repoId} at ${endpoint} failed`, token);
  }
}
