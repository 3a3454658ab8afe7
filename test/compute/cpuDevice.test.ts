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

test('CPU pool: over its byte cap the oldest released arrays go first; the rest still come back', () => {
  const n = 1 << 16; // the smallest pooled length: 256 KiB of f32
  const dev = new CpuDevice(2.5 * 4 * n); // room for two
  const [a, b, c] = [0, 1, 2].map(() => dev.zeros([n]));
  const [da, db, dc] = [a!.data, b!.data, c!.data];
  a!.dispose();
  b!.dispose();
  c!.dispose(); // a is evicted
  assert.equal(dev.pooledByteCount, 2 * 4 * n);
  const got = new Set([dev.zeros([n]).data, dev.zeros([n]).data]);
  assert.ok(got.has(db) && got.has(dc), 'b and c reused');
  assert.equal(dev.pooledByteCount, 0);
  assert.notEqual(dev.zeros([n]).data, da, 'a was let go, not handed out');
  const i = dev.zeros([n], 'i32');
  const di = i.data;
  i.dispose();
  assert.notEqual(dev.zeros([n]).data, di, 'an i32 array never serves an f32 tensor');
  assert.equal(dev.zeros([n], 'i32').data, di);
  assert.equal(dev.pooledByteCount, 0);
});
