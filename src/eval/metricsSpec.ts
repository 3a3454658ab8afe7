// The metrics of docs/metrics.md as accumulators over batches (host arrays, float64 sums), one
// class per family. Each `add` takes one batch and a keep mask (1 = an evaluated token: not BOS,
// not padding); `result()` returns numbers under their spec names. These are the definitions the
// docs state and the tests check by hand: keep them plain.
//
//   ReconstructionAccumulator  l0, mse, mse_per_element, fvu, explained_variance, cosine, l2_ratio
//   FiringAccumulator          alive_fraction, dead_count, dense_count, log10 firing frequencies
//   LmLossAccumulator          ce_*, kl_*, ce_loss_recovered, kl_score, per-position CE increase
//   RewardAccumulator          reward_*, pair_diff_* (reward models)

/** Cosine and L2-ratio denominators below this count as zero (a zero vector has no direction). */
export const NORM_EPS = 1e-12;

/** Default "dense" firing frequency: a latent firing on more than 10% of tokens. */
export const DENSE_THRESHOLD = 0.1;

/** Reconstruction metrics (see docs/metrics.md), in the model's activation units. */
export interface ReconstructionMetrics {
  /** Tokens evaluated. */
  tokens: number;
  l0: number;
  mse: number;
  mse_per_element: number;
  fvu: number;
  explained_variance: number;
  cosine: number;
  l2_ratio: number;
}

/**
 * l0, mse, fvu, cosine, l2_ratio over the kept tokens of batches x, x̂ [n, dIn] and latents f [n, dSae].
 * The FVU denominator Σ_t ‖x_t − x̄‖² is accumulated per dimension with Chan et al.'s parallel
 * update (each batch's mean and centred sum of squares in two passes over the batch, merged in
 * float64), so it never subtracts two large sums (Σ x² − N x̄²).
 */
export class ReconstructionAccumulator {
  private n = 0;
  private l0 = 0;
  private sqErr = 0;
  private cos = 0;
  private ratio = 0;
  private readonly mean: Float64Array; // per-dimension running mean of x
  private readonly m2: Float64Array; // per-dimension Σ (x − mean)²

  constructor(readonly dIn: number) {
    this.mean = new Float64Array(dIn);
    this.m2 = new Float64Array(dIn);
  }

  /** Add a batch: x, xHat [rows, dIn], f [rows, dSae], keep [rows] (1 = evaluated). */
  add(x: ArrayLike<number>, xHat: ArrayLike<number>, f: ArrayLike<number>, dSae: number, keep: ArrayLike<number>): void {
    const d = this.dIn;
    const rows = keep.length;
    if (x.length !== rows * d || xHat.length !== rows * d || f.length !== rows * dSae) throw new RangeError(`ReconstructionAccumulator.add: shapes x ${x.length}, x̂ ${xHat.length}, f ${f.length} do not fit ${rows} rows of d_in ${d}, d_sae ${dSae}`);
    const bMean = new Float64Array(d);
    let nb = 0;
    for (let t = 0; t < rows; t++) {
      if (!keep[t]) continue;
      nb++;
      let se = 0;
      let dot = 0;
      let xx = 0;
      let hh = 0;
      for (let j = 0; j < d; j++) {
        const a = x[t * d + j]!;
        const b = xHat[t * d + j]!;
        se += (b - a) * (b - a);
        dot += a * b;
        xx += a * a;
        hh += b * b;
        bMean[j] += a;
      }
      this.sqErr += se;
      const nx = Math.sqrt(xx);
      const nh = Math.sqrt(hh);
      this.cos += nx * nh > NORM_EPS ? dot / (nx * nh) : 0;
      this.ratio += nh / Math.max(nx, NORM_EPS);
      let active = 0;
      for (let i = 0; i < dSae; i++) if (f[t * dSae + i]! > 0) active++;
      this.l0 += active;
    }
    if (nb === 0) return;
    for (let j = 0; j < d; j++) bMean[j]! /= nb;
    const bM2 = new Float64Array(d);
    for (let t = 0; t < rows; t++) {
      if (!keep[t]) continue;
      for (let j = 0; j < d; j++) {
        const c = x[t * d + j]! - bMean[j]!;
        bM2[j] += c * c;
      }
    }
    // Chan's merge of (n, mean, M2) with (nb, bMean, bM2).
    const total = this.n + nb;
    for (let j = 0; j < d; j++) {
      const delta = bMean[j]! - this.mean[j]!;
      this.mean[j]! += (delta * nb) / total;
      this.m2[j]! += bM2[j]! + (delta * delta * this.n * nb) / total;
    }
    this.n = total;
  }

  /** Tokens added so far. */
  get tokens(): number {
    return this.n;
  }

  /** The metrics (NaN everywhere for zero tokens; fvu NaN when every x is the same). */
  result(): ReconstructionMetrics {
    const n = this.n;
    let variance = 0;
    for (let j = 0; j < this.dIn; j++) variance += this.m2[j]!;
    const fvu = variance > 0 ? this.sqErr / variance : NaN;
    return {
      tokens: n,
      l0: this.l0 / n,
      mse: this.sqErr / n,
      mse_per_element: this.sqErr / (n * this.dIn),
      fvu,
      explained_variance: 1 - fvu,
      cosine: this.cos / n,
      l2_ratio: this.ratio / n,
    };
  }
}

/** Latent firing statistics over N evaluated tokens. */
export interface FiringMetrics {
  tokens: number;
  alive_fraction: number;
  dead_count: number;
  dense_count: number;
  /** The threshold `dense_count` used. */
  dense_threshold: number;
}

/** Counts, per latent, the evaluated tokens on which it fired (f_i > 0). */
export class FiringAccumulator {
  private n = 0;
  readonly counts: Float64Array;

  constructor(readonly dSae: number, readonly denseThreshold = DENSE_THRESHOLD) {
    this.counts = new Float64Array(dSae);
  }

  /** Add a batch of latents f [rows, dSae] with keep [rows]. */
  add(f: ArrayLike<number>, keep: ArrayLike<number>): void {
    const m = this.dSae;
    if (f.length !== keep.length * m) throw new RangeError(`FiringAccumulator.add: f has ${f.length} values, expected ${keep.length} rows × ${m}`);
    for (let t = 0; t < keep.length; t++) {
      if (!keep[t]) continue;
      this.n++;
      for (let i = 0; i < m; i++) if (f[t * m + i]! > 0) this.counts[i]!++;
    }
  }

  /** Firing frequency of each latent, count / N. */
  frequencies(): Float64Array {
    return Float64Array.from(this.counts, (c) => c / this.n);
  }

  /** log10 frequency of the latents that fired at least once (dead latents, log10 0 = −∞, are counted by dead_count instead). */
  log10AliveFrequencies(): number[] {
    const out: number[] = [];
    for (const c of this.counts) if (c > 0) out.push(Math.log10(c / this.n));
    return out;
  }

  /** The metrics. */
  result(): FiringMetrics {
    let alive = 0;
    let dense = 0;
    for (const c of this.counts) {
      if (c > 0) alive++;
      if (c / this.n > this.denseThreshold) dense++;
    }
    return { tokens: this.n, alive_fraction: alive / this.dSae, dead_count: this.dSae - alive, dense_count: dense, dense_threshold: this.denseThreshold };
  }
}

/** Language-model metrics (nats per token). */
export interface LmLossMetrics {
  /** Positions averaged over for CE (evaluated positions with a next token). */
  ce_tokens: number;
  /** Positions averaged over for KL (evaluated positions). */
  kl_tokens: number;
  ce_clean: number;
  ce_sae: number;
  ce_zero_ablation: number;
  ce_mean_ablation: number;
  ce_loss_recovered: number;
  ce_loss_recovered_mean_ablation: number;
  ce_increase: number;
  kl_sae: number;
  kl_zero_ablation: number;
  kl_mean_ablation: number;
  kl_score: number;
}

/** Per-position values of one batch of windows [rows, T]; CE at t is the loss of predicting token t+1 (0 at t = T−1). */
export interface LmBatchLosses {
  T: number;
  keep: ArrayLike<number>;
  ceClean: ArrayLike<number>;
  ceSae: ArrayLike<number>;
  ceZero: ArrayLike<number>;
  ceMean: ArrayLike<number>;
  klSae: ArrayLike<number>;
  klZero: ArrayLike<number>;
  klMean: ArrayLike<number>;
}

/**
 * CE and KL means and the recovered fractions. CE counts position t when t is evaluated and t < T−1
 * (it has a target); KL counts every evaluated position. Also the per-position mean of
 * ce_sae − ce_clean (for the "CE increase per position" plot).
 */
export class LmLossAccumulator {
  private nCe = 0;
  private nKl = 0;
  private s = { clean: 0, sae: 0, zero: 0, mean: 0, klSae: 0, klZero: 0, klMean: 0 };
  private posSum: Float64Array = new Float64Array(0);
  private posCount: Float64Array = new Float64Array(0);

  /** Add one batch. */
  add(b: LmBatchLosses): void {
    const T = b.T;
    const n = b.keep.length;
    if (n % T !== 0) throw new RangeError(`LmLossAccumulator.add: ${n} positions are not whole windows of ${T}`);
    for (const k of ['ceClean', 'ceSae', 'ceZero', 'ceMean', 'klSae', 'klZero', 'klMean'] as const) {
      if (b[k].length !== n) throw new RangeError(`LmLossAccumulator.add: ${k} has ${b[k].length} values, expected ${n}`);
    }
    if (this.posSum.length < T) {
      const grow = (a: Float64Array) => {
        const g = new Float64Array(T);
        g.set(a);
        return g;
      };
      this.posSum = grow(this.posSum);
      this.posCount = grow(this.posCount);
    }
    for (let i = 0; i < n; i++) {
      if (!b.keep[i]) continue;
      const t = i % T;
      this.nKl++;
      this.s.klSae += b.klSae[i]!;
      this.s.klZero += b.klZero[i]!;
      this.s.klMean += b.klMean[i]!;
      if (t === T - 1) continue;
      this.nCe++;
      this.s.clean += b.ceClean[i]!;
      this.s.sae += b.ceSae[i]!;
      this.s.zero += b.ceZero[i]!;
      this.s.mean += b.ceMean[i]!;
      this.posSum[t]! += b.ceSae[i]! - b.ceClean[i]!;
      this.posCount[t]!++;
    }
  }

  /** Mean CE increase (ce_sae − ce_clean) at each position t, NaN where no window counted t. */
  ceIncreaseByPosition(): number[] {
    return Array.from(this.posSum, (s, t) => (this.posCount[t]! > 0 ? s / this.posCount[t]! : NaN));
  }

  /** The metrics. */
  result(): LmLossMetrics {
    const c = this.nCe;
    const k = this.nKl;
    const clean = this.s.clean / c;
    const sae = this.s.sae / c;
    const zero = this.s.zero / c;
    const mean = this.s.mean / c;
    const klSae = this.s.klSae / k;
    const klZero = this.s.klZero / k;
    return {
      ce_tokens: c,
      kl_tokens: k,
      ce_clean: clean,
      ce_sae: sae,
      ce_zero_ablation: zero,
      ce_mean_ablation: mean,
      ce_loss_recovered: (zero - sae) / (zero - clean),
      ce_loss_recovered_mean_ablation: (mean - sae) / (mean - clean),
      ce_increase: sae - clean,
      kl_sae: klSae,
      kl_zero_ablation: klZero,
      kl_mean_ablation: this.s.klMean / k,
      kl_score: (klZero - klSae) / klZero,
    };
  }
}

/** Reward-model metrics (reward units; pairs only when the data is preference pairs). */
export interface RewardMetrics {
  sequences: number;
  reward_clean: number;
  reward_sae: number;
  reward_abs_delta: number;
  pairs: number;
  pair_diff_clean?: number;
  pair_diff_sae?: number;
  pair_diff_change?: number;
  pair_accuracy_clean?: number;
  pair_accuracy_sae?: number;
}

/** Rewards of sequences with the SAE spliced in vs clean; with pairs, the chosen − rejected difference. */
export class RewardAccumulator {
  private n = 0;
  private sClean = 0;
  private sSae = 0;
  private sAbs = 0;
  private pairs = 0;
  private dClean = 0;
  private dSae = 0;
  private accClean = 0;
  private accSae = 0;

  /** Add sequences' rewards (clean and spliced, same order). */
  addSequences(clean: ArrayLike<number>, sae: ArrayLike<number>): void {
    if (clean.length !== sae.length) throw new RangeError('RewardAccumulator.addSequences: clean and spliced rewards differ in length');
    for (let i = 0; i < clean.length; i++) {
      this.n++;
      this.sClean += clean[i]!;
      this.sSae += sae[i]!;
      this.sAbs += Math.abs(sae[i]! - clean[i]!);
    }
  }

  /** Add one preference pair: rewards of chosen and rejected, clean and spliced. */
  addPair(chosenClean: number, rejectedClean: number, chosenSae: number, rejectedSae: number): void {
    this.pairs++;
    this.dClean += chosenClean - rejectedClean;
    this.dSae += chosenSae - rejectedSae;
    if (chosenClean > rejectedClean) this.accClean++;
    if (chosenSae > rejectedSae) this.accSae++;
  }

  /** The metrics. */
  result(): RewardMetrics {
    const r: RewardMetrics = { sequences: this.n, reward_clean: this.sClean / this.n, reward_sae: this.sSae / this.n, reward_abs_delta: this.sAbs / this.n, pairs: this.pairs };
    if (this.pairs > 0) {
      r.pair_diff_clean = this.dClean / this.pairs;
      r.pair_diff_sae = this.dSae / this.pairs;
      r.pair_diff_change = (this.dSae - this.dClean) / this.pairs;
      r.pair_accuracy_clean = this.accClean / this.pairs;
      r.pair_accuracy_sae = this.accSae / this.pairs;
    }
    return r;
  }
}
