// Export a dashboard in Neuronpedia's batch JSON format (the layout its upload takes, as SAEDashboard
// writes it): { model_id, layer, sae_set, features: [{ feature_index, pos_str, pos_values, neg_str,
// neg_values, frac_nonzero, freq_hist_data_bar_heights, freq_hist_data_bar_values,
// correlated_features_indices, activations: [{ bin_min, bin_max, bin_contains, tokens, values }],
// … }] }. Fields we do not compute (neuron alignment, correlated neurons, logit histograms,
// decoder weight distribution) are written as empty lists, which the format allows.
//
// Our histogram bins are log10-spaced; each bar's value is its bin's geometric centre. Top examples
// go in one activation group with bin_min −1 (SAEDashboard's marker for "top activations"); each
// quantile group follows with its activation range and bin_contains = its share of the firings.

import { resolve } from 'node:path';
import { DashboardDb, type ExampleJson } from '../io/dashboardDb.js';
import { writeFileAtomic } from '../io/atomicWrite.js';
import { openWorkspaceDb } from '../io/workspaceDb.js';
import { DashboardError } from './dashboardBuild.js';

export interface NeuronpediaOptions {
  db: string;
  dashboardId: number;
  /** Output file. */
  out: string;
  /** Neuronpedia model id (default: the model folder's name). */
  modelId?: string;
  /** sae_set (default "saelab-<dashboard id>"). */
  saeSet?: string;
}

const activation = (e: ExampleJson, binMin: number, binMax: number, contains: number) => ({ bin_min: binMin, bin_max: binMax, bin_contains: contains, tokens: e.tokens, values: e.acts });

/** The Neuronpedia batch object of a dashboard (see the file comment). */
export function neuronpediaBatch(dash: DashboardDb, dashboardId: number, o: { modelId?: string; saeSet?: string } = {}): Record<string, unknown> {
  const d = dash.getDashboard(dashboardId);
  if (!d) throw new DashboardError(`no dashboard ${dashboardId} in this workspace database`);
  const layer = /^blocks\.(\d+)\./.exec(d.hook);
  const features: Record<string, unknown>[] = [];
  const n = dash.featureCount(dashboardId);
  for (let off = 0; off < n; off += 1024) {
    for (const row of dash.listFeatures(dashboardId, { limit: 1024, offset: off })) {
      const f = dash.getFeature(dashboardId, row.feature)!.data;
      const groups = f.quantiles.length;
      const acts = [
        ...f.top.map((e) => activation(e, -1, f.top[0]?.act ?? 0, 0)),
        ...f.quantiles.flatMap((g) => g.examples.map((e) => activation(e, g.from, g.to, groups > 0 ? 1 / groups : 0))),
      ];
      const heights: number[] = [];
      const values: number[] = [];
      f.hist.forEach((c, i) => {
        if (c === 0) return;
        heights.push(c);
        values.push(10 ** (f.histLog10Min + (i + 0.5) * f.histLog10Step));
      });
      features.push({
        feature_index: row.feature,
        neuron_alignment_indices: [], neuron_alignment_values: [], neuron_alignment_l1: [],
        correlated_neurons_indices: [], correlated_neurons_l1: [], correlated_neurons_pearson: [],
        correlated_features_indices: f.neighbours.map((x) => x.feature), correlated_features_l1: [], correlated_features_pearson: [],
        neg_str: f.suppressed.map((x) => x.token), neg_values: f.suppressed.map((x) => x.value),
        pos_str: f.boosted.map((x) => x.token), pos_values: f.boosted.map((x) => x.value),
        frac_nonzero: row.density,
        freq_hist_data_bar_heights: heights, freq_hist_data_bar_values: values,
        logits_hist_data_bar_heights: [], logits_hist_data_bar_values: [],
        n_prompts_total: 0, n_tokens_in_prompt: Number(d.config.contextSize ?? 0), dataset: d.data,
        decoder_weights_dist: [],
        activations: acts,
      });
    }
  }
  const modelId = o.modelId ?? d.model.split(/[\\/]/).filter(Boolean).pop() ?? d.model;
  return { model_id: modelId, layer: layer ? Number(layer[1]) : 0, sae_set: o.saeSet ?? `saelab-${dashboardId}`, features };
}

/** Write a dashboard's Neuronpedia batch JSON to `out` (atomically); returns the absolute path. */
export async function exportNeuronpedia(o: NeuronpediaOptions): Promise<string> {
  const ws = openWorkspaceDb(resolve(o.db));
  try {
    const batch = neuronpediaBatch(new DashboardDb(ws), o.dashboardId, o);
    const out = resolve(o.out);
    await writeFileAtomic(out, JSON.stringify(batch));
    return out;
  } finally {
    ws.close();
  }
}
