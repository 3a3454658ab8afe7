// The TopK SAE (Gao et al. 2024): only the k largest pre-activations of each token survive (ReLU'd).
//   pre = (x − b_dec)·W_enc + b_enc      [N, dSae]  (dense: the one full-width product of a step)
//   f   = ReLU(TopK_k(pre))              k picks per token (values [N, k], latents [N, k])
//   x̂   = f·W_dec + b_dec                [N, dIn]   (sparse: only the picked W_dec rows are read)
//   L   = c·mean_t Σ_j (x̂ − x)² + α·AuxK   (auxK.ts; c = ctx.mseCoefficient, default 1, and an
//         objective's outside gradient ctx.outputGrad joins dL/dx̂)
// Backward, on the picks only: dv = dx̂·W_dec[pick]ᵀ masked by v > 0; dW_dec rows of picked latents
// (Σ over their tokens of v·dx̂, other rows exactly 0); dW_enc columns of picked latents (Σ of
// dv·xin); db_enc = Σ dv. So the step costs one dense matmul plus O(N·k·dIn), not five dense ones.
// Adam still updates every W_dec row (silent rows' moments decay), as PyTorch's Adam would.
// The picks come from topkEncode.ts (on the CPU the top-k is fused into the encoder GEMM, so the
// [N, dSae] pre-activations are never stored). `denseCodeStep` is the same maths with [N, dSae] codes: BatchTopK uses it (its picks per token
// vary), and the tests use it as the oracle for the sparse step.

import { addInPlace } from '../compute/ops/elementwise.js';
import type { Tensor } from '../compute/tensor.js';
import { auxKDense, auxKMayApply, auxKSparse, AUXK_DEFAULTS, deadLatents } from './auxK.js';
import { decodeDense, decoderBiasGrad, encoderInput, finishStep, maskedByActive, meanL0, preActivations, reconstruction, squaredError, stepResult } from './saeCommon.js';
import { mapSae, scatterRows } from './saeKernels.js';
import { bucketRowSums, bucketSums, latentBuckets, sparseDecode, sparseRowDots, type SparseCode } from './sparseCode.js';
import { topkCode, topkEncode } from './topkEncode.js';
import type { SaeConfig, SaeModel, SaeParams, SaeStepContext, SaeStepResult } from './types.js';

export { AUXK_DEFAULTS, topkCode };

/** f = ReLU(TopK_k(pre)) scattered back to [N, dSae]. */
export function topkActivations(pre: Tensor, k: number): Tensor {
  const code = topkCode(pre, k);
  const f = scatterRows(code.values, code.indices, code.dSae);
  code.values.dispose();
  code.indices.dispose();
  return f;
}

/** A zero [1] on x's device (the AuxK value when it is skipped). */
function zeroScalar(x: Tensor): Tensor {
  return x.device.zeros([1]);
}

/** A TopK SAE with the AuxK dead-latent loss, trained on its sparse code. */
export class TopKSae implements SaeModel {
  constructor(
    readonly cfg: SaeConfig,
    readonly params: SaeParams,
  ) {
    if (!(Number.isInteger(cfg.k) && cfg.k! >= 1 && cfg.k! <= cfg.dSae)) throw new Error(`topk SAE: k must be an integer in [1, ${cfg.dSae}] (got ${cfg.k})`);
  }

  /** The picks for inputs x [N, dIn]. */
  encodeSparse(x: Tensor): SparseCode {
    const xin = encoderInput(this.params, this.cfg, x);
    const { code } = topkEncode(this.params, xin, this.cfg.k!);
    if (xin !== x) xin.dispose();
    return code;
  }

  /** f = ReLU(TopK_k((x − b_dec)·W_enc + b_enc)): [N, dIn] → [N, dSae]. */
  encode(x: Tensor): Tensor {
    const code = this.encodeSparse(x);
    const f = scatterRows(code.values, code.indices, code.dSae);
    code.values.dispose();
    code.indices.dispose();
    return f;
  }

  /** x̂ = f·W_dec + b_dec (dense f). */
  decode(f: Tensor): Tensor {
    return decodeDense(this.params, f);
  }

  /** Loss = MSE + α·AuxK with gradients of all four parameters, through the sparse code. */
  step(x: Tensor, ctx: SaeStepContext): SaeStepResult {
    return topkSparseStep(this.params, this.cfg, x, ctx);
  }
}

/** The TopK step on picks (see the file comment). */
export function topkSparseStep(p: SaeParams, cfg: SaeConfig, x: Tensor, ctx: SaeStepContext): SaeStepResult {
  const N = x.shape[0]!;
  const xin = encoderInput(p, cfg, x);
  const withAux = auxKMayApply(cfg, ctx);
  const { code, aux } = topkEncode(p, xin, cfg.k!, withAux ? deadLatents(cfg, ctx) : undefined); // [N, k] (and [N, kAux])
  const xhat = sparseDecode(code, p.W_dec, p.b_dec); // [N, dIn]

  const { mse, dxhat } = squaredError(x, xhat, ctx);

  const buckets = latentBuckets(code.indices, cfg.dSae);
  const dW_dec = bucketRowSums(buckets, code.values, dxhat); // [dSae, dIn]
  const dv = sparseRowDots(dxhat, p.W_dec, code.indices); // [N, k]
  const dpre = maskedByActive(code.values, dv);
  dv.dispose();
  const dW_enc = bucketRowSums(buckets, dpre, xin, { transposed: true }); // [dIn, dSae]
  const db_enc = bucketSums(buckets, dpre); // [dSae]
  dpre.dispose();
  const on = mapSae('gt', code.values, 0);
  const fired = bucketSums(buckets, on);
  on.dispose();
  buckets.dispose();
  code.values.dispose();
  code.indices.dispose();

  const auxK = aux ? auxKSparse(p, cfg, x, xhat, xin, aux, ctx, { dW_dec, dW_enc, db_enc }) : zeroScalar(x);
  xhat.dispose();
  if (xin !== x) xin.dispose();

  const db_dec = decoderBiasGrad(p, cfg, dxhat, db_enc);
  dxhat.dispose();
  const l0 = meanL0(fired, N);
  const alpha = cfg.auxKCoefficient ?? AUXK_DEFAULTS.auxKCoefficient;
  return stepResult({ W_enc: dW_enc, b_enc: db_enc, W_dec: dW_dec, b_dec: db_dec }, fired, { mse, l0, auxK }, (v) => (ctx.mseCoefficient ?? 1) * v.mse + alpha * (v.auxK ?? 0));
}

/** The step on dense codes, shared by BatchTopK (and the TopK oracle): `activate` turns pre-activations into f [N, dSae]. */
export function denseCodeStep(p: SaeParams, cfg: SaeConfig, x: Tensor, ctx: SaeStepContext, activate: (pre: Tensor) => Tensor): SaeStepResult {
  const xin = encoderInput(p, cfg, x);
  const pre = preActivations(p, xin); // [N, dSae]
  const f = activate(pre);
  const xhat = decodeDense(p, f);
  const rec = reconstruction(p, x, f, xhat, ctx);
  const dpre = maskedByActive(f, rec.df);
  rec.df.dispose();
  let auxK: Tensor;
  if (auxKMayApply(cfg, ctx)) {
    const aux = auxKDense(p, cfg, x, xhat, pre, ctx, rec.dW_dec, topkActivations);
    addInPlace(dpre, aux.dpre);
    aux.dpre.dispose();
    auxK = aux.auxK;
  } else auxK = zeroScalar(x);
  xhat.dispose();
  pre.dispose();
  const alpha = cfg.auxKCoefficient ?? AUXK_DEFAULTS.auxKCoefficient;
  return finishStep(p, cfg, x, xin, f, rec, dpre, { auxK }, (v) => (ctx.mseCoefficient ?? 1) * v.mse + alpha * (v.auxK ?? 0));
}
