// The reward pages (saelab attribute runs):
//   #/attributions       the runs
//   #/attributions/:id   a pair set: reward statistics per split, per SAE the ranked features (linked
//                        to their dashboards when the workspace has one for that SAE), flags, groups,
//                        the exact-vs-linear check, and a pair view with tokens shaded by their
//                        attribution to Δr (chosen tokens add to it, rejected tokens subtract);
//                        two completions: Δr and the features that differ (added / removed / changed),
//                        both completions shaded.
// Text goes in through textContent only (dom.ts): the pair data holds arbitrary text.

import type { AttributionReport } from '../../analysis/attributeRun.js';
import type { PairSetReport, PairView, TokenShading } from '../../analysis/rewardPairSet.js';
import type { TwoReport } from '../../analysis/rewardTwo.js';
import { getJson } from './api.js';
import { el, fmt, pct } from './dom.js';
import { visible } from './tokens.js';
import type { WorkspaceInfo } from './types.js';

/** Blue for a positive contribution to Δr, red for a negative one, on a scale of max. */
function signedShade(v: number, max: number): string {
  const x = max > 0 ? Math.min(1, Math.abs(v) / max) : 0;
  if (x === 0) return 'transparent';
  return v > 0 ? `rgba(37, 99, 235, ${(0.1 + 0.7 * x).toFixed(3)})` : `rgba(220, 38, 38, ${(0.1 + 0.7 * x).toFixed(3)})`;
}

/** A completion's tokens shaded by sign · (feature effect + error effect) per token. */
function shadedTokens(t: TokenShading, sign: number, max: number): HTMLDivElement {
  const line = el('div', { class: 'textout' });
  t.tokens.forEach((tok, i) => {
    const v = sign * ((t.featureEffect[i] ?? 0) + (t.errorEffect[i] ?? 0));
    const s = el('span', { class: 'tok', title: `effect on Δr ${fmt(v)} (features ${fmt(sign * (t.featureEffect[i] ?? 0))}, error ${fmt(sign * (t.errorEffect[i] ?? 0))})`, 'data-effect': v });
    s.textContent = visible(tok);
    s.style.backgroundColor = signedShade(v, max);
    line.appendChild(s);
  });
  return line;
}

const maxAbs = (...ts: TokenShading[]) => Math.max(1e-12, ...ts.flatMap((t) => t.tokens.map((_, i) => Math.abs((t.featureEffect[i] ?? 0) + (t.errorEffect[i] ?? 0)))));

/** Dashboard id per SAE folder, from the workspace. */
async function dashboardsByPath(): Promise<Map<string, number>> {
  const ws = await getJson<WorkspaceInfo>('/api/workspace');
  return new Map(ws.dashboards.map((d) => [d.saePath, d.id]));
}

function featureCell(f: number, dash: number | undefined): HTMLElement {
  return el('td', { class: 'num' }, dash === undefined ? String(f) : el('a', { href: `#/dashboards/${dash}/features/${f}` }, String(f)));
}

/** The list of attribution runs. */
export async function attributionsView(root: HTMLElement): Promise<void> {
  const { runs } = await getJson<{ runs: { runId: number; createdAt: string; mode: string; name: string | null }[] }>('/api/attributions');
  root.appendChild(el('h1', {}, 'Reward attributions'));
  if (runs.length === 0) {
    root.appendChild(el('p', { class: 'muted' }, 'No attribution runs in this workspace: run saelab attribute --sae DIR --pairs FILE.'));
    return;
  }
  const t = el('table', {}, el('tr', {}, el('th', {}, 'run'), el('th', {}, 'mode'), el('th', {}, 'name'), el('th', {}, 'when')));
  for (const r of runs) t.appendChild(el('tr', {}, el('td', {}, el('a', { href: `#/attributions/${r.runId}` }, `#${r.runId}`)), el('td', {}, r.mode), el('td', {}, r.name ?? ''), el('td', {}, r.createdAt.slice(0, 19).replace('T', ' '))));
  root.appendChild(t);
}

/** One attribution run. */
export async function attributionView(root: HTMLElement, id: number): Promise<void> {
  const [rep, dashes] = await Promise.all([getJson<AttributionReport>(`/api/attributions/${id}`), dashboardsByPath()]);
  root.appendChild(el('h1', {}, `Reward attribution #${id}`));
  root.appendChild(el('p', { class: 'muted' }, `${rep.model}; SAEs: ${rep.saes.map((s) => `${s.label} (${s.hook})`).join(', ')}`));
  if (rep.pairs) pairSetView(root, rep, rep.pairs, dashes);
  else if (rep.two) twoView(root, rep, rep.two, dashes);
}

function pairSetView(root: HTMLElement, rep: AttributionReport, p: PairSetReport, dashes: Map<string, number>): void {
  root.appendChild(el('h2', {}, 'Rewards per split'));
  const st = el('table', {}, el('tr', {}, el('th', {}, 'split'), el('th', { class: 'num' }, 'pairs'), el('th', { class: 'num' }, 'mean Δr'), el('th', { class: 'num' }, 'accuracy'), el('th', { class: 'num' }, 'truncated')));
  for (const s of [...p.splits, p.all]) st.appendChild(el('tr', {}, el('td', {}, s.label), el('td', { class: 'num' }, s.pairs), el('td', { class: 'num' }, fmt(s.meanDeltaR)), el('td', { class: 'num' }, pct(s.accuracy)), el('td', { class: 'num' }, s.truncated)));
  root.appendChild(st);
  p.saes.forEach((s, k) => {
    const dash = dashes.get(rep.saes[k]!.path);
    root.appendChild(el('h2', {}, `${s.label} · ${s.hook}`));
    root.appendChild(el('p', { class: 'muted' }, `mean over pairs: Σ feature effects ${fmt(s.meanSumEffects)}, error term ${fmt(s.meanError)}, b_dec ${fmt(s.meanBias)}, prompt positions ${fmt(s.meanPrompt)}, rest ${fmt(s.meanRest)} (|rest| ${fmt(s.meanAbsRest)}). Exact ablation vs linear: Spearman ${fmt(s.exact.spearman)} over ${s.exact.entries.length} pair × feature entries (top ${fmt(s.exact.spearmanTop)}, random ${fmt(s.exact.spearmanRandom)}), slope ${fmt(s.exact.slope)}.`));
    const t = el('table', { class: 'ranked' }, el('tr', {}, el('th', { class: 'num' }, '#'), el('th', { class: 'num' }, 'feature'), el('th', { class: 'num' }, 'mean effect'), el('th', { class: 'num' }, 'sign consistency'), el('th', { class: 'num' }, 'pairs'), el('th', { class: 'num' }, 'firing'), el('th', {}, 'flags')));
    s.top.forEach((f, i) => {
      const flags = [f.highFrequency ? 'high-frequency' : '', ...f.nearest.filter((n) => n.duplicate).map((n) => `near-duplicate ${n.sae}:${n.feature} (cos ${fmt(n.cosine)})`)].filter(Boolean).join('; ');
      t.appendChild(el('tr', {}, el('td', { class: 'num' }, i + 1), featureCell(f.feature, dash), el('td', { class: `num ${f.meanEffect > 0 ? 'pos' : 'neg'}` }, fmt(f.meanEffect)), el('td', { class: 'num' }, pct(f.signConsistency)), el('td', { class: 'num' }, f.pairsActive), el('td', { class: 'num' }, pct(f.firingFrequency)), el('td', {}, flags)));
    });
    root.appendChild(t);
    if (s.groups.length) {
      root.appendChild(el('h3', {}, 'Groups (decoder cosine or co-activation)'));
      for (const g of s.groups) root.appendChild(el('p', {}, `{${g.features.join(', ')}}: within-group cosine ${fmt(g.withinCosine)}, co-activation ${fmt(g.withinCorrelation)}; random pairs ${fmt(g.randomCosineMean)} (p95 ${fmt(g.randomCosineP95)})`));
    }
  });
  if (p.pairViews.length) {
    root.appendChild(el('h2', {}, 'Pairs'));
    const select = el('select', { id: 'pair-select' });
    p.pairViews.forEach((v, i) => select.appendChild(el('option', { value: i }, `pair ${v.index} (${v.split}): Δr ${fmt(v.deltaR)}`)));
    const box = el('div', { class: 'pairview' });
    const show = () => pairView(box, p.pairViews[Number(select.value)]!, rep, dashes);
    select.addEventListener('change', show);
    root.appendChild(select);
    root.appendChild(box);
    show();
  }
}

function pairView(box: HTMLElement, v: PairView, rep: AttributionReport, dashes: Map<string, number>): void {
  while (box.firstChild) box.removeChild(box.firstChild);
  box.appendChild(el('p', {}, `r(chosen) ${fmt(v.rewardChosen)}, r(rejected) ${fmt(v.rewardRejected)}, Δr ${fmt(v.deltaR)}. Blue tokens raise Δr, red lower it.`));
  v.saes.forEach((s, k) => {
    const dash = dashes.get(rep.saes[k]!.path);
    const max = maxAbs(s.chosen, s.rejected);
    box.appendChild(el('h3', {}, `${s.label}: error ${fmt(s.error)}, b_dec ${fmt(s.bias)}, prompt ${fmt(s.prompt)}, rest ${fmt(s.rest)}`));
    box.appendChild(el('div', { class: 'muted' }, 'chosen'));
    box.appendChild(shadedTokens(s.chosen, 1, max));
    box.appendChild(el('div', { class: 'muted' }, 'rejected'));
    box.appendChild(shadedTokens(s.rejected, -1, max));
    const t = el('table', {}, el('tr', {}, el('th', { class: 'num' }, 'feature'), el('th', { class: 'num' }, 'effect on Δr'), el('th', { class: 'num' }, 'act chosen'), el('th', { class: 'num' }, 'act rejected')));
    for (const f of s.topFeatures) t.appendChild(el('tr', {}, featureCell(f.feature, dash), el('td', { class: 'num' }, fmt(f.effect)), el('td', { class: 'num' }, fmt(f.actChosen)), el('td', { class: 'num' }, fmt(f.actRejected))));
    box.appendChild(t);
  });
}

function twoView(root: HTMLElement, rep: AttributionReport, t: TwoReport, dashes: Map<string, number>): void {
  const [na, nb] = rep.edit ? ['original', 'edited'] : ['a', 'b'];
  root.appendChild(el('p', {}, `r(${na}) ${fmt(t.rewardA)}, r(${nb}) ${fmt(t.rewardB)}, Δr ${fmt(t.deltaR)}${t.rewardBaseline !== undefined ? `, r(baseline) ${fmt(t.rewardBaseline)}` : ''}. Blue tokens raise Δr, red lower it.`));
  t.saes.forEach((s, k) => {
    const dash = dashes.get(rep.saes[k]!.path);
    root.appendChild(el('h2', {}, `${s.label} · ${s.hook}: ${s.added} added, ${s.removed} removed, ${s.changed} changed`));
    root.appendChild(el('p', { class: 'muted' }, `Σ feature effects ${fmt(s.sumEffects)}, error term ${fmt(s.error)}, b_dec ${fmt(s.bias)}, prompt positions ${fmt(s.prompt)}, rest ${fmt(s.rest)}`));
    const max = maxAbs(s.tokensA, s.tokensB);
    root.appendChild(el('div', { class: 'muted' }, na));
    root.appendChild(shadedTokens(s.tokensA, 1, max));
    root.appendChild(el('div', { class: 'muted' }, nb));
    root.appendChild(shadedTokens(s.tokensB, -1, max));
    const base = t.rewardBaseline !== undefined;
    const tab = el('table', { class: 'diff' }, el('tr', {}, el('th', { class: 'num' }, 'feature'), el('th', {}, 'change'), el('th', { class: 'num' }, `act ${na}`), el('th', { class: 'num' }, `act ${nb}`), el('th', { class: 'num' }, 'effect on Δr'), el('th', { class: 'num' }, 'exact'), ...(base ? [el('th', { class: 'num' }, 'baseline effect')] : [])));
    for (const f of s.features.slice(0, 200)) {
      tab.appendChild(el('tr', {}, featureCell(f.feature, dash), el('td', {}, f.kind), el('td', { class: 'num' }, fmt(f.actA)), el('td', { class: 'num' }, fmt(f.actB)), el('td', { class: `num ${f.effect > 0 ? 'pos' : 'neg'}` }, fmt(f.effect)), el('td', { class: 'num' }, fmt(f.exact)), ...(base ? [el('td', { class: 'num' }, fmt(f.baselineEffect))] : [])));
    }
    root.appendChild(tab);
  });
}
