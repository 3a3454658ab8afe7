// The report of `saelab compare`: a JSON document (summaries, histograms, certificates), and per
// pair and kind an SVG histogram of max cosine each way and of matched cosine, plus the matching
// itself as CSV (a, b, cos: one line per matched pair, original feature indices).

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompareResult, PairComparison } from '../analysis/compareSaes.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { histogramBins, histogramSvg, type HistogramBin } from './svgPlot.js';

/** Histogram bins for cosines: 40 over [-1, 1]. */
const COS_BINS = { bins: 40, lo: -1, hi: 1 };

/** Cosines clamped to [-1, 1]: f32 rounding puts equal directions at 1.0000001, which must still land in the last bin. */
function cosBins(x: ArrayLike<number>): HistogramBin[] {
  return histogramBins(Float64Array.from(x, (v) => Math.max(-1, Math.min(1, v))), COS_BINS);
}

/** The JSON form of one pair: everything but the per-feature arrays, with histograms. */
export function pairJson(r: CompareResult, p: PairComparison, files?: Record<string, string>): Record<string, unknown> {
  const la = r.saes[p.a]!.label;
  const lb = r.saes[p.b]!.label;
  const hist = cosBins;
  return {
    a: la, b: lb, by: p.by, nA: p.nA, nB: p.nB, droppedA: p.droppedA, droppedB: p.droppedB,
    maxAtoB: { ...p.maxAtoB, histogram: hist(p.values.maxAtoB) },
    maxBtoA: { ...p.maxBtoA, histogram: hist(p.values.maxBtoA) },
    sharedBest: p.sharedBest,
    asymmetry: p.asymmetry,
    matching: {
      meanMatchedCos: p.matching.meanMatchedCos, totalCos: p.matching.totalCos, fractionAbove: p.matching.fractionAbove,
      matchedCos: { ...p.matching.matchedCos, histogram: hist(p.matching.pairs.cos) },
      certificate: p.matching.certificate,
      pairs: p.matching.pairs.a.length,
    },
    seconds: p.seconds,
    ...(files ? { files } : {}),
  };
}

/** The whole result as JSON (matchings are counted here; the CSV files hold them). */
export function compareJson(r: CompareResult, files?: Record<string, string>[]): Record<string, unknown> {
  return {
    saes: r.saes, by: r.by, aliveOnly: r.aliveOnly, forced: r.forced, evalTokens: r.evalTokens,
    pairs: r.pairs.map((p, i) => pairJson(r, p, files?.[i])),
  };
}

/** A file-name-safe form of a label. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** The matching as CSV: header `a,b,cos`, one line per matched pair. */
export function matchingCsv(p: PairComparison): string {
  const { a, b, cos } = p.matching.pairs;
  const lines = ['a,b,cos'];
  for (let t = 0; t < a.length; t++) lines.push(`${a[t]},${b[t]},${cos[t]!.toFixed(6)}`);
  return lines.join('\n') + '\n';
}

/** Write compare.json, the SVG histograms and the matching CSVs under `dir` (each file atomically); returns compare.json's path and each pair's file names. */
export async function writeCompareReport(r: CompareResult, dir: string): Promise<{ path: string; files: Record<string, string>[] }> {
  await mkdir(dir, { recursive: true });
  const files: Record<string, string>[] = [];
  for (const p of r.pairs) {
    const la = r.saes[p.a]!.label;
    const lb = r.saes[p.b]!.label;
    const stem = `${safe(la)}__${safe(lb)}.${p.by}`;
    const what = p.by === 'activations' ? 'max correlation' : `max ${p.by} cosine`;
    const f = {
      maxAtoB: `${stem}.max-a-to-b.svg`,
      maxBtoA: `${stem}.max-b-to-a.svg`,
      matched: `${stem}.matched.svg`,
      matching: `${stem}.matching.csv`,
    };
    await writeFileAtomic(join(dir, f.maxAtoB), histogramSvg({ title: `${la} → ${lb}: ${what} (mean ${p.maxAtoB.mean.toFixed(3)})`, xLabel: `each ${la} feature's ${what} over ${lb}`, yLabel: 'features', bins: cosBins(p.values.maxAtoB) }));
    await writeFileAtomic(join(dir, f.maxBtoA), histogramSvg({ title: `${lb} → ${la}: ${what} (mean ${p.maxBtoA.mean.toFixed(3)})`, xLabel: `each ${lb} feature's ${what} over ${la}`, yLabel: 'features', bins: cosBins(p.values.maxBtoA) }));
    await writeFileAtomic(join(dir, f.matched), histogramSvg({ title: `${la} ↔ ${lb}: one-to-one ${p.by} (mean ${p.matching.meanMatchedCos.toFixed(3)})`, xLabel: p.by === 'activations' ? 'correlation of matched pairs' : 'cosine of matched pairs', yLabel: 'pairs', bins: cosBins(p.matching.pairs.cos) }));
    await writeFileAtomic(join(dir, f.matching), matchingCsv(p));
    files.push(f);
  }
  const path = join(dir, 'compare.json');
  await writeFileAtomic(path, JSON.stringify(compareJson(r, files), null, 1) + '\n');
  return { path, files };
}
