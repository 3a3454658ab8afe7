// Config normalisation (HF 5.x and older keys), hook names, and the llama2.c reader's checks.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHfConfig } from '../../src/model/config.js';
import { editDistance, hookNames, parseHook } from '../../src/model/hooks.js';
import { adjacentToHalfRows, parseLlama2c } from '../../src/model/llama2c.js';
import { expectedShapes } from '../../src/model/weights.js';

test('GPT-NeoX: old keys (rotary_pct, rotary_emb_base) and HF 5.x rope_parameters give the same config', () => {
  const base = { architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', hidden_size: 512, num_attention_heads: 8, num_hidden_layers: 6, intermediate_size: 2048, vocab_size: 50304, max_position_embeddings: 2048, hidden_act: 'gelu', use_parallel_residual: true, tie_word_embeddings: false };
  const old = parseHfConfig({ ...base, rotary_pct: 0.25, rotary_emb_base: 10000 });
  const now = parseHfConfig({ ...base, rope_parameters: { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 0.25 } });
  assert.deepEqual(old, now);
  assert.equal(now.rotaryDim, 16); // int(64 · 0.25)
  assert.equal(now.activation, 'gelu'); // the exact erf GELU
  assert.equal(now.parallelResidual, true);
  assert.equal(now.attnBias, true);
  assert.equal(now.tiedEmbeddings, false);
  assert.equal(expectedShapes(now).layers[0]!.b_Q![0], 512);
});

test('Llama: top-level rope_theta, GQA, head_dim default; GPT-2 defaults; classifier labels', () => {
  const llama = parseHfConfig({ architectures: ['LlamaForSequenceClassification'], hidden_size: 256, num_attention_heads: 8, num_key_value_heads: 2, num_hidden_layers: 2, intermediate_size: 688, vocab_size: 32000, rope_theta: 500000, eos_token_id: [128001, 128009], id2label: { 0: 'a', 1: 'b', 2: 'c' } });
  assert.equal(llama.family, 'llama');
  assert.equal(llama.head, 'sequence-classification');
  assert.equal(llama.numLabels, 3);
  assert.equal(llama.dHead, 32);
  assert.equal(llama.nKvHeads, 2);
  assert.equal(llama.ropeTheta, 500000);
  assert.equal(llama.rotaryDim, 32);
  assert.equal(llama.normEps, 1e-6);
  assert.equal(llama.eosTokenId, 128001);
  assert.equal(llama.tiedEmbeddings, false);
  assert.deepEqual(expectedShapes(llama).score, [256, 3]);
  const gpt2 = parseHfConfig({ model_type: 'gpt2' }); // no architectures: the model_type, as an LM
  assert.equal(gpt2.dMlp, 3072);
  assert.equal(gpt2.nCtx, 1024);
  assert.equal(gpt2.activation, 'gelu_new');
  assert.equal(gpt2.tiedEmbeddings, true);
  assert.equal(gpt2.rotaryDim, 0);
  assert.throws(() => parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_embd: 100, n_head: 12 }), /"n_embd" 100 is not a multiple of "n_head" 12/);
  assert.throws(() => parseHfConfig({ architectures: ['GPT2LMHeadModel'], activation_function: 'mish' }), /activation_function/);
  assert.throws(() => parseHfConfig({ architectures: ['LlamaForCausalLM'], num_attention_heads: 6, num_key_value_heads: 4, hidden_size: 96 }), /not a multiple of nKvHeads/);
  assert.throws(() => parseHfConfig({ model_type: 'falcon' }), (e: Error) => e.name === 'ModelError' && /LlamaForCausalLM/.test(e.message) && /Gemma2ForSequenceClassification/.test(e.message));
});

test('hook names: TransformerLens order, no resid_mid when parallel, suggestions by edit distance', () => {
  const seq = parseHfConfig({ architectures: ['GPT2LMHeadModel'], n_layer: 2 });
  const par = parseHfConfig({ architectures: ['GPTNeoXForCausalLM'], num_hidden_layers: 2, hidden_size: 64, num_attention_heads: 4 });
  assert.deepEqual(hookNames(seq).slice(0, 5), ['blocks.0.hook_resid_pre', 'blocks.0.hook_attn_out', 'blocks.0.hook_resid_mid', 'blocks.0.hook_mlp_out', 'blocks.0.hook_resid_post']);
  assert.equal(hookNames(seq).length, 11);
  assert.equal(hookNames(par).length, 9);
  const order = hookNames(seq).map((n) => parseHook(n, seq).order);
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
  assert.equal(parseHook('ln_final.hook_normalized', seq).layer, null);
  assert.throws(() => parseHook('blocks.1.hook_mlp_ot', seq), /did you mean "blocks\.1\.hook_mlp_out"/);
  assert.throws(() => parseHook('blocks.1.resid_post', seq), /did you mean "blocks\.1\.hook_resid_post"/);
  assert.throws(() => parseHook('ln_final.hook_normalised', seq), /did you mean "ln_final\.hook_normalized"/);
  assert.throws(() => parseHook('blocks.0.hook_resid_mid', par), /parallel-residual/);
  assert.equal(editDistance('kitten', 'sitting'), 3);
});

test('llama2.c: adjacent-pair rows become rotate-half rows; bad files are ModelErrors', () => {
  // One head of 4 dims (pairs (0,1), (2,3)) over one column: rotate-half order is 0, 2, 1, 3.
  assert.deepEqual([...adjacentToHalfRows(Float32Array.of(0, 1, 2, 3, 10, 11, 12, 13), 2, 4, 1)], [0, 2, 1, 3, 10, 12, 11, 13]);
  const header = (h: number[]) => new Uint8Array(Int32Array.from(h).buffer);
  assert.throws(() => parseLlama2c(header([64, 172, 5, 8, 4, 512, 512])), /needs \d+/);
  assert.throws(() => parseLlama2c(header([0x616b3432, 1, 0, 0, 0, 0, 0])), /version 1 is not supported/);
  assert.throws(() => parseLlama2c(header([64, 172, -5, 8, 4, 512, 512])), /not a llama2\.c checkpoint/);
  assert.throws(() => parseLlama2c(new Uint8Array(10)), /too short/);
});
