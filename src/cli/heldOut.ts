// Held-out text for eval, perturb and prune: by default skip the part of the data the SAEs were
// trained on (their cfg.json says which dataset and, since saelab records it, how many stream
// tokens of it training read), and warn loudly when a --skip-tokens given by hand overlaps it.

import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { saeDatasetPath } from '../sae/runSource.js';
import { defaultData } from '../sae/trainRun.js';

/** What an SAE folder's cfg.json says about its training text. */
interface TrainedOn {
  sae: string;
  /** Stream tokens of the dataset training read, or null when cfg.json does not say. */
  streamTokens: number | null;
}

/** An SAE folder's cfg.json metadata ({} when it has none), or null when cfg.json is missing or unreadable. */
function cfgMetadata(dir: string): Record<string, unknown> | null {
  try {
    return (JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8')) as { metadata?: Record<string, unknown> }).metadata ?? {};
  } catch {
    return null;
  }
}

/** The SAEs of `dirs` whose cfg.json metadata names `data` as their dataset. */
function trainedOnData(dirs: readonly string[], data: string): TrainedOn[] {
  const out: TrainedOn[] = [];
  for (const dir of dirs) {
    const meta = cfgMetadata(dir);
    if (meta === null) continue; // not a SAELens folder (or unreadable): loading the SAE will say so
    const trainedData = saeDatasetPath(meta); // the local path (cfg's dataset_path is portable: a file name)
    if (trainedData === undefined || resolve(trainedData) !== data) continue;
    const n = meta.training_stream_tokens;
    out.push({ sae: basename(resolve(dir)), streamTokens: typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : null });
  }
  return out;
}

/** The dataset the first of `dirs` says it trained on (cfg.json metadata), or undefined: the default data of compare and duplicates. */
export function firstSaeData(dirs: readonly string[]): string | undefined {
  const meta = dirs.length ? cfgMetadata(dirs[0]!) : null;
  return meta ? saeDatasetPath(meta) : undefined;
}

export interface HeldOutChoice {
  /** Stream tokens to skip. */
  skip: number;
  /** One line to print (why this skip), or null. */
  note: string | null;
  /** A loud warning (a --skip-tokens that evaluates on training text), or null. */
  warning: string | null;
}

/**
 * The --skip-tokens to use for SAE folders `saes` evaluated on `dataFlag` (default: the shared
 * corpus): `skipFlag` when the user gave one (with a warning if it overlaps training text), else the
 * most any SAE trained on of that same dataset.
 */
export function chooseSkip(saes: readonly string[], dataFlag: string | undefined, skipFlag: number | undefined): HeldOutChoice {
  const data = dataFlag ?? defaultData();
  const none: HeldOutChoice = { skip: skipFlag ?? 0, note: null, warning: null };
  if (data === null || saes.length === 0) return none;
  const path = resolve(data);
  const trained = trainedOnData(saes, path);
  if (trained.length === 0) return none;
  const known = trained.filter((t) => t.streamTokens !== null);
  const unknown = trained.filter((t) => t.streamTokens === null).map((t) => t.sae);
  const most = known.reduce((m, t) => (t.streamTokens! > m.streamTokens! ? t : m), known[0] ?? { sae: '', streamTokens: 0 });
  const fmt = (n: number) => n.toLocaleString('en-US');
  if (skipFlag !== undefined) {
    const overlap = known.filter((t) => skipFlag < t.streamTokens!);
    if (overlap.length === 0) return none;
    return {
      ...none,
      warning: `WARNING: --skip-tokens ${fmt(skipFlag)} overlaps the training text of ${overlap.map((t) => t.sae).join(', ')} (the first ${fmt(most.streamTokens!)} tokens of ${path}): these metrics are on text the SAE${overlap.length > 1 ? 's' : ''} trained on, not held-out text; omit --skip-tokens to skip it`,
    };
  }
  if (known.length === 0) {
    return { ...none, note: `note: ${unknown.join(', ')} trained on ${path} but ${unknown.length > 1 ? 'their cfg.json files do' : 'its cfg.json does'} not say how much of it: evaluating from its start, which may be training text (pass --skip-tokens N to hold it out)` };
  }
  const also = unknown.length ? `; ${unknown.join(', ')} do${unknown.length > 1 ? '' : 'es'} not say how much ${unknown.length > 1 ? 'they' : 'it'} read` : '';
  return { skip: most.streamTokens!, note: `held-out text: skipping the first ${fmt(most.streamTokens!)} tokens of ${path}, which ${most.sae}${known.length > 1 ? ' (the most of ' + known.length + ' SAEs)' : ''} trained on (--skip-tokens 0 evaluates on them)${also}`, warning: null };
}
