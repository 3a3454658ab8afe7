// The README.md (hub model card) that `saelab push` writes beside the SAEs: the hub's YAML header,
// what each SAE is (architecture, hook, model, widths, training tokens), the eval metrics found in the
// workspace database, and how to open it in saelab and in SAELens. Pure text from its inputs (the
// token never reaches this file: nothing here reads the environment).

/** One SAE of the card. */
export interface CardSae {
  /** Its folder in the repo ('' for the repo's root). */
  folder: string;
  /** The layout on disk: saelens (cfg.json + sae_weights.safetensors), sparsify, dictionary_learning. */
  format: string;
  architecture: string;
  dIn: number;
  dSae: number;
  k?: number;
  hook: string | null;
  model: string | null;
  dataset: string | null;
  trainingTokens: number | null;
  /** The newest evaluation's metrics (docs/metrics.md names), if the workspace has one. */
  metrics: Record<string, number | null> | null;
}

const METRICS: [string, string][] = [
  ['l0', 'L0'],
  ['fvu', 'FVU'],
  ['cosine', 'cos'],
  ['ce_loss_recovered', 'CE loss recovered'],
  ['kl_sae', 'KL'],
  ['alive_fraction', 'alive'],
  ['tokens', 'eval tokens'],
];

function cell(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(4);
  return String(v).replace(/\|/g, '\\|');
}

/** The model card text for `repoId` holding `saes`. */
export function modelCard(repoId: string, saes: readonly CardSae[], saelabVersion: string): string {
  const models = [...new Set(saes.map((s) => s.model).filter((m): m is string => !!m))];
  const saelens = saes.some((s) => s.format === 'saelens');
  const lines: string[] = [
    '---',
    'library_name: saelab',
    'tags:',
    '- sparse-autoencoder',
    '- saelab',
    ...(saelens ? ['- sae_lens'] : []),
    '---',
    '',
    `# ${repoId}`,
    '',
    `${saes.length === 1 ? 'A sparse autoencoder' : `${saes.length} sparse autoencoders`}${models.length ? ` on the activations of ${models.join(', ')}` : ''}, trained and uploaded with saelab ${saelabVersion}.`,
    '',
    '| folder | architecture | hook | model | d_in | d_sae | k | training tokens | data |',
    '|---|---|---|---|---|---|---|---|---|',
    ...saes.map((s) => `| ${cell(s.folder || '.')} | ${cell(s.architecture)} | ${cell(s.hook)} | ${cell(s.model)} | ${s.dIn} | ${s.dSae} | ${cell(s.k)} | ${cell(s.trainingTokens)} | ${cell(s.dataset)} |`),
    '',
  ];
  const evaluated = saes.filter((s) => s.metrics);
  if (evaluated.length) {
    lines.push('## Evaluation', '', 'From `saelab eval` (definitions: saelab\'s docs/metrics.md), the newest evaluation of each folder in the workspace database:', '');
    lines.push(`| folder | ${METRICS.map((m) => m[1]).join(' | ')} |`, `|---|${METRICS.map(() => '---').join('|')}|`);
    for (const s of evaluated) lines.push(`| ${cell(s.folder || '.')} | ${METRICS.map(([k]) => cell(s.metrics![k])).join(' | ')} |`);
    lines.push('');
  } else {
    lines.push('## Evaluation', '', 'No evaluation was recorded in the workspace database when this was pushed (`saelab eval --sae hf:… ` measures one).', '');
  }
  const first = saes[0]!;
  const spec = `hf:${repoId}${first.folder ? `/${first.folder}` : ''}`;
  lines.push(
    '## Load in saelab',
    '',
    '```sh',
    `saelab eval --sae ${spec}`,
    `saelab dashboard --sae ${spec} --db saelab.db`,
    '```',
    '',
    'saelab downloads the folder into the Hugging Face cache (`~/.cache/huggingface/hub`); set `HF_TOKEN` for a private repo.',
    '',
  );
  if (saelens) {
    const s = saes.find((x) => x.format === 'saelens')!;
    lines.push('## Load in SAELens', '', 'The folders are in SAELens 6\'s layout (`cfg.json`, `sae_weights.safetensors`, `sparsity.safetensors`):', '', '```python', 'from sae_lens import SAE', '');
    if (s.folder) {
      lines.push(`sae = SAE.from_pretrained(release="${repoId}", sae_id="${s.folder}")`);
    } else {
      lines.push('from huggingface_hub import snapshot_download', '', `sae = SAE.load_from_disk(snapshot_download("${repoId}"))`);
    }
    lines.push('f = sae.encode(acts)  # raw activations of sae.cfg.metadata.hook_name', '```', '');
  }
  return lines.join('\n');
}
