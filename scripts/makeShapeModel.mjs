#!/usr/bin/env node
// Write a random-weight Llama-family model of a real model's shape as an HF folder (config.json +
// model.safetensors in BF16), for memory and speed benchmarks of models too large to download here.
// The file is written tensor by tensor, so memory stays small whatever the model's size.
//
//   node scripts/makeShapeModel.mjs --shape llama-3.2-1b --out /tmp/shape-1b
//   node scripts/makeShapeModel.mjs --shape mistral-7b --out /tmp/shape-7b
//   node scripts/makeShapeModel.mjs --shape mistral-7b --reward --tokenizer-from DIR --out /tmp/rm-7b
//
// --reward makes the sequence classifier (…ForSequenceClassification: one `score` row instead of the
// LM head), as reward models are; --tokenizer-from copies a folder's tokenizer files in and sizes the
// vocabulary to it (no hub here: e.g. gpt2-corpus-tiny's GPT-2 BPE), so text commands run on it.
//
// Weights: N(0, 0.02) rounded to bf16, drawn once into a 1M-element pool and tiled with a per-tensor
// offset (the values do not matter for speed; every byte is still written and read). Norm weights 1.
// Llama-3.2-1B's llama3 rope scaling is left out (saelab refuses it; the compute is the same).

import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const SHAPES = {
  'llama-3.2-1b': { hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, tie_word_embeddings: true, rope_theta: 500000, max_position_embeddings: 131072, architectures: ['LlamaForCausalLM'], model_type: 'llama' },
  'mistral-7b': { hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, vocab_size: 32000, tie_word_embeddings: false, rope_theta: 1000000, max_position_embeddings: 32768, sliding_window: null, architectures: ['MistralForCausalLM'], model_type: 'mistral' },
};

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i < 0) {
    if (fallback === undefined) {
      console.error(`makeShapeModel: missing ${name} (shapes: ${Object.keys(SHAPES).join(', ')})`);
      process.exit(2);
    }
    return fallback;
  }
  return process.argv[i + 1];
}

const shapeName = arg('--shape');
const out = arg('--out');
const shape = SHAPES[shapeName];
if (!shape) {
  console.error(`makeShapeModel: unknown --shape ${shapeName} (one of ${Object.keys(SHAPES).join(', ')})`);
  process.exit(2);
}

const reward = process.argv.includes('--reward');
const tokFrom = arg('--tokenizer-from', null);
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json'];
let extra = {};
if (tokFrom) {
  // The vocabulary of the copied tokenizer (GPT-2 BPE: vocab.json; else tokenizer.json's model.vocab).
  const vocab = existsSync(join(tokFrom, 'vocab.json')) ? JSON.parse(readFileSync(join(tokFrom, 'vocab.json'), 'utf8')) : JSON.parse(readFileSync(join(tokFrom, 'tokenizer.json'), 'utf8')).model.vocab;
  const n = Object.keys(vocab).length;
  const fromCfg = existsSync(join(tokFrom, 'config.json')) ? JSON.parse(readFileSync(join(tokFrom, 'config.json'), 'utf8')) : {};
  extra = { vocab_size: Math.max(n, fromCfg.vocab_size ?? 0), bos_token_id: fromCfg.bos_token_id ?? 1, eos_token_id: fromCfg.eos_token_id ?? 2, pad_token_id: fromCfg.eos_token_id ?? 2 };
}
if (reward) extra = { ...extra, architectures: [shape.architectures[0].replace('ForCausalLM', 'ForSequenceClassification')], num_labels: 1, tie_word_embeddings: false, pad_token_id: extra.pad_token_id ?? 2 };
Object.assign(shape, extra);
const { hidden_size: d, intermediate_size: f, num_hidden_layers: L, num_attention_heads: H, num_key_value_heads: KV, head_dim: hd, vocab_size: V } = shape;
/** [name, shape, kind] in file order; kind 'norm' = ones, 'w' = random. */
const tensors = [['model.embed_tokens.weight', [V, d], 'w']];
for (let l = 0; l < L; l++) {
  const p = `model.layers.${l}.`;
  tensors.push(
    [`${p}input_layernorm.weight`, [d], 'norm'],
    [`${p}self_attn.q_proj.weight`, [H * hd, d], 'w'],
    [`${p}self_attn.k_proj.weight`, [KV * hd, d], 'w'],
    [`${p}self_attn.v_proj.weight`, [KV * hd, d], 'w'],
    [`${p}self_attn.o_proj.weight`, [d, H * hd], 'w'],
    [`${p}post_attention_layernorm.weight`, [d], 'norm'],
    [`${p}mlp.gate_proj.weight`, [f, d], 'w'],
    [`${p}mlp.up_proj.weight`, [f, d], 'w'],
    [`${p}mlp.down_proj.weight`, [d, f], 'w'],
  );
}
tensors.push(['model.norm.weight', [d], 'norm']);
if (reward) tensors.push(['score.weight', [1, d], 'w']);
else if (!shape.tie_word_embeddings) tensors.push(['lm_head.weight', [V, d], 'w']);

// Header: offsets in file order.
const header = {};
let offset = 0;
for (const [name, s] of tensors) {
  const bytes = s.reduce((a, b) => a * b, 1) * 2;
  header[name] = { dtype: 'BF16', shape: s, data_offsets: [offset, offset + bytes] };
  offset += bytes;
}
let json = JSON.stringify(header);
json += ' '.repeat((8 - (json.length % 8)) % 8);

// The pool: N(0, 0.02) by Box–Muller from a seeded xorshift, as bf16 (round to nearest even).
const POOL = 1 << 20;
const pool = new Uint16Array(POOL);
let s = 0x9e3779b9;
const rand = () => {
  s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
  return (s + 0.5) / 4294967296;
};
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
for (let i = 0; i < POOL; i++) {
  f32[0] = 0.02 * Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
  const x = u32[0];
  pool[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'config.json'), JSON.stringify({ hidden_act: 'silu', rms_norm_eps: 1e-5, torch_dtype: 'bfloat16', bos_token_id: 1, eos_token_id: 2, ...shape }, null, 2));
if (tokFrom) for (const t of TOKENIZER_FILES) if (existsSync(join(tokFrom, t))) copyFileSync(join(tokFrom, t), join(out, t));
const fd = openSync(join(out, 'model.safetensors'), 'w');
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(json.length));
writeSync(fd, len);
writeSync(fd, json);
const CHUNK = 1 << 22; // elements per write
const buf = new Uint16Array(CHUNK);
const ones = new Uint16Array(CHUNK).fill(0x3f80);
let written = 0;
const t0 = Date.now();
tensors.forEach(([name, sh, kind], ti) => {
  const n = sh.reduce((a, b) => a * b, 1);
  for (let at = 0; at < n; at += CHUNK) {
    const m = Math.min(CHUNK, n - at);
    if (kind === 'norm') writeSync(fd, ones, 0, m * 2);
    else {
      const start = (ti * 7919 + at) % POOL;
      for (let i = 0; i < m; i++) buf[i] = pool[(start + i) & (POOL - 1)];
      writeSync(fd, buf, 0, m * 2);
    }
    written += m * 2;
  }
  if (ti % 20 === 0) process.stderr.write(`\r${name}: ${(written / 1e9).toFixed(2)} / ${(offset / 1e9).toFixed(2)} GB`);
});
closeSync(fd);
process.stderr.write(`\rwrote ${out}: ${tensors.length} tensors, ${(offset / 1e9).toFixed(2)} GB BF16 in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
