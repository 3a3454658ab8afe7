// llama2.c legacy checkpoints (Karpathy's `run.c` format, e.g. stories260K.bin) into the canonical
// layout as a Llama. The file: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
// seq_len; a negative vocab_size means an unshared classifier follows the other tensors), then f32
// tensors: token_embedding [V, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kvDim, dim],
// wv [L, kvDim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden],
// w3 [L, hidden, dim], rms_final [dim], freq_cis_real/imag [seq_len, headSize/2] (skipped), wcls?.
// Matrices are [out, in] (run.c: xout[i] = Σ_j w[i·n + j]·x[j]); w1 is the SwiGLU gate, w3 the up
// projection, w2 the down projection.
//
// RoPE: run.c rotates ADJACENT pairs (2i, 2i+1) of each head; HF Llama (and our `rope` op) rotates
// halves (i, i + dHead/2) at the same frequency θ^(−2i/dHead). So, as HF's conversion script does,
// each head's rows of wq and wk are permuted: new row c·dHead/2 + i = old row 2i + c.

import { readLocalFile } from '../io/fileByteSource.js';
import type { ModelConfig } from './config.js';
import { plainSwitches, validateConfig } from './config.js';
import { ModelError } from './errors.js';
import { interleavedToHalfRows } from './loadWeights.js';
import { checkWeightShapes, transpose, type HostTensor, type HostWeights, type LayerWeights } from './weights.js';

/** The 7-int32 header of a llama2.c checkpoint. */
export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

const HEADER_BYTES = 28;
// llama2.c's newer export formats (version 1, 2) start with this magic ("ak42").
const EXPORT_MAGIC = 0x616b3432;

/** Parse and check the header. */
export function parseLlama2cHeader(bytes: Uint8Array, source: string): Llama2cHeader {
  if (bytes.byteLength < HEADER_BYTES) throw new ModelError(`${source}: ${bytes.byteLength} bytes is too short for a llama2.c checkpoint header (28)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (v.getUint32(0, true) === EXPORT_MAGIC) {
    throw new ModelError(`${source}: llama2.c export format version ${v.getInt32(4, true)} is not supported; export with --version 0 (legacy)`);
  }
  const h = Array.from({ length: 7 }, (_, i) => v.getInt32(i * 4, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = h as [number, number, number, number, number, number, number];
  const header = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0 };
  for (const [k, x] of Object.entries(header)) {
    if (typeof x === 'number' && !(x > 0 && x < 1 << 24)) throw new ModelError(`${source}: not a llama2.c checkpoint (header ${k} = ${x}; header ${h.join(', ')})`);
  }
  if (dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0) {
    throw new ModelError(`${source}: inconsistent llama2.c header (dim ${dim}, n_heads ${nHeads}, n_kv_heads ${nKvHeads})`);
  }
  return header;
}

/** The model config of a llama2.c checkpoint: a Llama with RMSNorm eps 1e-5 and RoPE θ 10⁴, BOS 1, EOS 2. */
export function llama2cConfig(h: Llama2cHeader, source: string): ModelConfig {
  return validateConfig(
    {
      family: 'llama', head: 'lm', numLabels: 0,
      nLayers: h.nLayers, dModel: h.dim, nHeads: h.nHeads, nKvHeads: h.nKvHeads, dHead: h.dim / h.nHeads,
      dMlp: h.hiddenDim, vocabSize: h.vocabSize, nCtx: h.seqLen, normEps: 1e-5, activation: 'silu',
      rotaryDim: h.dim / h.nHeads, ropeTheta: 10000, parallelResidual: false, tiedEmbeddings: h.sharedClassifier,
      attnBias: false, mlpBias: false, scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false,
      padTokenId: null, bosTokenId: 1, eosTokenId: 2,
      ...plainSwitches('rms', true, false, h.nLayers),
    },
    source,
  );
}

/** Permute each head's rows from adjacent-pair to rotate-half order: new row c·dh/2 + i = old row 2i + c. */
export function adjacentToHalfRows(w: Float32Array, heads: number, dHead: number, cols: number): Float32Array {
  return interleavedToHalfRows(w, heads, dHead, dHead, cols); // every dim of the head is rotary
}

/** Read a llama2.c legacy `.bin` into its config and canonical host weights. */
export async function loadLlama2c(path: string): Promise<{ config: ModelConfig; weights: HostWeights }> {
  let bytes: Uint8Array;
  try {
    bytes = await readLocalFile(path);
  } catch (e) {
    throw new ModelError(`${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseLlama2c(bytes, path);
}

/** Parse llama2.c checkpoint bytes (see loadLlama2c). */
export function parseLlama2c(bytes: Uint8Array, source = '<llama2.c bytes>'): { config: ModelConfig; weights: HostWeights } {
  const h = parseLlama2cHeader(bytes, source);
  const cfg = llama2cConfig(h, source);
  const { dim: d, hiddenDim: f, nLayers: L, nHeads, nKvHeads, vocabSize: V, seqLen } = h;
  const dh = d / nHeads;
  const kv = nKvHeads * dh;
  const sizes = {
    embed: V * d, rmsAtt: L * d, wq: L * d * d, wk: L * kv * d, wv: L * kv * d, wo: L * d * d,
    rmsFfn: L * d, w1: L * f * d, w2: L * d * f, w3: L * f * d, rmsFinal: d, freqCis: seqLen * dh,
    wcls: h.sharedClassifier ? 0 : V * d,
  };
  const floats = Object.values(sizes).reduce((a, b) => a + b, 0);
  const need = HEADER_BYTES + 4 * floats;
  if (bytes.byteLength < need) {
    throw new ModelError(`${source}: ${bytes.byteLength} bytes, but its header (dim ${d}, hidden ${f}, layers ${L}, heads ${nHeads}/${nKvHeads}, vocab ${V}, seq ${seqLen}) needs ${need}`);
  }
  // Copy the tensor bytes out: the file buffer need not be 4-byte aligned for a Float32Array view.
  const all = new Float32Array(bytes.slice(HEADER_BYTES, need).buffer);
  let off = 0;
  const take = (n: number): Float32Array => all.subarray(off, (off += n));
  const embed = take(sizes.embed);
  const rmsAtt = take(sizes.rmsAtt), wq = take(sizes.wq), wk = take(sizes.wk), wv = take(sizes.wv), wo = take(sizes.wo);
  const rmsFfn = take(sizes.rmsFfn), w1 = take(sizes.w1), w2 = take(sizes.w2), w3 = take(sizes.w3);
  const rmsFinal = take(sizes.rmsFinal);
  take(sizes.freqCis);
  const wcls = h.sharedClassifier ? null : take(sizes.wcls);

  const layer = (a: Float32Array, l: number, n: number) => a.subarray(l * n, (l + 1) * n);
  const t = (data: Float32Array, shape: number[]): HostTensor => ({ data, shape });
  // An [out, in] matrix of layer l as the canonical [in, out].
  const linT = (a: Float32Array, l: number, out: number, inp: number): HostTensor => t(transpose(layer(a, l, out * inp), out, inp), [inp, out]);
  const layers: LayerWeights<HostTensor>[] = [];
  for (let l = 0; l < L; l++) {
    const q = adjacentToHalfRows(layer(wq, l, d * d), nHeads, dh, d);
    const k = adjacentToHalfRows(layer(wk, l, kv * d), nKvHeads, dh, d);
    layers.push({
      ln1: { w: t(layer(rmsAtt, l, d).slice(), [d]), b: null },
      W_Q: t(transpose(q, d, d), [d, d]),
      W_K: t(transpose(k, kv, d), [d, kv]),
      W_V: linT(wv, l, kv, d),
      b_Q: null, b_K: null, b_V: null,
      W_O: linT(wo, l, d, d),
      b_O: null,
      ln2: { w: t(layer(rmsFfn, l, d).slice(), [d]), b: null },
      ln1_post: null, ln2_post: null,
      W_in: linT(w3, l, f, d),
      W_gate: linT(w1, l, f, d),
      b_in: null,
      W_out: linT(w2, l, d, f),
      b_out: null,
    });
  }
  const weights: HostWeights = {
    embed: t(embed.slice(), [V, d]),
    posEmbed: null,
    layers,
    lnFinal: { w: t(rmsFinal.slice(), [d]), b: null },
    unembed: wcls ? t(transpose(wcls, V, d), [d, V]) : null,
    unembed_b: null,
    score: null,
  };
  checkWeightShapes(cfg, weights, source);
  return { config: cfg, weights };
}
