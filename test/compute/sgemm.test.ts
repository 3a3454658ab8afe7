// sgemm: both backends (OpenBLAS addon, pure TypeScript) against hand-computed values and a naive
// float64 triple loop. BLAS-only tests report as skipped (with the reason) when the addon is absent;
// SAELAB_REQUIRE_BLAS=1 turns that into a failure, for CI machines that install libopenblas-dev.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blasAddon, blasInfo, reloadBlas } from '../../src/compute/cpu/blas.js';
import { sgemm, sgemmBackend, sgemmBatched, sgemmTypescript, type SgemmArgs } from '../../src/compute/cpu/sgemm.js';
import { Rng } from '../../src/compute/random.js';
import { assertClose } from '../helpers/assertClose.js';

const info = blasInfo();
const blasSkip: string | false = info.available ? false : `OpenBLAS addon unavailable: ${info.reason}`;

type Gemm = (g: SgemmArgs) => void;
const backends: { name: string; fn: Gemm; skip: string | false }[] = [
  { name: 'typescript', fn: sgemmTypescript, skip: false },
  { name: 'openblas', fn: sgemm, skip: blasSkip },
];

// A = [[1,2,3],[4,5,6]], B = [[7,8],[9,10],[11,12]], A·B = [[58,64],[139,154]].
const A = [1, 2, 3, 4, 5, 6];
const At = [1, 4, 2, 5, 3, 6];
const B = [7, 8, 9, 10, 11, 12];
const Bt = [7, 9, 11, 8, 10, 12];
const AB = [58, 64, 139, 154];

function hand(transA: boolean, transB: boolean, over: Partial<SgemmArgs> = {}): SgemmArgs {
  return {
    transA, transB, M: 2, N: 2, K: 3, alpha: 1, beta: 0,
    A: new Float32Array(transA ? At : A), aOffset: 0, lda: transA ? 2 : 3,
    B: new Float32Array(transB ? Bt : B), bOffset: 0, ldb: transB ? 3 : 2,
    C: new Float32Array(4), cOffset: 0, ldc: 2,
    ...over,
  };
}

/** Float64 reference: C = alpha·op(A)·op(B) + beta·C, element by element. */
function naive(g: SgemmArgs): Float32Array {
  const C = g.C.slice();
  for (let i = 0; i < g.M; i++) {
    for (let j = 0; j < g.N; j++) {
      let acc = 0;
      for (let k = 0; k < g.K; k++) {
        const a = g.transA ? g.A[g.aOffset + k * g.lda + i]! : g.A[g.aOffset + i * g.lda + k]!;
        const b = g.transB ? g.B[g.bOffset + j * g.ldb + k]! : g.B[g.bOffset + k * g.ldb + j]!;
        acc += a * b;
      }
      const c = g.cOffset + i * g.ldc + j;
      C[c] = g.alpha * acc + (g.beta === 0 ? 0 : g.beta * C[c]!);
    }
  }
  return C;
}

/** Random problem with padding around every matrix (offset, ld > row length, tail). */
function randomCase(rng: Rng, M: number, K: number, N: number, transA: boolean, transB: boolean): SgemmArgs {
  const [ar, ac] = transA ? [K, M] : [M, K];
  const [br, bc] = transB ? [N, K] : [K, N];
  const lda = ac + 3, ldb = bc + 1, ldc = N + 2;
  const aOffset = 5, bOffset = 2, cOffset = 7;
  return {
    transA, transB, M, N, K, alpha: 0.75, beta: -0.5,
    A: rng.normalArray(aOffset + ar * lda + 4), aOffset, lda,
    B: rng.normalArray(bOffset + br * ldb + 4), bOffset, ldb,
    C: rng.normalArray(cOffset + M * ldc + 4), cOffset, ldc,
  };
}

const transposes: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

for (const be of backends) {
  test(`sgemm ${be.name}: hand-computed 2×3·3×2, all transposes`, { skip: be.skip }, () => {
    for (const [ta, tb] of transposes) {
      const g = hand(ta, tb);
      be.fn(g);
      assert.deepEqual([...g.C], AB, `transA=${ta} transB=${tb}`);
    }
  });

  test(`sgemm ${be.name}: alpha, beta, and beta=0 ignores NaN in C`, { skip: be.skip }, () => {
    const g = hand(false, false, { alpha: 2, beta: -1, C: new Float32Array([1, 2, 3, 4]) });
    be.fn(g);
    assert.deepEqual([...g.C], [115, 126, 275, 304]);
    const z = hand(true, true, { C: new Float32Array([NaN, NaN, Infinity, NaN]) });
    be.fn(z);
    assert.deepEqual([...z.C], AB);
  });

  test(`sgemm ${be.name}: offsets and leading dimensions leave padding untouched`, { skip: be.skip }, () => {
    const S = -999;
    // A at offset 3 with lda 5; B^T at offset 2 with ldb 4; C at offset 1 with ldc 3.
    const a = new Float32Array(3 + 2 * 5).fill(S);
    a.set(A.slice(0, 3), 3);
    a.set(A.slice(3), 8);
    const b = new Float32Array(2 + 2 * 4).fill(S);
    b.set(Bt.slice(0, 3), 2);
    b.set(Bt.slice(3), 6);
    const c = new Float32Array(1 + 2 * 3 + 1).fill(S);
    c[1] = 0; c[2] = 0; c[4] = 0; c[5] = 0;
    be.fn({ transA: false, transB: true, M: 2, N: 2, K: 3, alpha: 1, A: a, aOffset: 3, lda: 5,
      B: b, bOffset: 2, ldb: 4, beta: 1, C: c, cOffset: 1, ldc: 3 });
    assert.deepEqual([...c], [S, 58, 64, S, 139, 154, S, S]);
  });

  test(`sgemm ${be.name}: K = 0 scales C by beta; M = 0 and N = 0 are no-ops`, { skip: be.skip }, () => {
    const C = new Float32Array([1, 2, 3, 4]);
    be.fn({ ...hand(false, false), K: 0, lda: 1, ldb: 2, beta: 3, C });
    assert.deepEqual([...C], [3, 6, 9, 12]);
    be.fn({ ...hand(false, false), M: 0, beta: 0, C });
    be.fn({ ...hand(false, false), N: 0, ldb: 1, beta: 0, C });
    assert.deepEqual([...C], [3, 6, 9, 12]);
  });

  test(`sgemm ${be.name}: matches a naive float64 loop on random odd sizes, all transposes`, { skip: be.skip }, () => {
    const rng = new Rng(7);
    // M×K×N; 300 > one 256-deep K block and 600 > one 512-wide N block of the TS kernel.
    const shapes: [number, number, number][] = [[1, 1, 1], [17, 33, 65], [129, 7, 300], [5, 300, 3], [6, 9, 600]];
    for (const [M, K, N] of shapes) {
      for (const [ta, tb] of transposes) {
        const g = randomCase(rng, M, K, N, ta, tb);
        const want = naive(g);
        be.fn(g);
        // Float32 accumulation error grows like sqrt(K) for unit-normal inputs.
        const tol = 1e-4 * Math.sqrt(K);
        assertClose(g.C, want, { atol: tol, rtol: 1e-4 }, `${be.name} ${M}×${K}×${N} transA=${ta} transB=${tb}`);
      }
    }
  });

  test(`sgemm ${be.name}: out-of-range arguments throw`, { skip: be.skip }, () => {
    const bad: [string, Partial<SgemmArgs>, RegExp][] = [
      ['A too short', { A: new Float32Array(5) }, /A .*needs 6 elements but has 5/],
      ['A offset past end', { aOffset: 1 }, /A .*needs 7/],
      ['B offset past end', { bOffset: 100 }, /B .*needs/],
      ['C too short', { C: new Float32Array(3) }, /C .*needs 4/],
      ['ldc too large for C', { ldc: 3 }, /C .*needs 5/],
      ['lda below row length', { lda: 2 }, /lda = 2 is less than the stored row length 3/],
      ['negative M', { M: -1 }, /M must be an integer/],
      ['fractional K', { K: 2.5 }, /K must be an integer/],
      ['huge N', { N: 2 ** 31 }, /N must be an integer/],
      ['negative offset', { cOffset: -1 }, /C offset must be/],
    ];
    for (const [what, over, msg] of bad) {
      const g = hand(false, false, over);
      const before = g.C.slice();
      assert.throws(() => be.fn(g), (e: unknown) => e instanceof RangeError && msg.test(e.message), what);
      assert.deepEqual(g.C, before, `${what}: C unchanged`);
    }
    assert.throws(() => be.fn(hand(false, false, { A: new Float64Array(6) as unknown as Float32Array })), TypeError);
  });
}

test('sgemmBatched matches per-item sgemm; out-of-range last item throws', () => {
  const rng = new Rng(3);
  const M = 5, K = 7, N = 9, batch = 4;
  const sa = M * K + 2, sb = K * N + 1, sc = M * N + 3;
  const g = {
    transA: false, transB: true, M, N, K, alpha: 1.5, beta: 0.5,
    A: rng.normalArray(batch * sa), aOffset: 0, lda: K,
    B: rng.normalArray(batch * sb), bOffset: 0, ldb: K,
    C: rng.normalArray(batch * sc), cOffset: 0, ldc: N,
    batch, strideA: sa, strideB: sb, strideC: sc,
  };
  const want = g.C.slice();
  for (let i = 0; i < batch; i++) {
    sgemmTypescript({ ...g, C: want, aOffset: i * sa, bOffset: i * sb, cOffset: i * sc });
  }
  sgemmBatched(g);
  assertClose(g.C, want, { atol: 1e-5, rtol: 1e-5 }, `batched (${sgemmBackend()})`);
  assert.throws(() => sgemmBatched({ ...g, batch: batch + 1 }), /A .*5 items .*needs/);
  assert.throws(() => sgemmBatched({ ...g, strideC: -1 }), /strideC must be/);
});

for (const be of backends) {
  test(`sgemm ${be.name}: bit-reproducible run to run`, { skip: be.skip }, () => {
    const rng = new Rng(11);
    const g = randomCase(rng, 137, 300, 141, true, false);
    const c0 = g.C.slice();
    be.fn(g);
    const first = g.C.slice();
    g.C.set(c0);
    be.fn(g);
    assert.deepEqual(g.C, first);
  });
}

test('SAELAB_NO_BLAS=1 selects the TypeScript backend', () => {
  const saved = process.env['SAELAB_NO_BLAS'];
  try {
    process.env['SAELAB_NO_BLAS'] = '1';
    const off = reloadBlas();
    assert.equal(off.available, false);
    assert.match(off.reason, /SAELAB_NO_BLAS/);
    assert.equal(sgemmBackend(), 'typescript');
    const g = hand(true, false);
    sgemm(g);
    assert.deepEqual([...g.C], AB);
  } finally {
    if (saved === undefined) delete process.env['SAELAB_NO_BLAS'];
    else process.env['SAELAB_NO_BLAS'] = saved;
    reloadBlas();
  }
  assert.equal(sgemmBackend(), blasInfo().available ? 'openblas' : 'typescript');
});

test('OpenBLAS addon: reports its configuration and checks ranges itself', { skip: blasSkip }, () => {
  assert.match(blasInfo().name, /\d+ threads/);
  assert.equal(sgemmBackend(), 'openblas');
  const addon = blasAddon()!;
  const a = new Float32Array(6), b = new Float32Array(6), c = new Float32Array(4);
  // Called directly, past the JS checks: the C code must refuse, not read past the array.
  assert.throws(() => addon.sgemm(false, false, 2, 2, 3, 1, a, 1, 3, b, 0, 2, 0, c, 0, 2), RangeError);
  assert.throws(() => addon.sgemm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 1, 2), RangeError);
  assert.throws(() => addon.sgemm(false, false, 2, 2, 3, 1, a, 0, 2, b, 0, 2, 0, c, 0, 2), RangeError);
  assert.throws(() => addon.sgemmBatched(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2, 2, 0, 0, 1), RangeError);
  const sub = new Float32Array(new Float32Array([9, 1, 2, 3, 4, 5, 6]).buffer, 4); // view with byteOffset
  addon.sgemm(false, false, 2, 2, 3, 1, sub, 0, 3, new Float32Array(B), 0, 2, 0, c, 0, 2);
  assert.deepEqual([...c], AB);
});

test('OpenBLAS addon is required here (SAELAB_REQUIRE_BLAS=1)', { skip: process.env['SAELAB_REQUIRE_BLAS'] === '1' ? false : 'SAELAB_REQUIRE_BLAS is not set' }, () => {
  assert.ok(info.available, `SAELAB_REQUIRE_BLAS=1 but ${info.reason}`);
});
