// One transformer block, forward (and, below it, backward), for every family:
//   GPT-2 / sequential NeoX:  mid = x + attn(ln1(x));  out = mid + mlp(ln2(mid))
//   parallel NeoX (Pythia):   out = x + attn(ln1(x)) + mlp(ln2(x))
//   Llama:                    as GPT-2 with RMSNorm, RoPE, grouped-query attention, SwiGLU MLP
//   GPT-J (sharedNorm):       h = ln1(x);  out = x + attn(h) + mlp(h)
//   Gemma-2 (postNorms):      mid = x + ln1_post(attn(ln1(x)));  out = mid + ln2_post(mlp(ln2(mid)))
// attn(h) = (causal softmax(cap(rope(h·W_Q + b_Q) · rope(h·W_K + b_K)ᵀ · scale)) · (h·W_V + b_V)) · W_O + b_O
//           (cap: Gemma-2's soft-capping; a sliding window masks keys t − s ≥ w on the layers that have one)
// mlp(h)  = act(h·W_in + b_in) · W_out + b_out, or (act(h·W_gate) ⊙ h·W_in) · W_out when gated
//           (SwiGLU with silu, Gemma's GeGLU with tanh GELU).
// hook_attn_out and hook_mlp_out are what the residual receives (after a post-norm).
// Hook points are visited through the context in TransformerLens order; with `grad` the block keeps
// what its backward needs in a BlockCache.

import { gelu, geluBackward, relu, reluBackward, silu, siluBackward } from '../compute/ops/activations.js';
import { causalAttention, causalAttentionBackward } from '../compute/ops/attention.js';
import { add, addInPlace, mul } from '../compute/ops/elementwise.js';
import { geluErf, geluErfBackward } from '../compute/ops/geluErf.js';
import { layerNorm, layerNormBackward } from '../compute/ops/layerNorm.js';
import { linear as linearOp } from '../compute/ops/linear.js';
import { matmul } from '../compute/ops/matmul.js';
import { sumColumns } from '../compute/ops/reductions.js';
import { rmsNorm, rmsNormBackward } from '../compute/ops/rmsNorm.js';
import { rope, ropeBackward } from '../compute/ops/rope.js';
import type { Tensor } from '../compute/tensor.js';
import { attentionScale, type ModelActivation, type ModelConfig } from './config.js';
import type { BlockHookKind } from './hooks.js';
import type { LayerWeights, NormWeights } from './weights.js';

/** What a block's forward needs from the model's forward: hooks, stopping, freeing temporaries. */
export interface BlockContext {
  /** Run the hooks at `name` on x; returns the value the forward goes on with. */
  hook(name: string, x: Tensor): Tensor;
  /** True once the forward has run the last hook it needs: stop computing. */
  readonly stopped: boolean;
  /** Keep what the backward needs (and free nothing of it). */
  readonly grad: boolean;
  /** Give temporaries back to the device, except those kept as activations or cached. */
  release(...ts: (Tensor | null | undefined)[]): void;
}

/** A norm's input, output and saved statistics (mean is null for RMSNorm). */
export interface NormCache {
  x: Tensor;
  y: Tensor;
  mean: Tensor | null;
  rstd: Tensor;
}

/** What a block's backward reads: every op's inputs (post-hook values where a hook replaced one). */
export interface BlockCache {
  layer: number;
  ln1: NormCache;
  /** [B, T, nHeads, dHead] (after RoPE) */
  q: Tensor;
  /** [B, T, nKvHeads, dHead] (after RoPE) */
  k: Tensor;
  v: Tensor;
  /** Attention output per head [B, T, nHeads, dHead] and its log-sum-exp [B, nHeads, T]. */
  z: Tensor;
  lse: Tensor;
  /** ln2 (the same object as ln1 under a shared norm). */
  ln2: NormCache;
  /** Gemma-2's post-norms: x is the raw attention / MLP output. */
  ln1Post: NormCache | null;
  ln2Post: NormCache | null;
  /** h·W_in + b_in [B, T, dMlp]: the activation's input (the "up" side under SwiGLU). */
  pre: Tensor;
  /** h·W_gate (gated MLPs) and act of it, or null. */
  gate: Tensor | null;
  gateAct: Tensor | null;
  /** The MLP hidden after the nonlinearity: W_out's input [B, T, dMlp]. */
  act: Tensor;
}

/** Every tensor a cache holds (to free it). */
export function blockCacheTensors(c: BlockCache): Tensor[] {
  const ts = [c.ln1.x, c.ln1.y, c.ln1.mean, c.ln1.rstd, c.q, c.k, c.v, c.z, c.lse, c.ln2.x, c.ln2.y, c.ln2.mean, c.ln2.rstd, c.pre, c.gate, c.gateAct, c.act];
  for (const n of [c.ln1Post, c.ln2Post]) if (n) ts.push(n.x, n.y, n.mean, n.rstd);
  return [...new Set(ts.filter((t): t is Tensor => t !== null))];
}

// ---- pieces ------------------------------------------------------------------------------------

/** LayerNorm (w, b) or RMSNorm (w only) over the last dim. */
export function norm(x: Tensor, n: NormWeights, eps: number): NormCache {
  if (n.b) {
    const { y, mean, rstd } = layerNorm(x, n.w, n.b, eps);
    return { x, y, mean, rstd };
  }
  const { y, rstd } = rmsNorm(x, n.w, eps);
  return { x, y, mean: null, rstd };
}

/** x·W (+ b): x [..., in], W [in, out] → [..., out] (on the CPU the bias rides in sgemm's C: compute/ops/linear.ts). */
export function linear(x: Tensor, W: Tensor, b: Tensor | null): Tensor {
  return linearOp(x, W, b);
}

/** The MLP nonlinearity (non-gated). */
export function activation(kind: ModelActivation, x: Tensor): Tensor {
  switch (kind) {
    case 'gelu_new':
      return gelu(x);
    case 'gelu':
      return geluErf(x);
    case 'silu':
      return silu(x);
    case 'relu':
      return relu(x);
  }
}

/** Its backward from the saved input. */
export function activationBackward(kind: ModelActivation, x: Tensor, dy: Tensor): Tensor {
  switch (kind) {
    case 'gelu_new':
      return geluBackward(x, dy);
    case 'gelu':
      return geluErfBackward(x, dy);
    case 'silu':
      return siluBackward(x, dy);
    case 'relu':
      return reluBackward(x, dy);
  }
}

// ---- forward -----------------------------------------------------------------------------------

/**
 * Block `layer` on x = its resid_pre [B, T, dModel] (before the resid_pre hook, which runs here).
 * Returns resid_post (after its hook) and, with ctx.grad, the cache; or null once ctx.stopped.
 * Owns x: frees it unless kept or cached.
 */
export function blockForward(cfg: ModelConfig, w: LayerWeights, layer: number, xIn: Tensor, ctx: BlockContext): { out: Tensor; cache: BlockCache | null } | null {
  const P = `blocks.${layer}.`;
  const [B, T] = xIn.shape as [number, number, number];
  const x = ctx.hook(`${P}hook_resid_pre`, xIn);
  // Free what the backward will not read (everything, without grad).
  const drop = (...ts: (Tensor | null | undefined)[]) => {
    if (!ctx.grad) ctx.release(...ts);
  };
  // Stopping: free everything still held (kept activations are spared by release; a tensor freed
  // twice is a no-op).
  const halt = (...ts: (Tensor | null | undefined)[]): null => {
    ctx.release(...ts);
    return null;
  };
  const normTs = (n: NormCache | null) => (n ? [n.x, n.y, n.mean, n.rstd] : []);
  if (ctx.stopped) return halt(x);

  // Attention.
  const ln1 = norm(x, w.ln1, cfg.normEps);
  const { nHeads, nKvHeads, dHead } = cfg;
  let q = linear(ln1.y, w.W_Q, w.b_Q).reshape([B, T, nHeads, dHead]);
  let k = linear(ln1.y, w.W_K, w.b_K).reshape([B, T, nKvHeads, dHead]);
  const v = linear(ln1.y, w.W_V, w.b_V).reshape([B, T, nKvHeads, dHead]);
  if (cfg.rotaryDim > 0) {
    const ropeOpts = { rotaryDim: cfg.rotaryDim, theta: cfg.ropeTheta };
    const [q0, k0] = [q, k];
    q = rope(q0, ropeOpts);
    k = rope(k0, ropeOpts);
    ctx.release(q0, k0);
  }
  const { out: z, lse } = causalAttention(q, k, v, attentionOptions(cfg, layer));
  drop(q, k, v, lse);
  const attnRaw = linear(z.reshape([B, T, nHeads * dHead]), w.W_O, w.b_O);
  const ln1Post = w.ln1_post ? norm(attnRaw, w.ln1_post, cfg.normEps) : null;
  const attnOut = ctx.hook(`${P}hook_attn_out`, ln1Post ? ln1Post.y : attnRaw);
  drop(z);
  if (ln1Post) drop(ln1Post.x, ln1Post.mean, ln1Post.rstd);
  if (ctx.stopped) return halt(x, ln1.y, ln1.mean, ln1.rstd, q, k, v, z, lse, attnOut, ...normTs(ln1Post));

  // The residual stream the MLP reads: resid_mid, or resid_pre for a parallel block.
  let mlpIn = x;
  if (!cfg.parallelResidual) {
    const mid = add(x, attnOut);
    ctx.release(attnOut);
    drop(x, ln1.y, ln1.mean, ln1.rstd);
    mlpIn = ctx.hook(`${P}hook_resid_mid`, mid);
    if (ctx.stopped) return halt(x, ln1.y, ln1.mean, ln1.rstd, q, k, v, z, lse, mlpIn, ...normTs(ln1Post));
  }

  // MLP (under a shared norm it reads ln1's output).
  const ln2 = cfg.sharedNorm ? ln1 : norm(mlpIn, w.ln2!, cfg.normEps);
  const pre = linear(ln2.y, w.W_in, w.b_in);
  let gate: Tensor | null = null;
  let gateAct: Tensor | null = null;
  let act: Tensor;
  if (w.W_gate) {
    gate = linear(ln2.y, w.W_gate, null);
    gateAct = activation(cfg.activation, gate);
    act = mul(gateAct, pre);
  } else {
    act = activation(cfg.activation, pre);
  }
  drop(ln2.y, ln2.mean, ln2.rstd, pre, gate, gateAct);
  const mlpRaw = linear(act, w.W_out, w.b_out);
  const ln2Post = w.ln2_post ? norm(mlpRaw, w.ln2_post, cfg.normEps) : null;
  const mlpOut = ctx.hook(`${P}hook_mlp_out`, ln2Post ? ln2Post.y : mlpRaw);
  drop(act);
  if (ln2Post) drop(ln2Post.x, ln2Post.mean, ln2Post.rstd);
  if (ctx.stopped) return halt(x, ln1.y, ln1.mean, ln1.rstd, q, k, v, z, lse, mlpIn, attnOut, ln2.y, ln2.mean, ln2.rstd, pre, gate, gateAct, act, mlpOut, ...normTs(ln1Post), ...normTs(ln2Post));

  // Residual: HF adds (mlp + attn) + x for a parallel block.
  let out: Tensor;
  if (cfg.parallelResidual) {
    const both = add(mlpOut, attnOut);
    out = add(both, x);
    ctx.release(both, attnOut);
    drop(x, ln1.y, ln1.mean, ln1.rstd);
  } else {
    out = add(mlpIn, mlpOut);
    drop(mlpIn);
  }
  ctx.release(mlpOut);
  out = ctx.hook(`${P}hook_resid_post`, out);
  if (ctx.stopped) return halt(x, ln1.y, ln1.mean, ln1.rstd, q, k, v, z, lse, mlpIn, ln2.y, ln2.mean, ln2.rstd, pre, gate, gateAct, act, out, ...normTs(ln1Post), ...normTs(ln2Post));
  const cache: BlockCache | null = ctx.grad ? { layer, ln1, q, k, v, z, lse, ln2, ln1Post, ln2Post, pre, gate, gateAct, act } : null;
  return { out, cache };
}

/** The attention call's options for one layer: scale, sliding window, soft-capping. */
export function attentionOptions(cfg: ModelConfig, layer: number): { nHeads: number; nKvHeads: number; scale: number; window: number | null; softcap: number | null } {
  return { nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, scale: attentionScale(cfg, layer), window: cfg.attnWindows[layer] ?? null, softcap: cfg.attnSoftcap };
}

// ---- backward ----------------------------------------------------------------------------------
// Parameter gradients go into `params` by canonical name (weights.ts `listWeights`), when given.

/** Gradient of a norm from its cache: dx, and dw (db) into params. */
export function normBackward(dy: Tensor, c: NormCache, n: NormWeights, params: Map<string, Tensor> | null, name: string): Tensor {
  if (n.b) {
    const { dx, dgamma, dbeta } = layerNormBackward(dy, c.x, n.w, c.mean!, c.rstd);
    if (params) params.set(`${name}.w`, dgamma).set(`${name}.b`, dbeta);
    else {
      dgamma.dispose();
      dbeta.dispose();
    }
    return dx;
  }
  const { dx, dgamma } = rmsNormBackward(dy, c.x, n.w, c.rstd);
  if (params) params.set(`${name}.w`, dgamma);
  else dgamma.dispose();
  return dx;
}

/** A [B, T, ...] tensor as [B·T, rest] (heads and dHead merged for [B, T, heads, dHead]). */
function tokens2d(t: Tensor): Tensor {
  const rows = t.shape[0]! * t.shape[1]!;
  return t.reshape([rows, t.numel / rows]);
}

/** Gradients of y = x·W + b (x, dy [B, T, ...]) given dy: W's (xᵀ·dy) and b's (Σ_tokens dy) into params. */
function linearParamGrads(x: Tensor, dy: Tensor, params: Map<string, Tensor> | null, wName: string, bName: string | null): void {
  if (!params) return;
  params.set(wName, matmul(tokens2d(x), tokens2d(dy), { transA: true }));
  if (bName) params.set(bName, sumColumns(tokens2d(dy)));
}

/** Through a post-norm (Gemma-2) from d(hook value) to d(raw output); the input itself without one. */
function postNormBackward(dOut: Tensor, c: NormCache | null, n: NormWeights | null, params: Map<string, Tensor> | null, name: string): Tensor {
  return c && n ? normBackward(dOut, c, n, params, name) : dOut;
}

/** Backward of the MLP (and its post-norm) from d(mlp_out): returns the gradient at ln2's output [B, T, d]. */
function mlpBackwardToNorm(w: LayerWeights, c: BlockCache, cfg: ModelConfig, dMlpOut: Tensor, params: Map<string, Tensor> | null): Tensor {
  const P = `blocks.${c.layer}.`;
  const dRaw = postNormBackward(dMlpOut, c.ln2Post, w.ln2_post, params, `${P}ln2_post`);
  const dAct = matmul(dRaw, w.W_out, { transB: true });
  linearParamGrads(c.act, dRaw, params, `${P}mlp.W_out`, w.b_out ? `${P}mlp.b_out` : null);
  if (dRaw !== dMlpOut) dRaw.dispose();
  let dLn: Tensor;
  if (w.W_gate) {
    // act = act(gate) ⊙ pre
    const dPre = mul(dAct, c.gateAct!);
    const dGateAct = mul(dAct, c.pre);
    const dGate = activationBackward(cfg.activation, c.gate!, dGateAct);
    dLn = matmul(dPre, w.W_in, { transB: true });
    matmul(dGate, w.W_gate, { transB: true, out: dLn, accumulate: true });
    linearParamGrads(c.ln2.y, dPre, params, `${P}mlp.W_in`, w.b_in ? `${P}mlp.b_in` : null);
    linearParamGrads(c.ln2.y, dGate, params, `${P}mlp.W_gate`, null);
    for (const t of [dPre, dGateAct, dGate]) t.dispose();
  } else {
    const dPre = activationBackward(cfg.activation, c.pre, dAct);
    dLn = matmul(dPre, w.W_in, { transB: true });
    linearParamGrads(c.ln2.y, dPre, params, `${P}mlp.W_in`, w.b_in ? `${P}mlp.b_in` : null);
    dPre.dispose();
  }
  dAct.dispose();
  return dLn;
}

/** Backward of the MLP and ln2 from d(mlp_out): returns the gradient at ln2's input. */
function mlpBackward(w: LayerWeights, c: BlockCache, cfg: ModelConfig, dMlpOut: Tensor, params: Map<string, Tensor> | null): Tensor {
  const dLn = mlpBackwardToNorm(w, c, cfg, dMlpOut, params);
  const dx = normBackward(dLn, c.ln2, w.ln2!, params, `blocks.${c.layer}.ln2`);
  dLn.dispose();
  return dx;
}

/** Backward of attention (and its post-norm) from d(attn_out): returns the gradient at ln1's output [B·T, d]. */
function attentionBackwardToNorm(w: LayerWeights, c: BlockCache, cfg: ModelConfig, dAttnOut: Tensor, params: Map<string, Tensor> | null): Tensor {
  const P = `blocks.${c.layer}.`;
  const dRaw = postNormBackward(dAttnOut, c.ln1Post, w.ln1_post, params, `${P}ln1_post`);
  const dZ = matmul(dRaw, w.W_O, { transB: true });
  linearParamGrads(c.z, dRaw, params, `${P}attn.W_O`, w.b_O ? `${P}attn.b_O` : null);
  if (dRaw !== dAttnOut) dRaw.dispose();
  let { dq, dk, dv } = causalAttentionBackward(c.q, c.k, c.v, c.z, c.lse, dZ.reshape(c.z.shape), attentionOptions(cfg, c.layer));
  dZ.dispose();
  if (cfg.rotaryDim > 0) {
    const ropeOpts = { rotaryDim: cfg.rotaryDim, theta: cfg.ropeTheta };
    const [dq0, dk0] = [dq, dk];
    dq = ropeBackward(dq0, ropeOpts);
    dk = ropeBackward(dk0, ropeOpts);
    dq0.dispose();
    dk0.dispose();
  }
  const dLn = matmul(tokens2d(dq), w.W_Q, { transB: true });
  matmul(tokens2d(dk), w.W_K, { transB: true, out: dLn, accumulate: true });
  matmul(tokens2d(dv), w.W_V, { transB: true, out: dLn, accumulate: true });
  linearParamGrads(c.ln1.y, dq, params, `${P}attn.W_Q`, w.b_Q ? `${P}attn.b_Q` : null);
  linearParamGrads(c.ln1.y, dk, params, `${P}attn.W_K`, w.b_K ? `${P}attn.b_K` : null);
  linearParamGrads(c.ln1.y, dv, params, `${P}attn.W_V`, w.b_V ? `${P}attn.b_V` : null);
  for (const t of [dq, dk, dv]) t.dispose();
  return dLn;
}

/** Backward of attention and ln1 from d(attn_out): returns the gradient at ln1's input. */
function attentionBackward(w: LayerWeights, c: BlockCache, cfg: ModelConfig, dAttnOut: Tensor, params: Map<string, Tensor> | null): Tensor {
  const dLn = attentionBackwardToNorm(w, c, cfg, dAttnOut, params);
  const dx = normBackward(dLn.reshape(c.ln1.x.shape), c.ln1, w.ln1, params, `blocks.${c.layer}.ln1`);
  dLn.dispose();
  return dx;
}

/**
 * Backward of one block from dOut = d(objective)/d(resid_post). Returns the gradient at the hook
 * `stop` of this block (hook_resid_pre: through the whole block), adding the gradients of the
 * block's parameters downstream of that hook to `params`. The result may be dOut itself (for a
 * hook whose gradient equals it); dOut is never freed here. `seen`, when given, gets the gradient at
 * each hook inside the block the backward passes (resid_post, mlp_out, resid_mid, attn_out; stop
 * included, resid_pre not: that is the result), in reverse forward order; the tensor may be changed
 * or freed after the call (copy it to keep it).
 */
export function blockBackward(cfg: ModelConfig, w: LayerWeights, c: BlockCache, dOut: Tensor, stop: BlockHookKind, params: Map<string, Tensor> | null, seen?: (kind: BlockHookKind, grad: Tensor) => void): Tensor {
  seen?.('hook_resid_post', dOut);
  if (stop === 'hook_resid_post') return dOut;
  seen?.('hook_mlp_out', dOut);
  if (stop === 'hook_mlp_out') return dOut;
  if (cfg.parallelResidual) {
    // out = x + attn(ln1(x)) + mlp(ln2(x)): attn_out and mlp_out both receive dOut.
    seen?.('hook_attn_out', dOut);
    if (stop === 'hook_attn_out') return dOut;
    if (cfg.sharedNorm) {
      // GPT-J: h = ln1(x) feeds both, so their gradients at h add up before ln1's backward.
      const dLnMlp = mlpBackwardToNorm(w, c, cfg, dOut, params);
      const dLn = attentionBackwardToNorm(w, c, cfg, dOut, params);
      addInPlace(dLn, dLnMlp.reshape(dLn.shape));
      dLnMlp.dispose();
      const dx = normBackward(dLn.reshape(c.ln1.x.shape), c.ln1, w.ln1, params, `blocks.${c.layer}.ln1`);
      dLn.dispose();
      const dPre = add(dOut, dx);
      dx.dispose();
      return dPre;
    }
    const dx2 = mlpBackward(w, c, cfg, dOut, params);
    const dx1 = attentionBackward(w, c, cfg, dOut, params);
    const dPre = add(dOut, dx1);
    addInPlace(dPre, dx2);
    dx1.dispose();
    dx2.dispose();
    return dPre;
  }
  // mid = x + attn_out; out = mid + mlp_out.
  const dFromMlp = mlpBackward(w, c, cfg, dOut, params);
  const dMid = add(dOut, dFromMlp);
  dFromMlp.dispose();
  seen?.('hook_resid_mid', dMid);
  seen?.('hook_attn_out', dMid);
  if (stop === 'hook_resid_mid' || stop === 'hook_attn_out') return dMid;
  const dFromAttn = attentionBackward(w, c, cfg, dMid, params);
  addInPlace(dMid, dFromAttn);
  dFromAttn.dispose();
  return dMid;
}
