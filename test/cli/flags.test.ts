// The shared flag parsers: every count flag reads the same forms and refuses the same mistakes;
// every list flag splits on commas and spaces (path lists: on commas, keeping an existing path whole)
// and adds repeats up.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { countFlag, intFlag, listParser, parseCount, splitList, splitPathList } from '../../src/cli/flags.js';

test('parseCount reads 2M, 500k, 2e6, 2000000, 2_000_000 and 1.5k alike', () => {
  for (const s of ['2M', '2m', '2e6', '2000000', '2_000_000', '2.0M', ' 2M ']) assert.equal(parseCount(s), 2_000_000, s);
  assert.equal(parseCount('500k'), 500_000);
  assert.equal(parseCount('1.5k'), 1500);
  assert.equal(parseCount('1.1k'), 1100);
  assert.equal(parseCount('3G'), 3e9);
  assert.equal(parseCount('0'), 0);
});

test('parseCount refuses signs, fractions and junk', () => {
  for (const s of ['-5', '+5', '1.5', '1e-3', '2MM', 'M', '', '2 M x', '1__0', '_1', '1.2345k', '0x10', 'Infinity']) assert.equal(parseCount(s), null, s);
});

test('count flags: one message names the flag, the bound and the forms', () => {
  const skip = countFlag('--skip-tokens', 0);
  assert.equal(skip('2M'), 2_000_000);
  assert.equal(skip('0'), 0);
  assert.throws(() => skip('-1'), /^UsageError: --skip-tokens must be a whole number ≥ 0, e\.g\. 2000000, 2_000_000, 2e6, 2M or 500k \(got '-1'\)$/);
  assert.throws(() => countFlag('--tokens')('0'), /--tokens must be a positive whole number/);
  assert.throws(() => countFlag('--tokens')('1.5'), /--tokens must be a positive whole number.*got '1\.5'/);
  assert.equal(intFlag('--batch-size', 1)('1k'), 1000, 'integer flags read counts the same way');
  assert.throws(() => intFlag('--context-size', 2)('1'), /--context-size must be a whole number ≥ 2/);
});

test('list parser: commas, spaces and repeats add up; the default is replaced, not extended', () => {
  assert.deepEqual(splitList('a, b c,,d'), ['a', 'b', 'c', 'd']);
  const def = [0];
  const p = listParser('--seeds', countFlag('--seeds', 0), def);
  let v = p('1,2', def);
  v = p('3', v);
  assert.deepEqual(v, [1, 2, 3]);
  assert.deepEqual(def, [0]);
  assert.throws(() => p('1,x', undefined), /--seeds must be a whole number ≥ 0.*got 'x'/);
  assert.throws(() => p(' , ', undefined), /--seeds needs at least one value/);
});

test('path lists: an existing path with spaces or commas is one item; otherwise commas split, spaces do not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'saelab-flags-'));
  try {
    const spaced = join(dir, 'My SAEs', 'topk,k32');
    mkdirSync(spaced, { recursive: true });
    assert.deepEqual(splitPathList(spaced), [spaced]);
    assert.deepEqual(splitPathList(`${join(dir, 'a b')},${join(dir, 'c')}`), [join(dir, 'a b'), join(dir, 'c')]);
    assert.deepEqual(splitPathList(' x , ,y '), ['x', 'y']);
    const p = listParser('--sae', (s: string) => s, undefined, true);
    assert.deepEqual(p(spaced, p(join(dir, 'b'), undefined)), [join(dir, 'b'), spaced]);
    assert.throws(() => p(' , ', undefined), /--sae needs at least one value/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
