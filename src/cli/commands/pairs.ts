// `saelab pairs stats|grep`: statistics of a preference-pair file per range (with a reward model:
// mean r(chosen) − r(rejected), accuracy) and how often a phrase occurs in chosen / rejected
// completions, Assistant and Human turns, and after a given user phrase (src/analysis/rewardPairStats.ts).

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { grepPairs, rangeStats, type RangeStats } from '../../analysis/rewardPairStats.js';
import { loadPairRecords, parsePairsSpec, type PairRecord } from '../../eval/pairData.js';
import { openModel } from '../../model/openModel.js';
import { deviceOption, openDeviceFromFlag } from '../deviceOption.js';
import { UsageError } from '../errors.js';
import { intFlag } from '../flags.js';
import { emit, table } from '../output.js';
import { batchProgress } from '../progress.js';

/** The ranges to report: each FILE[:start-end] given, or one file cut by --ranges "0-1850,1850-". */
async function loadRanges(specs: string[], ranges: string | undefined): Promise<{ label: string; pairs: PairRecord[] }[]> {
  if (specs.length === 0) throw new UsageError('give a pair file: FILE[:start-end] (JSONL of HH transcripts or {prompt,chosen,rejected})');
  const all = ranges ? specs.flatMap((s) => ranges.split(',').map((r) => `${s}:${r.trim()}`)) : specs;
  const out = [];
  for (const s of all) {
    const range = parsePairsSpec(s);
    if (!/^\d*-\d*$/.test(s.slice(range.file.length + 1)) && range.file !== s) throw new UsageError(`--ranges: '${s}' is not start-end`);
    range.file = resolve(range.file);
    if (!existsSync(range.file)) throw new UsageError(`${s}: no such file`);
    out.push({ label: s, pairs: await loadPairRecords(range) });
  }
  return out;
}

const f3 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(3));

/** Register `saelab pairs`. */
export function registerPairs(program: Command): void {
  const pairs = program.command('pairs').description('preference-pair files: statistics per range (rewards with --model) and phrase counts');
  pairs
    .command('stats')
    .description('per range: pairs, lengths, turns; with --model (a reward model): mean r(chosen) − r(rejected), its std, accuracy, mean rewards, truncations')
    .argument('<files...>', 'pair files, each FILE or FILE:start-end (start ≤ i < end)')
    .option('--ranges <list>', 'cut each file into these ranges, e.g. 0-1850,1850-')
    .option('--model <dir>', 'a reward model: also reward statistics')
    .option('--batch-pairs <n>', 'pairs per forward', intFlag('--batch-pairs', 1), 16)
    .addOption(deviceOption())
    .option('--json', 'print JSON')
    .action(async (files: string[], _o: unknown, cmd: Command) => {
      const o = cmd.opts<{ ranges?: string; model?: string; batchPairs: number; device: string; json?: boolean }>();
      const rs = await loadRanges(files, o.ranges);
      const stats: RangeStats[] = [];
      if (o.model) {
        const device = await openDeviceFromFlag(o.device, !!o.json);
        const progress = batchProgress('rewards', !!o.json);
        try {
          const { model, tokenizer } = await openModel(o.model, device, { needTokenizer: true });
          try {
            for (const r of rs) stats.push(await rangeStats(r.label, r.pairs, { model, tokenizer: tokenizer!, batchPairs: o.batchPairs, onProgress: progress.onProgress }));
          } finally {
            model.dispose();
          }
        } finally {
          progress.stop();
          device.destroy();
        }
      } else {
        for (const r of rs) stats.push(await rangeStats(r.label, r.pairs));
      }
      emit(!!o.json, { ranges: stats }, () => {
        console.log(table(['range', 'pairs', 'prompt chars', 'chosen chars', 'rejected chars', 'human turns', 'chosen longer'], stats.map((s) => [s.label, s.pairs, s.meanPromptChars.toFixed(0), s.meanChosenChars.toFixed(0), s.meanRejectedChars.toFixed(0), s.meanHumanTurns.toFixed(2), s.chosenLonger])));
        if (o.model) console.log(table(['range', 'mean Δr', 'std Δr', 'accuracy', 'r chosen', 'r rejected', 'chosen tokens', 'rejected tokens', 'truncated'], stats.map((s) => { const r = s.rewards!; return [s.label, f3(r.meanDeltaR), f3(r.stdDeltaR), f3(r.accuracy), f3(r.meanRewardChosen), f3(r.meanRewardRejected), r.meanChosenTokens.toFixed(1), r.meanRejectedTokens.toFixed(1), r.truncated]; })));
      });
    });
  pairs
    .command('grep')
    .description('how often a phrase occurs: in chosen / rejected completions, in Assistant and Human turns, and in Assistant turns answering a Human turn that contains --after')
    .argument('<phrase>', 'the text to count (plain substring)')
    .argument('<files...>', 'pair files, each FILE or FILE:start-end')
    .option('--ranges <list>', 'cut each file into these ranges, e.g. 0-1850,1850-')
    .option('--after <text>', 'also count Assistant turns that answer a Human turn containing this')
    .option('-i, --ignore-case', 'case-insensitive')
    .option('--json', 'print JSON')
    .action(async (phrase: string, files: string[], _o: unknown, cmd: Command) => {
      const o = cmd.opts<{ ranges?: string; after?: string; ignoreCase?: boolean; json?: boolean }>();
      if (!phrase) throw new UsageError('the phrase to count is empty');
      const rs = await loadRanges(files, o.ranges);
      const counts = rs.map((r) => grepPairs(r.label, r.pairs, phrase, { after: o.after, ignoreCase: o.ignoreCase }));
      emit(!!o.json, { phrase, after: o.after ?? null, ranges: counts }, () => {
        console.log(table(['range', 'pairs', 'chosen', 'rejected', 'only chosen', 'only rejected', 'assistant turns', 'human turns', ...(o.after !== undefined ? ['after: turns', 'after: with phrase'] : [])],
          counts.map((c) => [c.label, c.pairs, c.chosen, c.rejected, c.onlyChosen, c.onlyRejected, `${c.assistantTurns}/${c.assistantTurnsTotal}`, c.humanTurns, ...(o.after !== undefined ? [c.afterTurns!, c.afterWithPhrase!] : [])])));
        const ex = counts.flatMap((c) => c.examples);
        if (ex.length) console.log(`first pairs with it in a completion: ${ex.slice(0, 10).join(', ')}`);
      });
    });
}
