// Exact one-to-one matching of two direction sets A [n, d] and B [m, d] maximising total cosine, at
// full width: candidates (top-K both ways) → sparse LAP with dual prices → certificate over the full
// matrix → if any pair violates it, add the violators and re-solve; until certified. The max cosine
// both ways comes from the same candidate pass.

import type { Device } from '../compute/device.js';
import type { WebGpuDevice } from '../compute/webgpu/gpuDevice.js';
import { unitRows } from './cosineBlocks.js';
import { cosineTopKBothGpu } from './gpuCandidates.js';
import { checkLapDuals } from './lapCertificate.js';
import { isInfeasible, solveSparseLap, type LapSolution, type LapWarmStart, type SparseCostGraph } from './linearAssignment.js';
import { candidateGraph, cosineTopKBoth, type CosineTopK, type ExtraPair } from './matchCandidates.js';

export interface MatchOptions {
  /** Candidates per row and per column (default 32; doubled while the graph has no full matching). */
  k?: number;
  /** Certificate tolerance per pair, in cosine units (default 1e-6). */
  tol?: number;
  /** Re-solve rounds before giving up (default 20). */
  maxRounds?: number;
  /** Certify by scanning every row of the full matrix instead of bounding rows by their K-th best (slower; for tests). */
  fullCheck?: boolean;
}

/** How the matching was proved optimal. */
export interface MatchCertificate {
  /** Every pair satisfies cos(i,j) ≤ a(i) + b(j) + tol with tight matched pairs. */
  certified: boolean;
  tol: number;
  /** max over all n·m pairs of cos(i,j) − a(i) − b(j) at the end. */
  maxViolation: number;
  /** The matched total is within this of the best possible (min(n, m)·tol). */
  gapBound: number;
  /** Certificate checks run (1 when the first candidate graph was already enough). */
  rounds: number;
  k: number;
  candidatePairs: number;
  /** Pairs added because they violated an earlier certificate. */
  addedPairs: number;
  /** Rows whose full row of cosines the last check recomputed (the others were bounded by their K-th best). */
  rowsScanned: number;
  augmentations: number;
}

export interface DirectionMatch {
  n: number;
  m: number;
  /** [n] cosine of each A row's best B row, and which (lowest index on ties). */
  rowMax: Float32Array;
  rowArg: Int32Array;
  /** [m] cosine of each B row's best A row, and which. */
  colMax: Float32Array;
  colArg: Int32Array;
  /** [n] A row → matched B row (-1 where n > m left it out). */
  aToB: Int32Array;
  /** [n] cosine of each matched pair (NaN where unmatched). */
  matchedCos: Float32Array;
  /** Σ matched cosine. */
  totalCos: number;
  certificate: MatchCertificate;
  seconds: { candidates: number; solve: number; certify: number };
}

/** A candidate pass already run elsewhere (e.g. on a GPU) for the same A, B and K. */
export interface PrecomputedCandidates {
  /** Unit rows of A [n, d] and B [m, d]. */
  UA: Float32Array;
  UB: Float32Array;
  top: CosineTopK;
  /** Time it took. */
  seconds: number;
}

/**
 * matchDirections with the candidate pass on `device` (WebGPU: matmul + topkRows, gpuCandidates.ts);
 * the solve, certificate and any widening of K run on the CPU. On the CPU device it is matchDirections.
 */
export async function matchDirectionsOn(device: Device, A: Float32Array, n: number, B: Float32Array, m: number, d: number, opts: MatchOptions = {}): Promise<DirectionMatch> {
  if (device.kind === 'cpu' || n === 0 || m === 0) return matchDirections(A, n, B, m, d, opts);
  const UA = unitRows(A, n, d);
  const UB = unitRows(B, m, d);
  const t0 = performance.now();
  const top = await cosineTopKBothGpu(device as WebGpuDevice, UA, n, UB, m, d, Math.max(1, opts.k ?? 32));
  return matchDirections(A, n, B, m, d, opts, { UA, UB, top, seconds: (performance.now() - t0) / 1e3 });
}

/** Max-both-ways from top lists (their first entries). */
function maxFromTop(top: CosineTopK, n: number, m: number) {
  const rowMax = new Float32Array(n);
  const rowArg = new Int32Array(n);
  const colMax = new Float32Array(m);
  const colArg = new Int32Array(m);
  for (let i = 0; i < n; i++) {
    rowMax[i] = top.rows.val[i * top.rows.k] ?? -Infinity;
    rowArg[i] = top.rows.idx[i * top.rows.k] ?? -1;
  }
  for (let j = 0; j < m; j++) {
    colMax[j] = top.cols.val[j * top.cols.k] ?? -Infinity;
    colArg[j] = top.cols.idx[j * top.cols.k] ?? -1;
  }
  return { rowMax, rowArg, colMax, colArg };
}

/** [n] each row's K-th best cosine: a bound on every column outside its top-K list (-Infinity when the list holds all m). */
function rowBound(top: CosineTopK, m: number): Float32Array {
  const k = top.rows.k;
  const n = top.rows.val.length / Math.max(1, k);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = k >= m ? -Infinity : top.rows.val[i * k + k - 1]!;
  return out;
}

/** The cost of edge (i, j) in g, or NaN. */
function edgeCost(g: SparseCostGraph, i: number, j: number): number {
  for (let p = g.rowStart[i]!; p < g.rowStart[i + 1]!; p++) if (g.col[p] === j) return g.cost[p]!;
  return NaN;
}

/**
 * Square problems continue from the last solution: each row with a new edge (or an edge whose
 * cosine was recomputed) is unmatched and gets the largest price that keeps its reduced costs ≥ 0;
 * the other rows keep their matches and prices, so the invariants of linearAssignment.ts hold.
 */
function warmAfterAdding(g: SparseCostGraph, sol: LapSolution, added: readonly ExtraPair[]): LapWarmStart {
  const { rowToCol, colToRow, u, v } = sol;
  const rows = new Set(added.map((e) => e.i));
  for (const i of rows) {
    let best = Infinity;
    for (let p = g.rowStart[i]!; p < g.rowStart[i + 1]!; p++) best = Math.min(best, g.cost[p]! - v[g.col[p]!]!);
    u[i] = best;
    const j = rowToCol[i]!;
    if (j >= 0) {
      rowToCol[i] = -1;
      colToRow[j] = -1;
    }
  }
  return { rowToCol, colToRow, u, v };
}

/** Exact maximum-total-cosine one-to-one matching of A's rows [n, d] with B's rows [m, d], certified over the full matrix. */
export function matchDirections(A: Float32Array, n: number, B: Float32Array, m: number, d: number, opts: MatchOptions = {}, pre?: PrecomputedCandidates): DirectionMatch {
  if (n > m) {
    // Solve with the smaller set as rows, then read the answer back the other way round.
    const swapped = pre && { UA: pre.UB, UB: pre.UA, top: { rows: pre.top.cols, cols: pre.top.rows }, seconds: pre.seconds };
    const t = matchDirections(B, m, A, n, d, opts, swapped);
    const aToB = new Int32Array(n).fill(-1);
    const matchedCos = new Float32Array(n).fill(NaN);
    for (let j = 0; j < m; j++) {
      const i = t.aToB[j]!;
      aToB[i] = j;
      matchedCos[i] = t.matchedCos[j]!;
    }
    return { n, m, rowMax: t.colMax, rowArg: t.colArg, colMax: t.rowMax, colArg: t.rowArg, aToB, matchedCos, totalCos: t.totalCos, certificate: t.certificate, seconds: t.seconds };
  }
  const tol = opts.tol ?? 1e-6;
  const maxRounds = opts.maxRounds ?? 20;
  let k = Math.max(1, opts.k ?? 32);
  const seconds = { candidates: 0, solve: 0, certify: 0 };
  const UA = pre?.UA ?? unitRows(A, n, d);
  const UB = pre?.UB ?? unitRows(B, m, d);
  let t0 = performance.now();
  let top = pre?.top ?? cosineTopKBoth(UA, n, UB, m, d, k);
  seconds.candidates += pre ? pre.seconds : (performance.now() - t0) / 1e3;
  const maxes = maxFromTop(top, n, m);
  const extra: ExtraPair[] = [];
  let g = candidateGraph(n, m, top, extra);
  let warm: LapWarmStart | undefined;
  let rounds = 0;
  let augmentations = 0;
  for (;;) {
    t0 = performance.now();
    const res = solveSparseLap(g, warm);
    seconds.solve += (performance.now() - t0) / 1e3;
    if (isInfeasible(res)) {
      // No full matching among the candidates: widen the lists (K ≥ m is the complete graph).
      if (k >= m) throw new Error(`matchDirections: no assignment on the complete graph (row ${res.stuckRow}); this is a bug`);
      k = Math.min(m, k * 2);
      t0 = performance.now();
      top = cosineTopKBoth(UA, n, UB, m, d, k);
      seconds.candidates += (performance.now() - t0) / 1e3;
      g = candidateGraph(n, m, top, extra);
      warm = undefined;
      continue;
    }
    augmentations += res.augmentations;
    t0 = performance.now();
    const check = checkLapDuals(UA, n, UB, m, d, res.u, res.v, tol, 4 * n + 1024, opts.fullCheck ? null : { graph: g, rowBound: rowBound(top, m) });
    seconds.certify += (performance.now() - t0) / 1e3;
    rounds++;
    const certified = check.violationCount === 0;
    if (certified || rounds >= maxRounds) {
      const aToB = res.rowToCol;
      const matchedCos = new Float32Array(n);
      for (let i = 0; i < n; i++) matchedCos[i] = -edgeCost(g, i, aToB[i]!);
      const certificate: MatchCertificate = {
        certified, tol, maxViolation: check.maxViolation, gapBound: certified ? n * tol : NaN, rounds, k,
        candidatePairs: g.col.length, addedPairs: extra.length, rowsScanned: check.rowsScanned, augmentations,
      };
      return { n, m, ...maxes, aToB, matchedCos, totalCos: 0 - res.totalCost, certificate, seconds };
    }
    extra.push(...check.violations);
    g = candidateGraph(n, m, top, extra);
    warm = n === m ? warmAfterAdding(g, res, check.violations) : undefined;
  }
}
