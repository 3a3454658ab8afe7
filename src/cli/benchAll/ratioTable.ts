// The markdown of `saelab bench all`: one line per case, saelab against the PyTorch reference from
// the same call (speed ratio: > 1 means saelab is faster), the goal of BENCHMARKS.md / the issues
// where there is one, then each part's status and command.

import type { PartResult } from './runPart.js';

type Row = Record<string, unknown>;

/** One line of the ratio table. */
export interface RatioLine {
  case: string;
  shape: string;
  saelab: string;
  torchFp32: string;
  ratioFp32: number | null;
  torchBf16: string;
  ratioBf16: number | null;
  goal: string;
  /** Whether the goal is met (null: no goal, or not measurable here). */
  met: boolean | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v: number, digits = 1) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The ratio lines of a run's results; `gpu` switches on the GPU goals. */
export function ratioLines(results: PartResult[], gpu: boolean): RatioLine[] {
  const saelab = results.filter((r) => r.side === 'saelab').flatMap((r) => r.rows.map((row) => ({ part: r.name, row })));
  const torch = results.filter((r) => r.side === 'torch').flatMap((r) => r.rows);
  const lines: RatioLine[] = [];
  const torchOf = (pred: (t: Row) => boolean, prec: string) => torch.find((t) => pred(t) && (t.precision ?? 'fp32_tf32') === prec) ?? null;
  const line = (l: Omit<RatioLine, 'torchFp32' | 'ratioFp32' | 'torchBf16' | 'ratioBf16'>, ref?: { fp32: Row | null; bf16: Row | null; value: (t: Row) => number | null; show: (v: number) => string; ours: number | null; higherIsBetter: boolean }) => {
    const out: RatioLine = { ...l, torchFp32: '–', ratioFp32: null, torchBf16: '–', ratioBf16: null };
    if (ref && ref.ours !== null) {
      for (const [key, t] of [['Fp32', ref.fp32], ['Bf16', ref.bf16]] as const) {
        const v = t ? ref.value(t) : null;
        if (v === null || v <= 0) continue;
        out[`torch${key}`] = ref.show(v);
        out[`ratio${key}`] = ref.higherIsBetter ? ref.ours / v : v / ref.ours;
      }
    }
    lines.push(out);
  };
  for (const { part, row } of saelab) {
    const c = String(row.case ?? '');
    if (c === 'matmul') {
      const g = num(row.gflops);
      const goalG = row.shape === '4096x768x24576' ? 25000 : row.shape === '4096x24576x768' ? 20000 : null;
      line({ case: 'matmul', shape: String(row.shape), saelab: g === null ? '–' : `${fmt(g)} GFLOP/s`, goal: gpu && goalG ? `≥ ${fmt(goalG, 0)} GFLOP/s fp32` : '', met: gpu && goalG && g !== null ? g >= goalG : null });
    } else if (c === 'topk') {
      line({ case: 'topk', shape: String(row.shape), saelab: `${fmt(num(row.ms) ?? NaN, 2)} ms`, goal: '', met: null });
    } else if (c === 'cos.maxsim') {
      const ms = num(row.ms);
      const n = Number(String(row.shape).split('x')[0]);
      const t = torch.find((x) => x.case === 'cos.maxsim' && x.n === n) ?? null;
      const ratio = t && ms ? (num(t.ms) ?? 0) / ms : null;
      line({ case: 'cos.maxsim', shape: String(row.shape), saelab: `${fmt(ms ?? NaN, 1)} ms`, goal: gpu ? 'within 2× of torch (ratio ≥ 0.5)' : '', met: gpu && ratio !== null ? ratio >= 0.5 : null },
        { fp32: t, bf16: null, value: (x) => num(x.ms), show: (v) => `${fmt(v, 1)} ms`, ours: ms, higherIsBetter: false });
    } else if (c === 'lm.forward') {
      const tps = num(row.tokensPerS);
      const pred = (t: Row) => t.case === 'lm.forward' && t.ctx === row.ctx;
      line({ case: 'lm.forward', shape: `ctx ${row.ctx} × batch ${row.batch}, to layer ${row.stopAtLayer}`, saelab: `${fmt(tps ?? NaN, 0)} tokens/s`, goal: gpu ? '' : '≥ 1.5× torch CPU', met: null },
        { fp32: torchOf(pred, 'fp32_tf32'), bf16: torchOf(pred, 'bf16_autocast'), value: (t) => num(t.tokens_per_s), show: (v) => `${fmt(v, 0)} tokens/s`, ours: tps, higherIsBetter: true });
    } else if (c.startsWith('sae.')) {
      const tps = num(row.tokensPerS);
      const ref = c === 'sae.topk_dense' ? 'sae.topk' : c;
      const pred = (t: Row) => t.case === ref && t.d_sae === row.dSae;
      line({ case: c, shape: `d_sae ${fmt(Number(row.dSae), 0)}, batch ${row.batch}${row.k ? `, k ${row.k}` : ''}`, saelab: `${fmt(tps ?? NaN, 0)} tokens/s`, goal: '', met: null },
        { fp32: torchOf(pred, 'fp32_tf32'), bf16: torchOf(pred, 'bf16_autocast'), value: (t) => num(t.tokens_per_s), show: (v) => `${fmt(v, 0)} tokens/s`, ours: tps, higherIsBetter: true });
    } else if (c === 'match.saelab') {
      const s = num(row.seconds);
      const n = Number(row.n);
      const scipy = num(row.scipy_seconds);
      const goal = !gpu ? '' : n >= 98304 ? 'under 60 s' : n === 8192 ? '≥ 10× scipy' : '';
      const met = !gpu || s === null ? null : n >= 98304 ? s < 60 : n === 8192 && scipy !== null ? scipy / s >= 10 : null;
      line({ case: 'match (vs scipy LSA)', shape: `n ${fmt(n, 0)}, d ${row.d}`, saelab: `${fmt(s ?? NaN, 2)} s${row.certified === true ? ', certified' : ''}`, goal, met },
        { fp32: scipy === null ? null : { s: scipy }, bf16: null, value: (t) => num(t.s), show: (v) => `${fmt(v, 3)} s (scipy)`, ours: s, higherIsBetter: false });
    } else if (c === 'local+harvest' || c === 'e2e' || c === 'e2e+ds') {
      const cost = num(row.costVsLocal);
      line({ case: `${part}: ${c}`, shape: `d_sae ${fmt(Number(row.dSae), 0)}, ${row.batch} tokens/step`, saelab: `${fmt(num(row.tokensPerS) ?? NaN, 0)} tokens/s (${fmt(cost ?? NaN, 2)}× local)`, goal: c === 'local+harvest' ? '' : '≤ 2.5× local', met: c === 'local+harvest' || cost === null ? null : cost <= 2.5 });
    } else if (part === 'train' && num(row.tokensPerSecond) !== null) {
      line({ case: 'train (harvest + train)', shape: `${fmt(Number(row.tokens), 0)} tokens`, saelab: `${fmt(num(row.tokensPerSecond)!, 0)} tokens/s`, goal: '', met: null });
    } else if (part === 'dashboard' && num(row.passSeconds) !== null) {
      const pass = num(row.passSeconds)!;
      line({ case: 'dashboard pass', shape: `${fmt(Number(row.tokens), 0)} tokens, ${row.dSae} features`, saelab: `${fmt(Number(row.tokens) / pass, 0)} tokens/s (pass ${fmt(pass, 1)} s, weights ${fmt(num(row.weightsSeconds) ?? NaN, 1)} s)`, goal: '', met: null });
    }
  }
  return lines;
}

/** The markdown report: header, the ratio table, then every part's status and command. */
export function ratioMarkdown(o: { device: string; date: string; quick: boolean; totalSeconds: number; budgetS: number; results: PartResult[]; gpu: boolean }): string {
  const lines = ratioLines(o.results, o.gpu);
  const r = (v: number | null) => (v === null ? '–' : `${fmt(v, 2)}×`);
  const out = [
    `# saelab bench all — ${o.date}`,
    '',
    `Device: ${o.device}${o.quick ? ' (--quick: small shapes, timings mean little)' : ''}. Total ${fmt(o.totalSeconds, 0)} s of a ${o.budgetS} s budget.`,
    'Ratio = saelab speed ÷ PyTorch speed in this call (> 1: saelab faster); for match, scipy seconds ÷ saelab seconds.',
    '',
    '| case | shape | saelab | torch fp32/tf32 | ratio | torch bf16 | ratio | goal | met |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...lines.map((l) => `| ${l.case} | ${l.shape} | ${l.saelab} | ${l.torchFp32} | ${r(l.ratioFp32)} | ${l.torchBf16} | ${r(l.ratioBf16)} | ${l.goal} | ${l.met === null ? '' : l.met ? 'yes' : '**no**'} |`),
    '',
    '| part | status | s | budget s | command |',
    '| --- | --- | --- | --- | --- |',
    ...o.results.map((p) => `| ${p.name} | ${p.status}${p.reason ? `: ${p.reason.replace(/\|/g, '/')}` : ''} | ${fmt(p.seconds, 1)} | ${p.budgetS} | ${p.command ? `\`${p.command}\`` : '–'} |`),
    '',
  ];
  return out.join('\n');
}
