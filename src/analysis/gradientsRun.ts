// `saelab gradients` as a library function: per-token gradients of a downstream objective at one or
// more hooks (hookGradients.ts), streamed into one d×d Gram matrix per hook (gradientGram.ts), its
// spectrum, and with SAEs how their decoder rows and encoder columns sit in the top-r gradient
// subspace against random directions (gradientAlignment.ts). JSON and SVG plots (drawn by report/,
// passed in: analysis sits below report).

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Device } from '../compute/device.js';
import { Rng } from '../compute/random.js';
import type { PackedWindow } from '../data/packTokens.js';
import { readPairTexts, rewardWindow } from '../data/preferencePairs.js';
import { batchOf } from '../eval/evalSae.js';
import { lmWindows } from '../eval/evalRun.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { parseHook } from '../model/hooks.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { defaultData } from '../sae/trainRun.js';
import { randomDirections, scoreDirections, summarise, type ScoreSummary } from './gradientAlignment.js';
import { GramAccumulator, gradientSpectrum, type GradientSpectrum } from './gradientGram.js';
import { hasRunCheckpoint, keyMismatch, readRunCheckpoint, removeRunCheckpoint, writeRunCheckpoint } from './runCheckpoint.js';
import { batchGradients, GRADIENT_OBJECTIVES, objectiveProblem, type GradientObjective } from './hookGradients.js';
import { disposeLoaded, loadSaeFolders, openRunModel, type LoadedSpec } from './runInputs.js';
import type { LoadOptions } from '../model/loadStore.js';

/** Bad input to `saelab gradients` (and `connect`): one line, exit 2. */
export class GradientsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface GradientsRunOptions {
  device: Device;
  model?: string;
  /** Text corpus (kl, ce). */
  data?: string;
  /** Preference pairs JSONL (reward): both texts of each pair are rows. */
  pairs?: string;
  /** Hooks; default: the SAEs' hooks. */
  hooks: string[];
  objective: GradientObjective;
  tokens: number;
  skipTokens?: number;
  contextSize?: number;
  batchSize?: number;
  seed?: number;
  /** SAE folders whose directions to score (each at its own hook, which must be among `hooks`). */
  saes?: string[];
  /** The subspace's rank r; default: each hook's effective rank at 99 %. */
  rank?: number;
  /** Random baseline directions (default 4096). */
  randomCount?: number;
  out: string;
  download?: boolean;
  /** How the model's weights are held (--model-dtype, --stream); default float32 in memory. */
  modelLoad?: LoadOptions;
  onProgress?: (done: number, total: number) => void;
  /** Continue from `<out>/gradients.checkpoint` (same settings); without it an existing checkpoint is refused. */
  resume?: boolean;
  /** Seconds between checkpoints (default 30; 0: after every batch). */
  checkpointSeconds?: number;
  plots?: {
    spectrum: (hooks: { hook: string; spectrum: GradientSpectrum }[], objective: string) => string;
    alignment: (s: SaeAlignment, which: 'decoder' | 'encoder', energies: { sae: Float64Array; random: Float64Array }) => string;
  };
}

/** One SAE's directions against its hook's gradient subspace. */
export interface SaeAlignment {
  label: string;
  path: string;
  hook: string;
  dSae: number;
  rank: number;
  /** r / d: a random direction's expected energy. */
  randomExpected: number;
  decoder: { energy: ScoreSummary; sensitivity: ScoreSummary };
  encoder: { energy: ScoreSummary; sensitivity: ScoreSummary };
  random: { energy: ScoreSummary; sensitivity: ScoreSummary };
  /** Per latent, rounded to 6 digits: [dSae] each. */
  perLatent: { decoderEnergy: number[]; encoderEnergy: number[]; decoderSensitivity: number[]; encoderSensitivity: number[] };
}

export interface GradientsReport {
  model: string;
  data: string;
  objective: GradientObjective;
  /** How the objective's gradient is formed (docs/gradients.md). */
  objectiveForm: string;
  contextSize: number;
  seed: number;
  hooks: { hook: string; spectrum: GradientSpectrum }[];
  saes: SaeAlignment[];
  seconds: number;
  json: string;
  plots: string[];
}

const FORMS: Record<GradientObjective, string> = {
  ce: 'd(Σ_t CE_t)/d x_s: next-token cross-entropy summed over predicted positions',
  kl: 'Fisher form: g = d(Σ_t −log q_t(y_t))/d x_s with y_t ~ P_clean at the clean point; E[g gᵀ] = the Hessian of Σ_t KL(P_clean‖P_x) at x_clean',
  reward: 'd r / d x_s: the reward of each text (chosen and rejected each a row)',
};

/** A pair file's texts as reward windows (chosen, rejected per pair), until `tokens` kept tokens. */
async function pairWindows(file: string, tok: Tokenizer, model: Transformer, contextSize: number, tokens: number, skip: number): Promise<PackedWindow[]> {
  const pad = model.config.padTokenId ?? tok.eosId;
  if (pad === null) throw new GradientsError('the reward model has no pad token id and the tokenizer no EOS: cannot pad texts');
  const out: PackedWindow[] = [];
  let kept = 0;
  let skipped = 0;
  for await (const p of readPairTexts(file)) {
    if (skipped++ < skip) continue;
    for (const text of [p.chosen, p.rejected]) {
      const w = rewardWindow(tok, text, contextSize, pad);
      if (!w) continue;
      out.push(w);
      for (const e of w.exclude) if (!e) kept++;
    }
    if (kept >= tokens) break;
  }
  if (out.length === 0) throw new GradientsError(`${file}: no preference pair to read`);
  return out;
}

/** A gradients checkpoint (runCheckpoint.ts): the batches done, each hook's row count, the KL sampler's state; the arrays are the hooks' Gram sums in --hook order. */
interface GradientsCheckpoint {
  key: Record<string, unknown>;
  batches: number;
  counts: number[];
  rng: { s: [number, number, number, number]; spare: number | null };
}
const MAGIC = 'SLGC';

/** Round for JSON. */
const r6 = (v: ArrayLike<number>) => Array.from(v, (x) => Number(x.toPrecision(6)));

/** Run `saelab gradients` (see the file comment). */
export async function gradientsRun(o: GradientsRunOptions): Promise<GradientsReport> {
  const t0 = performance.now();
  if (!(Number.isInteger(o.tokens) && o.tokens > 0)) throw new GradientsError(`--tokens must be a positive number of tokens (got ${o.tokens})`);
  if (!GRADIENT_OBJECTIVES.includes(o.objective)) throw new GradientsError(`--objective must be one of ${GRADIENT_OBJECTIVES.join(', ')} (got ${o.objective})`);
  if (o.rank !== undefined && !(Number.isInteger(o.rank) && o.rank >= 1)) throw new GradientsError(`--rank must be a positive integer (got ${o.rank})`);
  const loaded: LoadedSpec[] = [];
  let model: Transformer | null = null;
  try {
    await loadSaeFolders(o.saes ?? [], o.device, loaded);
    const opened = await openRunModel(o.model, loaded, o.device, o.download ?? false, o.modelLoad);
    const spec = opened.spec;
    model = opened.model;
    const problem = objectiveProblem(model, o.objective);
    if (problem) throw new GradientsError(problem);
    const hooks = o.hooks.length > 0 ? [...o.hooks] : [...new Set(loaded.map((l) => l.spec.hook))];
    if (hooks.length === 0) throw new GradientsError('--hook: give at least one hook (or --sae folders, whose hooks are used)');
    for (const h of hooks) parseHook(h, model.config);
    if (new Set(hooks).size !== hooks.length) throw new GradientsError(`--hook lists a hook twice (${hooks.join(', ')})`);
    const d = model.config.dModel;
    for (const l of loaded) {
      if (!hooks.includes(l.spec.hook)) throw new GradientsError(`${l.spec.path}: the SAE is for ${l.spec.hook}, which is not among --hook (${hooks.join(', ')})`);
      if (l.spec.cfg.dIn !== d) throw new GradientsError(`${l.spec.path}: the SAE's d_in is ${l.spec.cfg.dIn} but the model's d_model is ${d}: it was trained on another model`);
    }
    if (o.rank !== undefined && o.rank > d) throw new GradientsError(`--rank ${o.rank} is more than the hook's dimension ${d}`);
    const contextSize = o.contextSize ?? Math.min(64, model.config.nCtx);
    if (contextSize < 2 || contextSize > model.config.nCtx) throw new GradientsError(`--context-size must be in [2, ${model.config.nCtx}] (got ${contextSize})`);
    let dataPath: string;
    let windows: PackedWindow[];
    if (o.objective === 'reward') {
      if (!o.pairs) throw new GradientsError('--objective reward needs --pairs FILE (preference pairs JSONL)');
      dataPath = resolve(o.pairs);
      if (!existsSync(dataPath)) throw new GradientsError(`--pairs ${dataPath}: no such file`);
      windows = await pairWindows(dataPath, opened.tokenizer, model, contextSize, o.tokens, o.skipTokens ?? 0);
    } else {
      const data = o.data ?? defaultData();
      if (!data) throw new GradientsError('no --data given and the shared corpus is not here: pass --data FILE_OR_FOLDER');
      dataPath = resolve(data);
      if (!existsSync(dataPath)) throw new GradientsError(`--data ${dataPath}: no such file or folder`);
      windows = await lmWindows(dataPath, opened.tokenizer, { contextSize, prependBos: true, tokens: o.tokens, skip: o.skipTokens ?? 0, textField: 'text' });
    }

    const seed = o.seed ?? 0;
    let rng = new Rng(seed);
    const grams = new Map(hooks.map((h) => [h, new GramAccumulator(d)]));
    const bs = o.batchSize ?? 4;
    const total = Math.ceil(windows.length / bs);
    // Resume: the settings that shape the sums must match the checkpoint's.
    const out = resolve(o.out);
    await mkdir(out, { recursive: true });
    const ckpt = join(out, 'gradients.checkpoint');
    const key = { model: existsSync(spec) ? resolve(spec) : spec, data: dataPath, hooks, objective: o.objective, tokens: o.tokens, skipTokens: o.skipTokens ?? 0, contextSize, batchSize: bs, seed, windows: windows.length };
    let start = 0;
    if (hasRunCheckpoint(ckpt)) {
      if (!o.resume) throw new GradientsError(`${ckpt}: an unfinished run's checkpoint is here: pass --resume to continue it, or delete it to start afresh`);
      const { header: h, arrays } = await readRunCheckpoint<GradientsCheckpoint>(ckpt, MAGIC, (why) => new GradientsError(`${ckpt}: ${why}; delete it to start afresh`));
      const differs = keyMismatch(h.key, key);
      if (differs) throw new GradientsError(`--resume: the checkpoint in ${out} was made with ${differs}`);
      hooks.forEach((hk, i) => {
        const g = grams.get(hk)!;
        if (arrays[i]?.length !== g.sum.length) throw new GradientsError(`${ckpt}: sums of ${hk} have the wrong size; delete it to start afresh`);
        g.sum.set(arrays[i]!);
        g.count = h.counts[i]!;
      });
      rng = Rng.fromState(h.rng);
      start = h.batches;
    }
    const every = (o.checkpointSeconds ?? 30) * 1000;
    let lastSave = performance.now();
    for (let b = start; b < total; b++) {
      const { ids, keep, B, T } = batchOf(windows.slice(b * bs, (b + 1) * bs));
      const g = await batchGradients(model, hooks, ids, B, T, keep, o.objective, rng);
      for (const h of hooks) grams.get(h)!.add(g.grads.get(h)!, g.keep);
      if (b + 1 < total && performance.now() - lastSave >= every) {
        await writeRunCheckpoint(ckpt, MAGIC, { key, batches: b + 1, rng: rng.state(), counts: hooks.map((hk) => grams.get(hk)!.count) }, hooks.map((hk) => grams.get(hk)!.sum));
        lastSave = performance.now();
      }
      o.onProgress?.(b + 1, total);
    }
    const spectra = new Map(hooks.map((h) => [h, gradientSpectrum(grams.get(h)!)]));

    const saes: SaeAlignment[] = [];
    const randomByRank = new Map<string, ReturnType<typeof scoreDirections>>();
    const rand = randomDirections(o.randomCount ?? 4096, d, seed + 1);
    const energies = new Map<SaeAlignment, { dec: Float64Array; enc: Float64Array; rnd: Float64Array }>();
    for (const l of loaded) {
      const { spectrum, eigen } = spectra.get(l.spec.hook)!;
      const r = o.rank ?? spectrum.effectiveRank['0.99'];
      const key = `${l.spec.hook}|${r}`;
      if (!randomByRank.has(key)) randomByRank.set(key, scoreDirections(eigen, r, rand, rand.length / d));
      const rnd = randomByRank.get(key)!;
      const m = l.spec.cfg.dSae;
      const wDec = ((await l.loaded.params.W_dec.read()) as Float32Array).slice();
      const wEnc = (await l.loaded.params.W_enc.read()) as Float32Array; // [d, m]
      const encRows = new Float32Array(m * d);
      for (let i = 0; i < d; i++) for (let j = 0; j < m; j++) encRows[j * d + i] = wEnc[i * m + j]!;
      const dec = scoreDirections(eigen, r, wDec, m);
      const enc = scoreDirections(eigen, r, encRows, m);
      const a: SaeAlignment = {
        label: basename(l.spec.path!), path: l.spec.path!, hook: l.spec.hook, dSae: m, rank: r, randomExpected: r / d,
        decoder: { energy: summarise(dec.energy, rnd.energy), sensitivity: summarise(dec.sensitivity, rnd.sensitivity) },
        encoder: { energy: summarise(enc.energy, rnd.energy), sensitivity: summarise(enc.sensitivity, rnd.sensitivity) },
        random: { energy: summarise(rnd.energy), sensitivity: summarise(rnd.sensitivity) },
        perLatent: { decoderEnergy: r6(dec.energy), encoderEnergy: r6(enc.energy), decoderSensitivity: r6(dec.sensitivity), encoderSensitivity: r6(enc.sensitivity) },
      };
      saes.push(a);
      energies.set(a, { dec: dec.energy, enc: enc.energy, rnd: rnd.energy });
    }

    const hookSpectra = hooks.map((h) => ({ hook: h, spectrum: spectra.get(h)!.spectrum }));
    const plots: string[] = [];
    if (o.plots) {
      const p = join(out, 'gradient-spectrum.svg');
      await writeFileAtomic(p, o.plots.spectrum(hookSpectra, o.objective));
      plots.push(p);
      for (const a of saes) {
        const e = energies.get(a)!;
        for (const which of ['decoder', 'encoder'] as const) {
          const q = join(out, `alignment-${a.label.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${which}.svg`);
          await writeFileAtomic(q, o.plots.alignment(a, which, { sae: which === 'decoder' ? e.dec : e.enc, random: e.rnd }));
          plots.push(q);
        }
      }
    }
    const report: GradientsReport = {
      model: existsSync(spec) ? resolve(spec) : spec, data: dataPath, objective: o.objective, objectiveForm: FORMS[o.objective], contextSize, seed,
      hooks: hookSpectra.map((h) => ({ hook: h.hook, spectrum: { ...h.spectrum, singularValues: r6(h.spectrum.singularValues), cumulativeEnergy: r6(h.spectrum.cumulativeEnergy) } })),
      saes, seconds: (performance.now() - t0) / 1000, json: join(out, 'gradients.json'), plots,
    };
    await writeFileAtomic(report.json, JSON.stringify(report, null, 2) + '\n');
    await removeRunCheckpoint(ckpt);
    return report;
  } finally {
    model?.dispose();
    disposeLoaded(loaded);
  }
}
