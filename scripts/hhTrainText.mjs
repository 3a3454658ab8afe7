// The SAE training text for docs/attribution.md: every HH transcript of the shared pair file, chosen
// then rejected, as documents separated by <|endoftext|> (what the reward model reads, both sides).
// Usage: node scripts/hhTrainText.mjs PAIRS.jsonl.gz OUT.txt [REPEATS]
// REPEATS copies one after the other (a streaming `saelab train` reads its text once: epochs this way).
import { createReadStream, writeFileSync, renameSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { createInterface } from 'node:readline';

const [src, out, rep = '1'] = process.argv.slice(2);
if (!src || !out) {
  console.error('usage: node scripts/hhTrainText.mjs PAIRS.jsonl.gz OUT.txt');
  process.exit(2);
}
const docs = [];
const input = src.endsWith('.gz') ? createReadStream(src).pipe(createGunzip()) : createReadStream(src);
for await (const line of createInterface({ input, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  const p = JSON.parse(line);
  docs.push(p.chosen, p.rejected);
}
const one = docs.join('<|endoftext|>');
writeFileSync(out + '.tmp', Array.from({ length: Number(rep) }, () => one).join('<|endoftext|>'));
renameSync(out + '.tmp', out);
console.log(`${docs.length} transcripts → ${out}`);
