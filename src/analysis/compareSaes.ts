// `saelab compare` as a library function: did two (or more) SAEs learn the same features?
// For each pair and each kind of direction (decoder rows, encoder columns, or feature activations
// on the same tokens): the max cosine both ways, and the exact one-to-one matching (certified; see
// matchDirections.ts). With --alive-only, features that never fired on the evaluation tokens are
// dropped first. Three or more SAEs give every pair.

import { cpu } from '../compute/cpu/cpuDevice.js';
import type { Device } from '../compute/device.js';
import { saeDatasetPath, saeModelSpec } from '../sae/runSource.js';
import { loadSae, type LoadedSae } from '../sae/saeFiles.js';
import { featureActivations, harvestEvalActivations, type FeatureActivations } from './featureCorrelation.js';
import { matchDirectionsOn, type MatchCertificate, type MatchOptions } from './matchDirections.js';
import { distributionSummary, type DistributionSummary } from './summaries.js';

/** Bad input for a comparison. Named 'UsageError' so the CLI prints its one line and exits 2 (analysis does not import cli/). */
export class CompareError extends Error {
  override name = 'UsageError';
}

export type CompareBy = 'decoder' | 'encoder' | 'activations';
export const COMPARE_BY: readonly CompareBy[] = ['decoder', 'encoder', 'activations'];

/** Where the evaluation tokens come from; absent fields default to each SAE's cfg.json metadata. */
export interface CompareEvalOptions {
  model?: string;
  data?: string;
  /** Tokens N (default 2048). */
  tokens?: number;
  /** Stream tokens of the data to skip first (held-out text; default 0). */
  skipTokens?: number;
  contextSize?: number;
}

export interface CompareOptions {
  /** SAE folders (two or more). */
  saes: string[];
  /** Kinds of comparison, each run for every pair (default decoder). */
  by?: CompareBy[];
  /** Drop features that never fired on the evaluation tokens. */
  aliveOnly?: boolean;
  /** Compare SAEs from different hooks/models (different d_in still cannot be compared by direction). */
  force?: boolean;
  /** Runs the model forward for evaluation tokens and the matching's candidate pass (the rest is on the CPU). */
  device: Device;
  eval?: CompareEvalOptions;
  match?: MatchOptions;
}

/** One SAE as the report describes it. */
export interface CompareSaeInfo {
  path: string;
  label: string;
  architecture: string;
  dIn: number;
  dSae: number;
  k: number | null;
  seed: number | null;
  model: string | null;
  hook: string | null;
  /** Features that fired at least once on the evaluation tokens (when they were run). */
  alive: number | null;
  /** Features with zero variance over the tokens (never fired, or constant). */
  constant: number | null;
}

/** One pair compared one way. */
export interface PairComparison {
  a: number;
  b: number;
  by: CompareBy;
  /** Features compared on each side (after --alive-only). */
  nA: number;
  nB: number;
  /** Features dropped by --alive-only on each side. */
  droppedA: number;
  droppedB: number;
  /** Per A feature, its best cosine over B (and the other way). */
  maxAtoB: DistributionSummary;
  maxBtoA: DistributionSummary;
  /** The per-feature values behind those summaries: [nA] and [nB], in kept-feature order. */
  values: { maxAtoB: Float32Array; maxBtoA: Float32Array };
  /** B features that are the best match of two or more A features, and of none (and vice versa). */
  sharedBest: { bOfSeveralA: number; bOfNoA: number; aOfSeveralB: number; aOfNoB: number };
  /** One line on why the two directions of the max differ. */
  asymmetry: string;
  matching: {
    meanMatchedCos: number;
    totalCos: number;
    fractionAbove: { '0.5': number; '0.7': number; '0.9': number };
    matchedCos: DistributionSummary;
    certificate: MatchCertificate;
    /** [pairs] original feature indices a, b and their cosine, in A order. */
    pairs: { a: Int32Array; b: Int32Array; cos: Float32Array };
  };
  seconds: { candidates: number; solve: number; certify: number };
}

export interface CompareResult {
  saes: CompareSaeInfo[];
  by: CompareBy[];
  aliveOnly: boolean;
  forced: string[];
  evalTokens: { model: string; data: string; hooks: string[]; tokens: number; skipTokens: number; contextSize: number } | null;
  pairs: PairComparison[];
}

/** A short name for an SAE folder: its last path component. */
function labelOf(path: string): string {
  const parts = path.replace(/\/+$/, '').split('/');
  return parts[parts.length - 1] || path;
}

/** [dSae, dIn] feature directions: decoder rows, or encoder columns transposed. */
function directions(sae: LoadedSae, by: 'decoder' | 'encoder'): Float32Array {
  const { dIn, dSae } = sae.cfg;
  if (by === 'decoder') return sae.params.W_dec.data as Float32Array;
  const we = sae.params.W_enc.data as Float32Array; // [dIn, dSae]
  const out = new Float32Array(dSae * dIn);
  for (let r = 0; r < dIn; r++) for (let j = 0; j < dSae; j++) out[j * dIn + r] = we[r * dSae + j]!;
  return out;
}

/** Rows `keep` of x [rows, d] (all when keep is null). */
function selectRows(x: Float32Array, d: number, keep: Int32Array | null): Float32Array {
  if (!keep) return x;
  const out = new Float32Array(keep.length * d);
  for (let t = 0; t < keep.length; t++) out.set(x.subarray(keep[t]! * d, (keep[t]! + 1) * d), t * d);
  return out;
}

/** Check the SAEs can be compared; returns the reasons overridden by --force. */
function validate(paths: string[], saes: LoadedSae[], by: CompareBy[], force: boolean): string[] {
  const forced: string[] = [];
  saes.forEach((s, i) => {
    // Non-finite weights never get here: loadSae refuses them, naming the tensor and entry.
    if (s.cfg.dSae < 1) throw new CompareError(`${paths[i]}: the SAE is empty (d_sae = 0): nothing to compare`);
  });
  const a = saes[0]!;
  for (let i = 1; i < saes.length; i++) {
    const s = saes[i]!;
    if (s.cfg.dIn !== a.cfg.dIn) {
      const why = `${paths[0]} has d_in ${a.cfg.dIn} but ${paths[i]} has d_in ${s.cfg.dIn}`;
      if (!force || by.some((b) => b !== 'activations')) {
        throw new CompareError(`${why}: their directions live in different spaces${force ? ' (only --by activations can compare them)' : '; pass --force --by activations to compare them by activations'}`);
      }
      forced.push(why);
    }
    for (const key of ['model_name', 'hook_name'] as const) {
      const x = a.metadata[key] ?? null;
      const y = s.metadata[key] ?? null;
      if (x !== null && y !== null && x !== y) {
        const why = `${paths[0]} was trained on ${key === 'hook_name' ? 'hook' : 'model'} ${x} but ${paths[i]} on ${y}`;
        if (!force) throw new CompareError(`${why}: features of different activations are not comparable (pass --force to compare anyway)`);
        forced.push(why);
      }
    }
  }
  return forced;
}

/** The evaluation-token settings shared by every SAE (defaults from the first SAE's metadata). */
function evalSpec(paths: string[], saes: LoadedSae[], o: CompareEvalOptions) {
  const meta = saes[0]!.metadata;
  const model = o.model ?? saeModelSpec(meta) ?? (typeof meta.model_name === 'string' ? meta.model_name : null);
  const data = o.data ?? saeDatasetPath(meta) ?? (typeof meta.dataset_path === 'string' ? meta.dataset_path : null);
  if (!model) throw new CompareError(`${paths[0]}: cfg.json metadata has no model_name: pass --model for the evaluation tokens`);
  if (!data) throw new CompareError(`${paths[0]}: cfg.json metadata has no dataset_path: pass --data for the evaluation tokens`);
  const hooks = saes.map((s, i) => {
    const h = s.metadata.hook_name;
    if (typeof h !== 'string') throw new CompareError(`${paths[i]}: cfg.json metadata has no hook_name: cannot tell which activations it encodes`);
    return h;
  });
  const contextSize = o.contextSize ?? (typeof meta.context_size === 'number' ? meta.context_size : 128);
  return { model, data, hooks, tokens: o.tokens ?? 2048, skipTokens: o.skipTokens ?? 0, contextSize };
}

/** Indices of features to keep (those that fired at least once) or null for all. A feature firing with the same value on every token stays; its centred activations are 0, so it correlates 0 with everything. */
function keptFeatures(acts: FeatureActivations | undefined, aliveOnly: boolean): Int32Array | null {
  if (!aliveOnly || !acts) return null;
  const keep: number[] = [];
  for (let j = 0; j < acts.dSae; j++) if (acts.firedCount[j]! > 0) keep.push(j);
  return Int32Array.from(keep);
}

/** How many entries of `arg` (values in [0, count)) hit each target twice or more, and how many targets none. */
function sharing(arg: Int32Array, count: number): { several: number; none: number } {
  const hits = new Uint32Array(count);
  for (const j of arg) if (j >= 0) hits[j]!++;
  let several = 0;
  let none = 0;
  for (const h of hits) {
    if (h >= 2) several++;
    if (h === 0) none++;
  }
  return { several, none };
}

/** One line explaining why mean max A→B and B→A differ, from the counts of shared best matches. */
function asymmetryLine(la: string, lb: string, mAB: number, mBA: number, s: PairComparison['sharedBest'], nA: number, nB: number): string {
  const verdict = Math.abs(mAB - mBA) < 0.005 ? 'here the two sides nearly balance' : `${mAB > mBA ? `${la}→${lb}` : `${lb}→${la}`} comes out higher`;
  return (
    `mean max ${la}→${lb} ${mAB.toFixed(3)} vs ${lb}→${la} ${mBA.toFixed(3)}: a max lets one partner serve many features — ` +
    `${s.bOfSeveralA} of ${nB} ${lb} features are the best match of 2+ ${la} features (${s.bOfNoA} of none), ` +
    `${s.aOfSeveralB} of ${nA} ${la} features the best of 2+ ${lb} features (${s.aOfNoB} of none); ${verdict}. ` +
    `The one-to-one matching counts each feature once`
  );
}

/** Compare one pair one way on direction rows XA [nA, d], XB [nB, d] (keepA/keepB map rows back to feature ids). */
async function comparePair(a: number, b: number, by: CompareBy, labels: string[], XA: Float32Array, nA: number, XB: Float32Array, nB: number, d: number, keepA: Int32Array | null, keepB: Int32Array | null, dropped: [number, number], o: CompareOptions): Promise<PairComparison> {
  const r = await matchDirectionsOn(o.device, XA, nA, XB, nB, d, o.match);
  const sA = sharing(r.rowArg, nB);
  const sB = sharing(r.colArg, nA);
  const sharedBest = { bOfSeveralA: sA.several, bOfNoA: sA.none, aOfSeveralB: sB.several, aOfNoB: sB.none };
  const maxAtoB = distributionSummary(r.rowMax);
  const maxBtoA = distributionSummary(r.colMax);
  const pa: number[] = [];
  const pb: number[] = [];
  const pc: number[] = [];
  let above5 = 0;
  let above7 = 0;
  let above9 = 0;
  for (let i = 0; i < nA; i++) {
    const j = r.aToB[i]!;
    if (j < 0) continue;
    const c = r.matchedCos[i]!;
    pa.push(keepA ? keepA[i]! : i);
    pb.push(keepB ? keepB[j]! : j);
    pc.push(c);
    if (c > 0.5) above5++;
    if (c > 0.7) above7++;
    if (c > 0.9) above9++;
  }
  const np = Math.max(1, pc.length);
  return {
    a, b, by, nA, nB, droppedA: dropped[0], droppedB: dropped[1], maxAtoB, maxBtoA, values: { maxAtoB: r.rowMax, maxBtoA: r.colMax }, sharedBest,
    asymmetry: asymmetryLine(labels[a]!, labels[b]!, maxAtoB.mean, maxBtoA.mean, sharedBest, nA, nB),
    matching: {
      meanMatchedCos: r.totalCos / np, totalCos: r.totalCos,
      fractionAbove: { '0.5': above5 / np, '0.7': above7 / np, '0.9': above9 / np },
      matchedCos: distributionSummary(pc),
      certificate: r.certificate,
      pairs: { a: Int32Array.from(pa), b: Int32Array.from(pb), cos: Float32Array.from(pc) },
    },
    seconds: r.seconds,
  };
}

/** Compare SAEs pairwise by decoder/encoder directions and/or activations (see the file comment). */
export async function compareSaes(o: CompareOptions, note: (line: string) => void = () => {}): Promise<CompareResult> {
  if (o.saes.length < 2) throw new CompareError(`compare needs at least two SAE folders (got ${o.saes.length})`);
  const by = o.by && o.by.length > 0 ? [...new Set(o.by)] : (['decoder'] as CompareBy[]);
  const saes: LoadedSae[] = [];
  // SAEs live on the CPU: the matching reads their weights as host arrays; only the model forward
  // for evaluation tokens uses `o.device`.
  for (const p of o.saes) saes.push(await loadSae(p, cpu));
  const forced = validate(o.saes, saes, by, o.force ?? false);
  const labels = o.saes.map(labelOf);
  // Disambiguate equal folder names (e.g. run1/topk-s0 vs run2/topk-s0) by their position.
  labels.forEach((l, i) => {
    if (labels.indexOf(l) !== i) labels[i] = `${l}#${i}`;
  });

  // Evaluation tokens only when something needs them.
  const needActs = by.includes('activations') || (o.aliveOnly ?? false);
  let acts: FeatureActivations[] | undefined;
  let evalTokens: CompareResult['evalTokens'] = null;
  if (needActs) {
    const spec = evalSpec(o.saes, saes, o.eval ?? {});
    acts = [];
    const harvested = new Map<string, { x: Float32Array; n: number }>();
    for (const h of new Set(spec.hooks)) {
      note(`harvesting ${spec.tokens} tokens of ${h} from ${spec.data}`);
      const r = await harvestEvalActivations({ model: spec.model, hook: h, data: spec.data, tokens: spec.tokens, skipTokens: spec.skipTokens, contextSize: spec.contextSize, device: o.device });
      if (r.n < 2) throw new CompareError(`${spec.data}: gave ${r.n} evaluation tokens; need at least 2 (more text or a smaller context size)`);
      harvested.set(h, r);
    }
    const ns = [...harvested.values()].map((r) => r.n);
    const n = Math.min(...ns);
    for (let i = 0; i < saes.length; i++) {
      const x = harvested.get(spec.hooks[i]!)!;
      acts.push(await featureActivations(saes[i]!, x.x, n, cpu, by.includes('activations')));
    }
    evalTokens = { model: spec.model, data: spec.data, hooks: [...new Set(spec.hooks)], tokens: n, skipTokens: spec.skipTokens, contextSize: spec.contextSize };
  }

  const keeps = saes.map((_, i) => keptFeatures(acts?.[i], o.aliveOnly ?? false));
  const pairs: PairComparison[] = [];
  for (const kind of by) {
    // Each SAE's rows for this kind, restricted to kept features: [features, d].
    const rows = saes.map((s, i) => {
      const keep = keeps[i]!;
      if (kind === 'activations') {
        const a = acts![i]!;
        return { x: selectRows(a.centred!, a.n, keep), n: keep ? keep.length : s.cfg.dSae, d: a.n };
      }
      return { x: selectRows(directions(s, kind), s.cfg.dIn, keep), n: keep ? keep.length : s.cfg.dSae, d: s.cfg.dIn };
    });
    for (let a = 0; a < saes.length; a++) {
      for (let b = a + 1; b < saes.length; b++) {
        const ra = rows[a]!;
        const rb = rows[b]!;
        if (ra.n === 0 || rb.n === 0) throw new CompareError(`${o.saes[ra.n === 0 ? a : b]}: no feature fired on the ${evalTokens?.tokens} evaluation tokens, so --alive-only leaves nothing to compare`);
        note(`${kind}: ${labels[a]} (${ra.n}) vs ${labels[b]} (${rb.n})`);
        const dropped: [number, number] = [saes[a]!.cfg.dSae - ra.n, saes[b]!.cfg.dSae - rb.n];
        pairs.push(await comparePair(a, b, kind, labels, ra.x, ra.n, rb.x, rb.n, ra.d, keeps[a]!, keeps[b]!, dropped, o));
      }
    }
  }

  const info: CompareSaeInfo[] = saes.map((s, i) => {
    const a = acts?.[i];
    let alive: number | null = null;
    let constant: number | null = null;
    if (a) {
      alive = 0;
      constant = 0;
      for (let j = 0; j < a.dSae; j++) {
        if (a.firedCount[j]! > 0) alive++;
        if (a.variance[j] === 0) constant++;
      }
    }
    return {
      path: o.saes[i]!, label: labels[i]!, architecture: s.cfg.architecture, dIn: s.cfg.dIn, dSae: s.cfg.dSae, k: s.cfg.k ?? null, seed: s.cfg.seed ?? null,
      model: typeof s.metadata.model_name === 'string' ? s.metadata.model_name : null, hook: typeof s.metadata.hook_name === 'string' ? s.metadata.hook_name : null,
      alive, constant,
    };
  });
  return { saes: info, by, aliveOnly: o.aliveOnly ?? false, forced, evalTokens, pairs };
}
