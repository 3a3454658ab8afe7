// `saelab push DIR --repo OWNER/NAME [--private] [--path FOLDER]`: upload an SAE folder (or the SAE
// folders of a run) to a hub model repo with a generated model card (src/report/modelCard.ts), through
// @huggingface/hub (src/io/hubUpload.ts). Each folder is loaded first (the same checks as every
// command: shapes, finite weights), only its SAE files go up (not checkpoints, logs or the database),
// and the eval metrics come from the workspace database when there is one. The token (HF_TOKEN or the
// token file) is never printed: not in output, errors or the card.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { cpu } from '../../compute/cpu/cpuDevice.js';
import { evalsOfPath } from '../../eval/evalDb.js';
import { checkRelativePath } from '../../io/hfCache.js';
import { pushFiles, type UploadFile } from '../../io/hubUpload.js';
import { openWorkspaceDb, WORKSPACE_DB_FILE } from '../../io/workspaceDb.js';
import { modelCard, type CardSae } from '../../report/modelCard.js';
import { localSaeFiles } from '../../sae/hubSae.js';
import { loadSae } from '../../sae/saeFiles.js';
import { SAELAB_VERSION } from '../../version.js';
import { UsageError } from '../errors.js';
import { emit } from '../output.js';
import { startProgress } from '../progress.js';

interface PushFlags {
  repo?: string; private?: boolean; path?: string; db?: string; message?: string; json?: boolean;
}

/** The SAE folders to push: DIR itself, or its subfolders that are SAEs (a run's --out). */
export function saeFoldersOf(dir: string): { dir: string; name: string | null }[] {
  if (!existsSync(dir)) throw new UsageError(`${dir}: no such folder`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${dir}: is a file; push takes an SAE folder or a run folder holding SAE folders`);
  if (localSaeFiles(dir)) return [{ dir, name: null }];
  const subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.') && localSaeFiles(join(dir, e.name))).map((e) => e.name).sort();
  if (!subs.length) throw new UsageError(`${dir}: not an SAE folder (no cfg.json with sae_weights.safetensors or sae.safetensors, nor ae.safetensors) and it holds no SAE folders`);
  return subs.map((name) => ({ dir: join(dir, name), name }));
}

/** The workspace database beside the SAEs: DIR/saelab.db or its parent's, or null. */
function defaultDb(dir: string): string | null {
  for (const d of [dir, dirname(dir)]) if (existsSync(join(d, WORKSPACE_DB_FILE))) return join(d, WORKSPACE_DB_FILE);
  return null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

/** Register `saelab push`. */
export function registerPush(program: Command): void {
  program
    .command('push')
    .description('upload an SAE folder (or a run\'s SAE folders) to a Hugging Face hub model repo, with a generated model card; token from HF_TOKEN or the HF token file')
    .argument('<dir>', 'an SAE folder (SAELens, sparsify or dictionary_learning layout), or a run folder holding SAE folders (train --out)')
    .option('--repo <owner/name>', 'the hub model repo (created when missing)')
    .option('--private', 'create the repo private (an existing repo keeps its visibility)')
    .option('--path <folder>', 'the folder in the repo to upload into (default: the repo\'s root; a run\'s SAEs go into one subfolder each)')
    .option('--db <file>', 'workspace database with eval metrics for the card (default: saelab.db in DIR or its parent, when there is one)')
    .option('--message <text>', 'the commit message')
    .option('--json', 'print JSON')
    .action(async (dirArg: string, _o: PushFlags, cmd: Command) => {
      const o = cmd.opts<PushFlags>();
      if (!o.repo) throw new UsageError('--repo OWNER/NAME is required (the hub model repo to upload to)');
      const sub = (o.path ?? '').replace(/^\/+|\/+$/g, '');
      if (sub) {
        try {
          checkRelativePath(sub, '--path');
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      }
      const dir = resolve(dirArg);
      const folders = saeFoldersOf(dir);
      const dbPath = o.db ? resolve(o.db) : defaultDb(dir);
      if (o.db && !existsSync(dbPath!)) throw new UsageError(`--db ${o.db}: no such file`);
      const db = dbPath ? openWorkspaceDb(dbPath) : null;
      const files: UploadFile[] = [];
      const card: CardSae[] = [];
      try {
        for (const f of folders) {
          const loaded = await loadSae(f.dir, cpu); // the folder must load, as every command will load it
          for (const t of Object.values(loaded.params)) t.dispose();
          const folder = [sub, f.name].filter(Boolean).join('/');
          for (const name of localSaeFiles(f.dir)!) files.push({ path: folder ? `${folder}/${name}` : name, file: join(f.dir, name) });
          const meta = loaded.metadata;
          const evals = db ? evalsOfPath(db, f.dir) : [];
          card.push({
            folder, format: loaded.format, architecture: (loaded.cfg.architecture as string), dIn: loaded.cfg.dIn, dSae: loaded.cfg.dSae,
            ...(loaded.cfg.k !== undefined ? { k: loaded.cfg.k } : {}),
            hook: str(meta.hook_name), model: str(meta.model_name), dataset: str(meta.dataset_path),
            trainingTokens: typeof meta['training_tokens'] === 'number' ? meta['training_tokens'] : null,
            metrics: evals[0]?.metrics ?? null,
          });
        }
      } finally {
        db?.close();
      }
      // The card goes to the repo's root unless the SAEs go into a subfolder of it.
      const cardPath = sub ? `${sub}/README.md` : 'README.md';
      files.push({ path: cardPath, content: new TextEncoder().encode(modelCard(o.repo, card, SAELAB_VERSION)) });
      const total = files.reduce((s, f) => s + ('file' in f ? statSync(f.file).size : f.content.byteLength), 0);
      const bar = startProgress('push', Math.max(1, Math.round(total / 1e6)), { unit: 'MB', quiet: !!o.json });
      let r;
      try {
        r = await pushFiles(o.repo, files, {
          private: !!o.private,
          message: o.message ?? `saelab push: ${card.length} SAE(s) from ${basename(dir)}`,
          onProgress: (done) => bar.update(Math.round(done / 1e6)),
        });
      } finally {
        bar.stop();
      }
      const specs = card.map((c) => `hf:${o.repo}${c.folder ? `/${c.folder}` : ''}`);
      emit(!!o.json, { repo: o.repo, created: r.created, commit: r.commit, url: r.url, files: files.map((f) => f.path), saes: specs, card: cardPath }, () => {
        console.log(`pushed ${card.length} SAE(s) and ${cardPath} to ${o.repo}${r.created ? ` (created${o.private ? ', private' : ''})` : ''} at commit ${r.commit}`);
        if (!r.created && o.private) console.log('note: the repo existed, so its visibility is unchanged');
        for (const s of specs) console.log(`  open with: saelab eval --sae ${s}`);
      });
    });
}
