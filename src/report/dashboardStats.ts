// Per-feature dashboard statistics gathered in ONE pass over a token stream, in bounded memory:
//   top-k    the k strongest activations (a min-heap of slots per feature), each with its context:
//            the ±W token ids around the firing token (same window only) and the feature's
//            activation on each of them
//   samples  a reservoir of R firing tokens per feature (Algorithm R), from which the quantile
//            samples are picked at the end; the random choice is a hash of (seed, token, feature),
//            not a generator's stream, so a resumed pass makes the same choices as an unbroken one
//   hist     counts of activations in fixed log10 bins (HIST_BINS from HIST_LOG10_MIN, step
//            HIST_LOG10_STEP), so the bins are known before the pass
//   fires, sum of activations, max: density and the mean activation when firing
// Everything lives in flat typed arrays (state()), so a checkpoint is a list of arrays.
// Ties: a top-k slot is replaced only by a strictly larger activation, so among equal activations
// the earliest token stays; the final order is activation descending, then token ascending.

/** Log10 histogram bins: [10^(MIN + i·STEP), 10^(MIN + (i+1)·STEP)); bin 0 also takes anything smaller, the last anything larger. */
export const HIST_LOG10_MIN = -3;
export const HIST_LOG10_STEP = 0.1;
export const HIST_BINS = 60;

/** The lower edge of histogram bin `i` (an activation value). */
export function histBinLow(i: number): number {
  return 10 ** (HIST_LOG10_MIN + i * HIST_LOG10_STEP);
}

/** The histogram bin of a positive activation. */
export function histBin(a: number): number {
  const b = Math.floor((Math.log10(a) - HIST_LOG10_MIN) / HIST_LOG10_STEP);
  return b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b;
}

export interface DashboardStatsOptions {
  dSae: number;
  /** Top examples kept per feature. */
  topK: number;
  /** Context tokens on each side of a firing token. */
  window: number;
  /** Reservoir size per feature (the pool the quantile samples come from). */
  reservoir: number;
  /** Seed of the reservoir's choices. */
  seed: number;
}

/** One example: the firing token's global index, its activation, and its context. */
export interface FeatureExample {
  /** Global index of the firing token in the stream (window · contextSize + position). */
  token: number;
  act: number;
  /** [2W + 1] token ids around it (−1 outside its window). */
  ids: Int32Array;
  /** [2W + 1] the feature's activation on each context token (0 outside the window). */
  acts: Float32Array;
}

/** Everything gathered about one feature. */
export interface FeatureSummary {
  fires: number;
  tokens: number;
  /** fires / tokens. */
  density: number;
  maxAct: number;
  /** Mean activation over the tokens where it fired (0 when it never did). */
  meanAct: number;
  /** [HIST_BINS] counts per log10 bin. */
  hist: Uint32Array;
  /** Strongest first. */
  top: FeatureExample[];
  /** The reservoir, weakest first. */
  samples: FeatureExample[];
}

/** 32-bit mix of three integers (murmur3's finaliser over a running combination). */
function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 15), 0xc2b2ae35) ^ c;
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The arrays of a collector (checkpoints write and read these by name). */
export interface DashboardState {
  tokens: Float64Array; // [1] tokens counted so far
  fires: Float64Array; // [dSae]
  sumAct: Float64Array; // [dSae]
  maxAct: Float32Array; // [dSae]
  hist: Uint32Array; // [dSae, HIST_BINS]
  topCount: Int32Array; // [dSae] filled slots
  topHeap: Int32Array; // [dSae, K] slot numbers in min-heap order
  topAct: Float32Array; // [dSae, K] by slot
  topTok: Float64Array; // [dSae, K]
  topIds: Int32Array; // [dSae, K, C]
  topActs: Float32Array; // [dSae, K, C]
  resAct: Float32Array; // [dSae, R]
  resTok: Float64Array; // [dSae, R]
  resIds: Int32Array; // [dSae, R, C]
  resActs: Float32Array; // [dSae, R, C]
}

/** Gathers FeatureSummary data for every feature from batches of windows (see the file comment). */
export class DashboardStats {
  readonly dSae: number;
  readonly topK: number;
  readonly window: number;
  readonly reservoir: number;
  readonly seed: number;
  /** Context width 2W + 1. */
  readonly ctx: number;
  readonly s: DashboardState;

  constructor(o: DashboardStatsOptions, state?: DashboardState) {
    for (const [k, v] of Object.entries({ dSae: o.dSae, topK: o.topK, reservoir: o.reservoir })) if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`DashboardStats: ${k} must be a positive integer (got ${v})`);
    if (!(Number.isInteger(o.window) && o.window >= 0)) throw new RangeError(`DashboardStats: window must be a non-negative integer (got ${o.window})`);
    this.dSae = o.dSae;
    this.topK = o.topK;
    this.window = o.window;
    this.reservoir = o.reservoir;
    this.seed = o.seed;
    this.ctx = 2 * o.window + 1;
    const [D, K, R, C] = [o.dSae, o.topK, o.reservoir, this.ctx];
    this.s = state ?? {
      tokens: new Float64Array(1),
      fires: new Float64Array(D),
      sumAct: new Float64Array(D),
      maxAct: new Float32Array(D),
      hist: new Uint32Array(D * HIST_BINS),
      topCount: new Int32Array(D),
      topHeap: new Int32Array(D * K),
      topAct: new Float32Array(D * K),
      topTok: new Float64Array(D * K),
      topIds: new Int32Array(D * K * C),
      topActs: new Float32Array(D * K * C),
      resAct: new Float32Array(D * R),
      resTok: new Float64Array(D * R),
      resIds: new Int32Array(D * R * C),
      resActs: new Float32Array(D * R * C),
    };
    const want: Record<keyof DashboardState, number> = {
      tokens: 1, fires: D, sumAct: D, maxAct: D, hist: D * HIST_BINS, topCount: D, topHeap: D * K, topAct: D * K, topTok: D * K,
      topIds: D * K * C, topActs: D * K * C, resAct: D * R, resTok: D * R, resIds: D * R * C, resActs: D * R * C,
    };
    for (const [k, n] of Object.entries(want)) {
      const a = this.s[k as keyof DashboardState];
      if (!a || a.length !== n) throw new RangeError(`DashboardStats: state array ${k} has ${a?.length} elements, expected ${n}`);
    }
  }

  /** Tokens counted so far. */
  get tokens(): number {
    return this.s.tokens[0]!;
  }

  /**
   * Add a batch of windows. `f` [rows·T, dSae] are the feature activations of every position of
   * `rows` windows of T tokens (`ids` [rows·T]); positions with `exclude[p]` set (BOS and other
   * special tokens) are not counted but still show as context. `firstToken` is the global index
   * of the batch's first position.
   */
  add(f: Float32Array, ids: Int32Array, exclude: Uint8Array, T: number, firstToken: number): void {
    const D = this.dSae;
    const n = ids.length;
    if (f.length !== n * D) throw new RangeError(`DashboardStats.add: ${f.length} activations for ${n} tokens × ${D} features`);
    if (n % T !== 0) throw new RangeError(`DashboardStats.add: ${n} tokens is not whole windows of ${T}`);
    const st = this.s;
    let counted = 0;
    for (let p = 0; p < n; p++) {
      if (exclude[p]) continue;
      counted++;
      const tok = firstToken + p;
      const row = p * D;
      for (let i = 0; i < D; i++) {
        const a = f[row + i]!;
        if (!(a > 0)) continue;
        const nFires = ++st.fires[i];
        st.sumAct[i] += a;
        if (a > st.maxAct[i]!) st.maxAct[i] = a;
        st.hist[i * HIST_BINS + histBin(a)]++;
        this.offerTop(i, a, tok, f, ids, p, T);
        this.offerReservoir(i, a, tok, nFires, f, ids, p, T);
      }
    }
    st.tokens[0] += counted;
  }

  /** Copy the context of position p (feature i) into slot `slot` of (ids, acts) arrays with C per slot. */
  private copyContext(slot: number, idsOut: Int32Array, actsOut: Float32Array, i: number, f: Float32Array, ids: Int32Array, p: number, T: number): void {
    const W = this.window;
    const D = this.dSae;
    const base = slot * this.ctx;
    const w0 = p - (p % T); // the window's first position
    for (let c = 0; c < this.ctx; c++) {
      const q = p - W + c;
      if (q < w0 || q >= w0 + T) {
        idsOut[base + c] = -1;
        actsOut[base + c] = 0;
      } else {
        idsOut[base + c] = ids[q]!;
        const v = f[q * D + i]!;
        actsOut[base + c] = v > 0 ? v : 0;
      }
    }
  }

  /** Whether slot a ranks below slot b (the heap's order): smaller activation, or equal and later token. */
  private below(a: number, b: number): boolean {
    const st = this.s;
    const x = st.topAct[a]!;
    const y = st.topAct[b]!;
    return x < y || (x === y && st.topTok[a]! > st.topTok[b]!);
  }

  private offerTop(i: number, a: number, tok: number, f: Float32Array, ids: Int32Array, p: number, T: number): void {
    const st = this.s;
    const K = this.topK;
    const h0 = i * K;
    const n = st.topCount[i]!;
    let slot: number;
    if (n < K) {
      // Fill: the new slot goes to the end of the heap and sifts up.
      slot = h0 + n;
      st.topCount[i] = n + 1;
      st.topAct[slot] = a;
      st.topTok[slot] = tok;
      this.copyContext(slot, st.topIds, st.topActs, i, f, ids, p, T);
      let c = n;
      st.topHeap[h0 + c] = slot;
      while (c > 0) {
        const parent = (c - 1) >> 1;
        const ps = st.topHeap[h0 + parent]!;
        if (!this.below(slot, ps)) break;
        st.topHeap[h0 + c] = ps;
        st.topHeap[h0 + parent] = slot;
        c = parent;
      }
      return;
    }
    slot = st.topHeap[h0]!;
    if (!(a > st.topAct[slot]!)) return; // ties keep the earlier token
    st.topAct[slot] = a;
    st.topTok[slot] = tok;
    this.copyContext(slot, st.topIds, st.topActs, i, f, ids, p, T);
    // Sift the root down.
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= K) break;
      const r = l + 1;
      let m = l;
      if (r < K && this.below(st.topHeap[h0 + r]!, st.topHeap[h0 + l]!)) m = r;
      const ms = st.topHeap[h0 + m]!;
      if (!this.below(ms, slot)) break;
      st.topHeap[h0 + c] = ms;
      st.topHeap[h0 + m] = slot;
      c = m;
    }
  }

  private offerReservoir(i: number, a: number, tok: number, nFires: number, f: Float32Array, ids: Int32Array, p: number, T: number): void {
    const R = this.reservoir;
    let j: number;
    if (nFires <= R) j = nFires - 1;
    else {
      // Algorithm R: keep the n-th firing with probability R/n, in a uniformly chosen slot.
      j = hash3(this.seed, tok, i) % nFires;
      if (j >= R) return;
    }
    const slot = i * R + j;
    const st = this.s;
    st.resAct[slot] = a;
    st.resTok[slot] = tok;
    this.copyContext(slot, st.resIds, st.resActs, i, f, ids, p, T);
  }

  private example(slot: number, act: Float32Array, tokArr: Float64Array, idsArr: Int32Array, actsArr: Float32Array): FeatureExample {
    const C = this.ctx;
    return { token: tokArr[slot]!, act: act[slot]!, ids: idsArr.slice(slot * C, (slot + 1) * C), acts: actsArr.slice(slot * C, (slot + 1) * C) };
  }

  /** What was gathered about feature i. */
  summary(i: number): FeatureSummary {
    const st = this.s;
    const fires = st.fires[i]!;
    const tokens = this.tokens;
    const top: FeatureExample[] = [];
    for (let k = 0; k < st.topCount[i]!; k++) top.push(this.example(i * this.topK + k, st.topAct, st.topTok, st.topIds, st.topActs));
    top.sort((x, y) => y.act - x.act || x.token - y.token);
    const samples: FeatureExample[] = [];
    for (let k = 0; k < Math.min(fires, this.reservoir); k++) samples.push(this.example(i * this.reservoir + k, st.resAct, st.resTok, st.resIds, st.resActs));
    samples.sort((x, y) => x.act - y.act || x.token - y.token);
    return {
      fires, tokens, density: tokens > 0 ? fires / tokens : 0, maxAct: st.maxAct[i]!, meanAct: fires > 0 ? st.sumAct[i]! / fires : 0,
      hist: st.hist.slice(i * HIST_BINS, (i + 1) * HIST_BINS), top, samples,
    };
  }
}

/**
 * Quantile samples: the reservoir (weakest first) cut into `groups` equal-rank groups, the weakest
 * group first, with up to `perGroup` examples evenly spaced inside each.
 */
export function quantileGroups(samples: readonly FeatureExample[], groups: number, perGroup: number): { from: number; to: number; examples: FeatureExample[] }[] {
  const out: { from: number; to: number; examples: FeatureExample[] }[] = [];
  const n = samples.length;
  if (n === 0) return out;
  const g = Math.min(groups, n);
  for (let q = 0; q < g; q++) {
    const lo = Math.floor((q * n) / g);
    const hi = Math.floor(((q + 1) * n) / g); // exclusive
    const m = hi - lo;
    const take = Math.min(perGroup, m);
    const examples: FeatureExample[] = [];
    for (let t = 0; t < take; t++) examples.push(samples[lo + Math.floor(((t + 0.5) * m) / take)]!);
    out.push({ from: samples[lo]!.act, to: samples[hi - 1]!.act, examples });
  }
  return out;
}
