// Display strings of tokens (tokenPieces) on the shared gpt2-corpus-tiny byte-level BPE: a character
// whose UTF-8 bytes fall in two or more tokens is shown whole instead of "��", the pieces still join
// to the decoded text, and tokens without split characters keep their own decode.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadTokenizer, tokenPieces } from '../../src/model/tokenizers/index.js';
import { ASSETS, needsAsset } from '../io/assets.js';

test('tokenPieces shows split characters whole and keeps clean tokens', { skip: needsAsset('models/gpt2-corpus-tiny') }, async () => {
  const tok = await loadTokenizer(join(ASSETS, 'models/gpt2-corpus-tiny'));
  const text = 'the café served 🍕 and 漢字 <script>x</script> ok';
  const ids = tok.encode(text);
  const alone = ids.map((id) => tok.decode([id]));
  assert.ok(alone.some((s) => s.includes('\uFFFD')), 'the text has characters split across tokens');
  const pieces = tokenPieces(tok, ids);
  assert.equal(pieces.length, ids.length);
  assert.equal(pieces.join(''), text);
  assert.ok(pieces.every((s) => !s.includes('\uFFFD')), JSON.stringify(pieces));
  assert.ok(pieces.includes('🍕') || pieces.some((p) => p.endsWith('🍕')), JSON.stringify(pieces));
  pieces.forEach((p, k) => {
    if (!alone[k]!.includes('\uFFFD')) assert.equal(p, alone[k]);
  });
  // A truncated character at the end keeps its replacement mark.
  const cut = tokenPieces(tok, ids.slice(0, ids.findIndex((_, k) => alone[k]!.includes('\uFFFD')) + 1));
  assert.ok(cut.at(-1)!.includes('\uFFFD'));
});
