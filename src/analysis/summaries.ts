// Mean and quantiles of a set of per-feature numbers (max cosines, matched cosines), as reported.

/** Count, mean and quantiles (linear interpolation between order statistics, as numpy's default). */
export interface DistributionSummary {
  count: number;
  mean: number;
  min: number;
  p10: number;
  p25: number;
  median: number;
  p75: number;
  p90: number;
  max: number;
}

/** The q-quantile (0 ≤ q ≤ 1) of ascending `sorted`, interpolating linearly; NaN when empty. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Summary of the finite values of `values` (non-finite ones are left out of every statistic). */
export function distributionSummary(values: ArrayLike<number>): DistributionSummary {
  const xs: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) xs.push(values[i]!);
  const sorted = Float64Array.from(xs).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const q = (p: number) => quantileSorted(sorted, p);
  return { count: sorted.length, mean: sorted.length ? sum / sorted.length : NaN, min: q(0), p10: q(0.1), p25: q(0.25), median: q(0.5), p75: q(0.75), p90: q(0.9), max: q(1) };
}
