// OPENBLAS_CORETYPE choice (src/compute/cpu/blasCoreType.ts): AMD with AVX-512 gets SkylakeX, the
// user's own setting wins, everything else is left to OpenBLAS; the environment is restored.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBlasCoreType, readCpuinfo, withBlasCoreType } from '../../src/compute/cpu/blasCoreType.js';
import { blasInfo } from '../../src/compute/cpu/blas.js';

const AVX512 = 'fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16';
const cpuinfo = (vendor: string, flags: string) => `processor\t: 0\nvendor_id\t: ${vendor}\nflags\t\t: ${flags}\n\nprocessor\t: 1\nvendor_id\t: ${vendor}\nflags\t\t: ${flags}\n`;

test('an AMD CPU with the SkylakeX AVX-512 subsets gets SkylakeX', () => {
  assert.equal(chooseBlasCoreType({}, cpuinfo('AuthenticAMD', AVX512)).set, 'SkylakeX');
});

test('AMD without one of the subsets, Intel, and no cpuinfo are left to OpenBLAS', () => {
  const noVl = chooseBlasCoreType({}, cpuinfo('AuthenticAMD', AVX512.replace('avx512vl', '')));
  assert.equal(noVl.set, null);
  assert.match(noVl.reason, /avx512vl/);
  assert.equal(chooseBlasCoreType({}, cpuinfo('AuthenticAMD', 'avx avx2 fma')).set, null);
  assert.equal(chooseBlasCoreType({}, cpuinfo('GenuineIntel', AVX512)).set, null);
  assert.equal(chooseBlasCoreType({}, null).set, null);
});

test("an OPENBLAS_CORETYPE in the environment wins (with a hint when it costs the AVX-512 kernels), and SAELAB_BLAS_CORETYPE=0 opts out", () => {
  const user = chooseBlasCoreType({ OPENBLAS_CORETYPE: 'Haswell' }, cpuinfo('AuthenticAMD', AVX512));
  assert.equal(user.set, null);
  assert.match(user.reason, /OPENBLAS_CORETYPE=Haswell set in the environment \(this CPU has AVX-512/);
  assert.doesNotMatch(chooseBlasCoreType({ OPENBLAS_CORETYPE: 'skylakex' }, cpuinfo('AuthenticAMD', AVX512)).reason, /unset it/);
  assert.equal(chooseBlasCoreType({ SAELAB_BLAS_CORETYPE: '0' }, cpuinfo('AuthenticAMD', AVX512)).set, null);
});

test('withBlasCoreType sets the variable only while loading, then restores the environment', () => {
  // The machine's environment may pin OPENBLAS_CORETYPE itself; take it out for this test only.
  const pinned = process.env['OPENBLAS_CORETYPE'];
  delete process.env['OPENBLAS_CORETYPE'];
  try {
    const seen = withBlasCoreType({ set: 'SkylakeX', reason: '' }, () => process.env['OPENBLAS_CORETYPE']);
    assert.equal(seen, 'SkylakeX');
    assert.equal(process.env['OPENBLAS_CORETYPE'], undefined);
    assert.throws(() => withBlasCoreType({ set: 'SkylakeX', reason: '' }, () => { throw new Error('load failed'); }), /load failed/);
    assert.equal(process.env['OPENBLAS_CORETYPE'], undefined);
    assert.equal(withBlasCoreType({ set: null, reason: '' }, () => process.env['OPENBLAS_CORETYPE']), undefined);
  } finally {
    if (pinned !== undefined) process.env['OPENBLAS_CORETYPE'] = pinned;
  }
});

test('the loaded OpenBLAS uses the kernels the choice asked for', (t) => {
  const info = blasInfo();
  if (!info.available) return t.skip(`no BLAS addon: ${info.reason}`);
  const choice = chooseBlasCoreType(process.env, readCpuinfo());
  assert.equal(info.coreType, choice.reason);
  // A DYNAMIC_ARCH OpenBLAS names its kernel set in its config string: the one chosen, or the user's.
  const wanted = choice.set ?? process.env['OPENBLAS_CORETYPE'];
  if (wanted && /DYNAMIC_ARCH/.test(info.name)) assert.match(info.name, new RegExp(` ${wanted} `, 'i'));
});
