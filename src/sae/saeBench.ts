// `saelab bench sae`: the time of one full SAE training step on random data — forward, backward,
// Adam on every param with a gradient (W_enc, b_enc, W_dec, b_dec) and, where the decoder is kept
// at unit norm (TopK, BatchTopK), the gradient projection before and the row renormalisation after
// the update — the same cases as ../shared/bench/torch_reference.py's `sae.topk` / `sae.relu_l1`
// (d_in 768, batch 4096, k 32), so ms/step and tokens/s (= batch / step time) compare directly.
//
// The step is the trainer's (src/sae/trainer.ts `trainStep`, which is not exported), done here in
// the same order with the same functions: sae.step → removeParallelGrad → adamwUpdate per param →
// normalizeRowsInPlace → updateTokensSinceFired; without logging (no read-back) and without
// gradient clipping (off by default in training). The TopK step is saelab's sparse one (topkSae.ts;
// the torch reference decodes densely); like it, no AuxK runs, since nothing can be dead yet.

import type { Device } from '../compute/device.js';
import { adamwUpdate } from '../compute/ops/adamw.js';
import { matmul } from '../compute/ops/matmul.js';
import { Rng } from '../compute/random.js';
import type { Tensor } from '../compute/tensor.js';
import { updateTokensSinceFired } from './deadFeatures.js';
import { normalizeRowsInPlace, removeParallelGrad } from './decoderNorm.js';
import type { Transformer } from '../model/transformer.js';
import { downstreamHooks, e2eObjective } from './e2eObjective.js';
import { initSae } from './initSae.js';
import { localObjective } from './objective.js';
import { trainSaes, type TrainResult } from './trainer.js';
import { denseCodeStep, topkActivations } from './topkSae.js';
import type { SaeArchitecture, SaeConfig, SaeModel, SaeParams } from './types.js';

export interface SaeBenchCase {
  arch: SaeArchitecture;
  dSae: number;
  /** TopK only: train through dense [N, dSae] codes (denseCodeStep, like the torch reference) instead of the sparse code. */
  denseCode?: boolean;
}

export interface SaeBenchRow {
  /** torch_reference.py's case name: sae.topk, sae.relu_l1 (standard) or sae.batchtopk; sae.topk_dense for saelab's dense-code TopK. */
  case: string;
  arch: SaeArchitecture;
  precision: 'fp32';
  dIn: number;
  dSae: number;
  batch: number;
  /** TopK/BatchTopK k; null for standard. */
  k: number | null;
  /** Whether the step projected W_dec's gradient and renormalised its rows (TopK/BatchTopK). */
  decoderUnitNorm: boolean;
  msPerStep: number;
  tokensPerS: number;
  /** Timed steps (after one untimed warm-up step). */
  reps: number;
  /** With `blasBound`: ms of the bare encoder GEMM [batch, dIn]·[dIn, dSae] on the device, the mean of one run before and one after the timed steps. */
  encoderGemmMs?: number;
  /** With `blasBound`: that GEMM's GFLOP/s. */
  encoderGemmGflops?: number;
  /** With `blasBound`: how many GEMMs of the encoder's size the step cannot avoid: 1 for sparse TopK (its only dense product), 5 with dense codes (encoder and decoder forward, dW_dec, df, dW_enc). */
  boundGemms?: number;
  /** With `blasBound`: boundGemms · encoderGemmMs / msPerStep, the fraction of that bound the step reaches. */
  boundFraction?: number;
}

export interface SaeBenchOptions {
  /** Cases to time; default DEFAULT_SAE_BENCH_CASES. */
  cases?: SaeBenchCase[];
  /** Input width (default 768, GPT-2 small's residual stream). */
  dIn?: number;
  /** Tokens per step (default 4096). */
  batch?: number;
  /** TopK/BatchTopK k (default 32). */
  k?: number;
  /** standard's L1 coefficient (default 5, as torch_reference.py and TRAIN_DEFAULTS). */
  l1Coefficient?: number;
  /** Adam learning rate (default 1e-4, as torch_reference.py; the value does not change the time). */
  lr?: number;
  /** Minimum timed milliseconds per case (reps grow until reached; at least 1 rep). Default 2000. */
  minMs?: number;
  /** Most timed reps per case (default 1000). */
  maxReps?: number;
  seed?: number;
  /** Also time the bare encoder GEMM per case (same run, bracketing the steps) and report the step's fraction of it. */
  blasBound?: boolean;
  onRow?: (row: SaeBenchRow) => void;
}

/** torch_reference.py --only sae's shapes: TopK (k 32) at 24,576 and 98,304 latents, standard at 24,576. */
export const DEFAULT_SAE_BENCH_CASES: readonly SaeBenchCase[] = [
  { arch: 'topk', dSae: 24576 },
  { arch: 'topk', dSae: 98304 },
  { arch: 'standard', dSae: 24576 },
];

const CASE_NAMES: Record<SaeArchitecture, string> = { topk: 'sae.topk', standard: 'sae.relu_l1', batchtopk: 'sae.batchtopk', jumprelu: 'sae.jumprelu' }; // jumprelu: inference only, never a bench case

// The trainer's order of params (Adam updates run in this order).
const PARAM_NAMES: readonly (keyof SaeParams)[] = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'];

interface BenchState {
  m: Partial<Record<keyof SaeParams, Tensor>>;
  v: Partial<Record<keyof SaeParams, Tensor>>;
  tokensSinceFired: Tensor;
  step: number;
}

/** One training step as the trainer does it (no logging, no clipping); queues device work only. */
function trainStepOnce(sae: SaeModel, st: BenchState, x: Tensor, lr: number, l1Coefficient: number): void {
  // tokensSeen as in training: within the first deadTokensThreshold tokens no latent can be dead,
  // so AuxK is skipped (torch_reference's TopK has no AuxK either).
  const res = sae.step(x, { tokensSinceFired: st.tokensSinceFired, l1Coefficient, tokensSeen: st.step * x.shape[0]! });
  try {
    if (sae.cfg.decoderUnitNorm && res.grads.W_dec) removeParallelGrad(res.grads.W_dec, sae.params.W_dec);
    st.step++;
    for (const k of PARAM_NAMES) {
      const g = res.grads[k];
      if (!g) continue;
      adamwUpdate(sae.params[k]!, g, st.m[k]!, st.v[k]!, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: st.step });
    }
    if (sae.cfg.decoderUnitNorm) normalizeRowsInPlace(sae.params.W_dec);
    updateTokensSinceFired(st.tokensSinceFired, res.firedCounts, x.shape[0]!);
  } finally {
    res.dispose();
  }
}

/** Time one full training step per case on `device`; one row per case. */
export async function benchSae(device: Device, opts: SaeBenchOptions = {}): Promise<SaeBenchRow[]> {
  const dIn = opts.dIn ?? 768;
  const batch = opts.batch ?? 4096;
  const k = opts.k ?? 32;
  const l1Coefficient = opts.l1Coefficient ?? 5;
  const lr = opts.lr ?? 1e-4;
  const minMs = opts.minMs ?? 2000;
  const maxReps = opts.maxReps ?? 1000;
  const seed = opts.seed ?? 0;
  const cases = opts.cases ?? DEFAULT_SAE_BENCH_CASES;
  for (const c of cases) {
    if (!Number.isInteger(c.dSae) || c.dSae < 1) throw new Error(`benchSae: dSae must be a positive integer, got ${c.dSae}`);
    if (c.arch !== 'standard' && !(k >= 1 && k <= c.dSae)) throw new Error(`benchSae: k must be in 1..dSae (${c.dSae}), got ${k}`);
  }
  const x = device.fromArray(new Rng(seed + 1).normalArray(batch * dIn), [batch, dIn]);
  const rows: SaeBenchRow[] = [];
  try {
    for (const c of cases) {
      const cfg: SaeConfig = {
        architecture: c.arch, dIn, dSae: c.dSae, applyBDecToInput: true,
        // As training defaults (TRAIN_DEFAULTS.decoderUnitNorm): on for topk/batchtopk, off for standard.
        decoderUnitNorm: c.arch !== 'standard',
        normalizeActivations: 'none', seed,
        ...(c.arch === 'standard' ? { l1Coefficient } : { k }),
      };
      const init = await initSae(cfg, device);
      const sae: SaeModel = c.denseCode && c.arch === 'topk'
        ? { cfg, params: init.params, encode: (x) => init.encode(x), decode: (f) => init.decode(f), step: (x, ctx) => denseCodeStep(init.params, cfg, x, ctx, (pre) => topkActivations(pre, k)) }
        : init;
      const st: BenchState = { m: {}, v: {}, tokensSinceFired: device.zeros([c.dSae]), step: 0 };
      for (const name of PARAM_NAMES) {
        const p = sae.params[name];
        if (!p) continue;
        st.m[name] = device.zeros(p.shape);
        st.v[name] = device.zeros(p.shape);
      }
      try {
        trainStepOnce(sae, st, x, lr, l1Coefficient); // warm-up: pipelines compiled, buffer pool filled
        await device.sync();
        // The bound: the encoder GEMM (a sparse TopK step's only dense product; a dense step has five of
        // its size), timed just before and just after the steps (load drifts).
        const gemmMs = async () => {
          const t0 = performance.now();
          const pre = matmul(x, sae.params.W_enc);
          await device.sync();
          const ms = performance.now() - t0;
          pre.dispose();
          return ms;
        };
        const gemmBefore = opts.blasBound ? await gemmMs() : 0;
        let reps = 0;
        const t0 = performance.now();
        let elapsed = 0;
        while (reps < 1 || (elapsed < minMs && reps < maxReps)) {
          trainStepOnce(sae, st, x, lr, l1Coefficient);
          await device.sync();
          reps++;
          elapsed = performance.now() - t0;
        }
        const ms = elapsed / reps;
        const row: SaeBenchRow = {
          case: c.denseCode && c.arch === 'topk' ? 'sae.topk_dense' : CASE_NAMES[c.arch], arch: c.arch, precision: 'fp32', dIn, dSae: c.dSae, batch,
          k: c.arch === 'standard' ? null : k, decoderUnitNorm: cfg.decoderUnitNorm,
          msPerStep: ms, tokensPerS: batch / (ms / 1000), reps,
        };
        if (opts.blasBound) {
          const g = (gemmBefore + (await gemmMs())) / 2;
          const boundGemms = c.arch === 'topk' && !c.denseCode ? 1 : 5;
          Object.assign(row, { encoderGemmMs: g, encoderGemmGflops: (2 * batch * dIn * c.dSae) / g / 1e6, boundGemms, boundFraction: (boundGemms * g) / ms });
        }
        rows.push(row);
        opts.onRow?.(row);
      } finally {
        for (const t of [...Object.values(sae.params), ...Object.values(st.m), ...Object.values(st.v), st.tokensSinceFired]) t?.dispose();
      }
    }
  } finally {
    x.dispose();
  }
  return rows;
}

// ---- end-to-end steps (`saelab bench sae --loss e2e|e2e+ds`) ----------------------------------
// One SAE, the same random windows every step; each case's time per token against local training
// with its harvest forward (the streamed setting `saelab train` runs), in the same run and device.

/** One timed objective of benchSaeObjectives. */
export interface SaeObjectiveBenchRow {
  /** `local+harvest` (the model forward to the hook, then the local step), `e2e` or `e2e+ds`. */
  case: string;
  arch: SaeArchitecture;
  dIn: number;
  dSae: number;
  /** Tokens per step (windows × context). */
  batch: number;
  msPerStep: number;
  tokensPerS: number;
  /** Time per token relative to local+harvest in the same run (1 for local). */
  costVsLocal: number;
  reps: number;
}

/**
 * Time full training steps (trainer included: step, Adam, decoder handling) of one SAE at `hook`
 * of `model` on random token windows, for local training with its harvest forward and for each
 * end-to-end objective in `losses`; e2e+ds uses every later hook_resid_post.
 */
export async function benchSaeObjectives(model: Transformer, o: { hook: string; arch: SaeArchitecture; dSae: number; k?: number; windows?: number; contextSize?: number; losses: ('e2e' | 'e2e+ds')[]; minMs?: number; onRow?: (r: SaeObjectiveBenchRow) => void }): Promise<SaeObjectiveBenchRow[]> {
  const dev = model.device;
  const d = model.config.dModel;
  const W = o.windows ?? 8;
  const T = o.contextSize ?? 128;
  const rng = new Rng(0);
  const ids = Int32Array.from({ length: W * T }, () => Math.floor(rng.uniform() * model.config.vocabSize));
  const batch = { ids, exclude: new Uint8Array(W * T), B: W, T };
  const cfg: SaeConfig = { architecture: o.arch, dIn: d, dSae: o.dSae, applyBDecToInput: true, decoderUnitNorm: o.arch !== 'standard', normalizeActivations: 'none', seed: 0, ...(o.arch === 'standard' ? { l1Coefficient: 1 } : { k: o.k ?? 32 }) };
  const minMs = o.minMs ?? 2000;
  const rows: SaeObjectiveBenchRow[] = [];
  const free = (r: TrainResult) => {
    for (const st of r.states) for (const t of [st.tokensSinceFired, st.firedCount, ...Object.values(st.m), ...Object.values(st.v)]) t.dispose();
  };
  const time = async (name: string, run: (steps: number) => Promise<void>) => {
    await run(1); // warm-up (kernels compiled, buffers pooled)
    let reps = 1;
    let ms = 0;
    for (;;) {
      const t0 = performance.now();
      await run(reps);
      await dev.sync();
      ms = performance.now() - t0;
      if (ms >= minMs || reps >= 64) break;
      reps *= 2;
    }
    const msPerStep = ms / reps;
    const base = rows[0]?.msPerStep ?? msPerStep;
    const row: SaeObjectiveBenchRow = { case: name, arch: o.arch, dIn: d, dSae: o.dSae, batch: W * T, msPerStep, tokensPerS: (W * T) / (msPerStep / 1000), costVsLocal: msPerStep / base, reps };
    rows.push(row);
    o.onRow?.(row);
  };
  const harvest = () => {
    const r = model.forward(ids, [W, T], { stopAt: o.hook, keep: [o.hook] });
    return r.activations.get(o.hook)!.reshape([W * T, d]);
  };
  const sae = await initSae(cfg, dev);
  await time('local+harvest', async (steps) => free(await trainSaes({ saes: [sae], batches: () => harvest(), objective: localObjective, totalSteps: steps, lr: 1e-4, logEvery: 1e9 })));
  for (const loss of o.losses) {
    const downstream = loss === 'e2e+ds' ? downstreamHooks('all', o.hook, model).map((hook) => ({ hook, coefficient: 1 })) : [];
    const objective = e2eObjective({ model, hook: o.hook, normScale: 1, downstream });
    await time(loss, async (steps) => free(await trainSaes({ saes: [sae], batches: () => batch, objective, totalSteps: steps, lr: 1e-4, logEvery: 1e9 })));
  }
  for (const p of Object.values(sae.params) as (Tensor | undefined)[]) p?.dispose();
  return rows;
}
