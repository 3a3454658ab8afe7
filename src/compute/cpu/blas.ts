// Lazy loader for the optional native OpenBLAS addon (native/build/Release/saelab_blas.node,
// built by scripts/buildNative.mjs at install time). When it is missing or SAELAB_NO_BLAS=1,
// callers fall back to the pure-TypeScript matmul.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../packageRoot.js';
import { chooseBlasCoreType, readCpuinfo, withBlasCoreType } from './blasCoreType.js';

/** The functions native/sgemm_addon.c exports (arguments are validated again in C). */
export interface BlasAddon {
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOffset: number, lda: number, B: Float32Array, bOffset: number, ldb: number,
    beta: number, C: Float32Array, cOffset: number, ldc: number,
  ): void;
  sgemmBatched(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, aOffset: number, lda: number, B: Float32Array, bOffset: number, ldb: number,
    beta: number, C: Float32Array, cOffset: number, ldc: number,
    batch: number, strideA: number, strideB: number, strideC: number,
  ): void;
  info(): { config: string; threads: number };
  setThreads(n: number): void;
  /** Point fd 2 at a file; returns the saved fd (absent in addons built before it existed). */
  stderrToFile?(path: string): number;
  /** Put fd 2 back from the fd stderrToFile returned. */
  stderrRestore?(saved: number): void;
  /** native/klRows.c (absent in addons built before it existed): klTargetCpu's native twin. */
  klTargetRows?(logitsP: Float32Array, rows: number, V: number, probs: Float32Array, plogp: Float32Array): void;
  /** native/activations.c (absent in older addons): geluCpu's native twin. */
  geluForward?(x: Float32Array, y: Float32Array): void;
  /** native/activations.c: geluBackwardCpu's native twin. */
  geluBackward?(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /**
   * native/attentionRows.c (absent in older addons): causalAttentionFastCpu's forward in C, the (b, h)
   * pairs over threads; window ≤ 0 and softcap ≤ 0 mean none.
   */
  attentionForward?(q: Float32Array, k: Float32Array, v: Float32Array, B: number, T: number, H: number, Hkv: number, D: number, scale: number, window: number, softcap: number, out: Float32Array, lse: Float32Array): void;
  /** native/layerNorm.c (absent in older addons): layerNormCpu's native twin (d = gamma.length). */
  layerNormForward?(x: Float32Array, gamma: Float32Array, beta: Float32Array, rows: number, eps: number, y: Float32Array, mean: Float32Array, rstd: Float32Array): void;
  /** native/logitLosses.c (absent in older addons): CleanLogits' statistics (src/eval/logitLosses.ts), rows over threads. */
  cleanLogitStats?(z: Float32Array, n: number, V: number, rows: Uint8Array, p: Float32Array, lse: Float64Array, a: Float64Array, s: Float64Array): void;
  /** native/logitLosses.c: CleanLogits.compare's twin (CE and KL per row). */
  compareLogitRows?(p: Float32Array, a: Float64Array, s: Float64Array, lse: Float64Array, q: Float32Array, n: number, V: number, rows: Uint8Array, targets: Int32Array, ce: Float64Array, kl: Float64Array): void;
  /** native/elementwise.c (absent in older addons): addCpu's twin for equal lengths, in pieces over threads (same bits). */
  addArrays?(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** native/elementwise.c (absent in older addons): reluCpu's twin (same bits), pieces over threads. */
  reluForward?(x: Float32Array, y: Float32Array): void;
  /** native/elementwise.c: reluBackwardCpu's twin (same bits). */
  reluBackward?(x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** native/elementwise.c: out[c] = #{r : x[r, c] > 0} for x [rows, cols] (firedCounts' count). */
  countPositiveColumns?(x: Float32Array, rows: number, cols: number, out: Float32Array): void;
  /** native/elementwise.c: sumColumnsCpu's twin for f32 (same order: double per column over the rows in order), columns over threads. */
  sumColumns?(x: Float32Array, rows: number, cols: number, out: Float32Array): void;
  /** native/klRows.c: klToTargetCpu's native twin. */
  klToTargetRows?(probs: Float32Array, plogp: Float32Array, logitsQ: Float32Array, weights: Float32Array, rows: number, V: number, dLogitsQ: Float32Array, klw: Float32Array): void;
  /** native/topkEncode.c (absent in older addons): the TopK encoder with its top-k fused into the GEMM (src/sae/topkEncode.ts). */
  topkEncode?(
    xin: Float32Array, N: number, dIn: number, W: Float32Array, dSae: number, b: Float32Array, k: number, values: Float32Array, indices: Int32Array,
    tokensSinceFired: Float32Array | null, cut: number, kAux: number, auxValues: Float32Array | null, auxIndices: Int32Array | null,
  ): void;
  /** native/sparseCode.c: sparseDecodeCpu's threaded twin. */
  sparseDecode?(v: Float32Array, idx: Int32Array, N: number, k: number, W: Float32Array, d: number, b: Float32Array | null, y: Float32Array): void;
  /** native/sparseCode.c: sparseRowDotsCpu's threaded twin. */
  sparseRowDots?(g: Float32Array, idx: Int32Array, N: number, k: number, W: Float32Array, d: number, out: Float32Array): void;
  /** native/sparseCode.c: bucketRowSumsCpu's threaded twin. */
  bucketRowSums?(offsets: Int32Array, order: Int32Array, k: number, dSae: number, coef: Float32Array, rows: Float32Array, d: number, out: Float32Array, transposed: boolean, accumulate: boolean): void;
  /** native/adamw.c: adamwCpu's threaded twin (equal bit for bit). */
  adamwUpdate?(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, beta1: number, beta2: number, eps: number, decay: number, stepSize: number, bc2Sqrt: number): void;
  /** native/decoderNorm.c: removeParallelGradCpu's threaded twin (equal bit for bit). */
  removeParallelGrad?(g: Float32Array, w: Float32Array, rows: number, cols: number): void;
  /** native/decoderNorm.c: normalizeRowsCpu's threaded twin (equal bit for bit). */
  normalizeRows?(w: Float32Array, rows: number, cols: number): void;
}

/** `coreType` says which OpenBLAS kernels were asked for and why (blasCoreType.ts). */
export interface BlasInfo { available: boolean; name: string; reason: string; coreType: string }

const ADDON_RELATIVE = join('native', 'build', 'Release', 'saelab_blas.node');

let state: { addon: BlasAddon | null; info: BlasInfo } | undefined;

function disabledByEnv(): boolean {
  const v = process.env['SAELAB_NO_BLAS'];
  return v !== undefined && v !== '' && v !== '0';
}

function load(): { addon: BlasAddon | null; info: BlasInfo } {
  const none = (reason: string) => ({ addon: null, info: { available: false, name: '', reason, coreType: '' } });
  if (disabledByEnv()) return none('disabled by SAELAB_NO_BLAS');
  const root = packageRoot();
  if (!root) return none('package root not found');
  const path = join(root, ADDON_RELATIVE);
  if (!existsSync(path)) return none(`${ADDON_RELATIVE} not built; run \`npm run build:native\``);
  try {
    const coreType = chooseBlasCoreType(process.env, readCpuinfo());
    // The kernels are fixed when the library loads: an addon loaded earlier in this process
    // (a reload) keeps the kernels of its first load.
    const addon = withBlasCoreType(coreType, () => createRequire(import.meta.url)(path) as BlasAddon);
    if (typeof addon.sgemm !== 'function' || typeof addon.sgemmBatched !== 'function' || typeof addon.info !== 'function') {
      return none(`${ADDON_RELATIVE} is stale; run \`npm run build:native\``);
    }
    const { config, threads } = addon.info();
    return { addon, info: { available: true, name: `${config}, ${threads} threads`, reason: '', coreType: coreType.reason } };
  } catch (e) {
    return none(`${ADDON_RELATIVE} failed to load: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
}

/** The loaded addon, or null when the TypeScript fallback must be used. Loads once. */
export function blasAddon(): BlasAddon | null {
  state ??= load();
  return state.addon;
}

/**
 * Below this many elements an elementwise or column pass stays in TypeScript: the native call costs
 * more than it saves (the C side likewise gives each thread at least this many).
 */
export const NATIVE_MIN_ELEMENTS = 1 << 16;

/** The addon's kernel `name` for a pass over `n` elements, or undefined (too short, no addon, or an older one without it). */
export function nativeKernel<K extends keyof BlasAddon>(name: K, n: number): BlasAddon[K] | undefined {
  return n >= NATIVE_MIN_ELEMENTS ? blasAddon()?.[name] : undefined;
}

/** Whether the native sgemm addon is loaded, and why not when it is not. */
export function blasInfo(): BlasInfo {
  state ??= load();
  return { ...state.info };
}

/** Forget the cached load and try again (re-reads SAELAB_NO_BLAS); for tests and benchmarks. */
export function reloadBlas(): BlasInfo {
  state = undefined;
  return blasInfo();
}

/**
 * Run `fn` with fd 2 pointed at a temp file and return what was written there (native libraries'
 * direct stderr writes included); `captured` is null when the addon cannot redirect (fn ran as is).
 */
export function captureStderr<T>(fn: () => T): { value: T; captured: string | null } {
  const addon = blasAddon();
  if (!addon?.stderrToFile || !addon.stderrRestore) return { value: fn(), captured: null };
  const dir = mkdtempSync(join(tmpdir(), 'saelab-stderr-'));
  const file = join(dir, 'stderr.txt');
  const saved = addon.stderrToFile(file);
  let value: T;
  try {
    value = fn();
  } finally {
    addon.stderrRestore(saved);
  }
  const captured = readFileSync(file, 'utf8');
  rmSync(dir, { recursive: true, force: true });
  return { value, captured };
}
