// The CPU device's pool of large arrays: a released large array is handed out again zeroed; small
// arrays, wrapped (caller-owned) arrays and a storage released twice through two views never are.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuDevice } from '../../src/compute/cpu/cpuDevice.js';

const BIG = 1 << 22;

test('CPU pool: a released large array comes back zeroed; a small one never does', () => {
  const dev = new CpuDevice();
  const a = dev.zeros([BIG]);
  const data = a.data as Float32Array;
  data.fill(3);
  a.dispose();
  const b = dev.zeros([2, BIG / 2]);
  assert.equal(b.data, data, 'the same array, reused');
  assert.ok((b.data as Float32Array).every((v) => v === 0), 'zeroed');
  assert.notEqual(dev.zeros([BIG], 'i32').data, data, 'another dtype gets its own');
  const s = dev.zeros([16]);
  const sd = s.data;
  s.dispose();
  assert.notEqual(dev.zeros([16]).data, sd);
});

test('CPU pool: wrapped arrays are the caller\'s; two views released once each give one reuse', () => {
  const dev = new CpuDevice();
  const mine = new Float32Array(BIG).fill(7);
  dev.wrap(mine).dispose();
  assert.notEqual(dev.zeros([BIG]).data, mine);
  assert.ok(mine.every((v) => v === 7), 'untouched');
  const t = dev.zeros([BIG]);
  const view = t.reshape([4, BIG / 4]);
  t.dispose();
  view.dispose(); // the same storage again: must not enter the pool twice
  const x = dev.zeros([BIG]);
  const y = dev.zeros([BIG]);
  assert.notEqual(x.data, y.data, 'two live tensors never share an array');
});

test('CPU pool: uninitialized reuses a released large array without zeroing it; small ones are fresh', () => {
  const dev = new CpuDevice();
  const a = dev.zeros([BIG]);
  const data = a.data as Float32Array;
  data.fill(3);
  a.dispose();
  const b = dev.uninitialized([BIG]);
  assert.equal(b.data, data, 'the same array, reused');
  assert.equal((b.data as Float32Array)[BIG - 1], 3, 'not zeroed (its every element is to be written)');
  assert.deepEqual(b.shape, [BIG]);
  assert.ok((dev.uninitialized([16]).data as Float32Array).every((v) => v === 0), 'a small one is a fresh (zero) array');
});

test('readThenDispose: the CPU array itself (no copy), then disposed, also when the callback throws', async () => {
  const dev = new CpuDevice();
  const data = Float32Array.of(1, 2, 3);
  const t = dev.wrap(data);
  const seen = await t.readThenDispose((v) => v);
  assert.equal(seen, data, 'the callback saw the storage, not a copy');
  assert.ok(t.isDisposed);
  const u = dev.fromArray(Float32Array.of(4));
  await assert.rejects(u.readThenDispose(() => { throw new Error('boom'); }), /boom/);
  assert.ok(u.isDisposed);
});
