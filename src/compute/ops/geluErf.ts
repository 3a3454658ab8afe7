// The exact GELU, y = x·Φ(x) with Φ(x) = ½·erfc(−x/√2) (torch.nn.functional.gelu's default,
// HF `hidden_act: "gelu"`, Pythia), and its backward dx = dy·(Φ(x) + x·φ(x)), φ the normal density.
// (activations.ts has GPT-2's tanh form, "gelu_new"; the two differ by up to ~1e-3.)
//
// CPU twin: float64 erf/erfc (a positive-term series near 0, a continued fraction in the tails),
// accurate to ~1e-15. WGSL has no erf, so the kernel evaluates Chebyshev expansions on unit intervals
// of z = |x|/√2: erf on [0, 1), erfc on [1, 2), …, [4, 5), and erfc = 0 past 5 (erfc(5) ≈ 1.5e-12).
// The coefficients are computed here, at load, from the float64 twin, so the two cannot drift
// apart; in f32 the kernel is within ~1e-7 of Φ.

import type { Tensor } from '../tensor.js';
import type { Floats } from './elementwise.js';
import { pointwiseWgsl, runPointwise, runPointwiseBackward } from './wgslGen.js';

// ---- float64 erf -------------------------------------------------------------------------------

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf(x) for |x| < 3: (2/√π)·e^{−x²}·Σ_n x·(2x²)^n / (1·3·…·(2n+1)), every term positive. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc(x) for x ≥ 1.5 (120 terms converge there to double precision): e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail. */
function erfcContinuedFraction(x: number): number {
  let t = x;
  for (let n = 120; n >= 1; n--) t = x + n / 2 / t;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / t;
}

/** erf in float64 (|error| ~1e-16). */
export function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) < 3) return erfSeries(x);
  const c = erfcContinuedFraction(Math.abs(x));
  return x > 0 ? 1 - c : c - 1;
}

/** erfc = 1 − erf in float64, with full relative precision in the right tail. */
export function erfc64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  // 1 − erf would cancel where erfc is small: the continued fraction from 1.5 on.
  if (x >= 1.5) return erfcContinuedFraction(x);
  if (x <= -1.5) return 2 - erfcContinuedFraction(-x);
  return 1 - erfSeries(x);
}

/** Φ(x), the standard normal CDF, = ½·erfc(−x/√2). */
export function normalCdf64(x: number): number {
  return 0.5 * erfc64(-x * SQRT1_2);
}

// ---- CPU twins ---------------------------------------------------------------------------------

/** Exact GELU: y = x·Φ(x). */
export function geluErfCpu(x: Floats, y: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = v * normalCdf64(v);
  }
}

/** Exact GELU backward: dx = dy·(Φ(x) + x·φ(x)). */
export function geluErfBackwardCpu(x: Floats, dy: Floats, dx: Floats): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = dy[i]! * (normalCdf64(v) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
  }
}

// ---- WGSL --------------------------------------------------------------------------------------

/** Chebyshev terms per unit interval; the truncation error (~1e-13) is far below f32's. */
const CHEB_TERMS = 16;
const CHEB_INTERVALS = 5;

/** Coefficients c_0..c_{n−1} with f(a + (t+1)/2) ≈ Σ c_j T_j(t) on t ∈ [−1, 1] (c_0 already halved). */
export function chebyshevCoefficients(f: (z: number) => number, a: number, n = CHEB_TERMS): number[] {
  const nodes = Array.from({ length: n }, (_, k) => Math.cos((Math.PI * (k + 0.5)) / n));
  const fv = nodes.map((t) => f(a + (t + 1) / 2));
  return Array.from({ length: n }, (_, j) => {
    let s = 0;
    for (let k = 0; k < n; k++) s += fv[k]! * Math.cos((Math.PI * j * (k + 0.5)) / n);
    return ((j === 0 ? 1 : 2) / n) * s;
  });
}

/** Interval 0 approximates erf(z) on [0, 1); interval k ≥ 1 approximates erfc(z) on [k, k + 1). */
const COEFFS = Array.from({ length: CHEB_INTERVALS }, (_, k) => chebyshevCoefficients(k === 0 ? erf64 : erfc64, k)).flat();

const wgslF32 = (v: number): string => `${Math.fround(v).toExponential(9)}f`;

const PHI_WGSL = /* wgsl */ `
var<private> CHEB: array<f32, ${COEFFS.length}> = array<f32, ${COEFFS.length}>(${COEFFS.map(wgslF32).join(', ')});
// Σ_j CHEB[k·n + j]·T_j(t) by Clenshaw's recurrence (stable in f32).
fn cheb(k: u32, t: f32) -> f32 {
  let o = k * ${CHEB_TERMS}u;
  var b1 = 0.0;
  var b2 = 0.0;
  for (var j = ${CHEB_TERMS - 1}u; j >= 1u; j--) {
    let b0 = 2.0 * t * b1 - b2 + CHEB[o + j];
    b2 = b1;
    b1 = b0;
  }
  return t * b1 - b2 + CHEB[o];
}
// Φ(x) = ½·(1 + sign(x)·erf(z)) with z = |x|/√2: erf on [0, 1), erfc on [1, ${CHEB_INTERVALS}), erfc = 0 beyond.
fn normalCdf(x: f32) -> f32 {
  let z = abs(x) * ${wgslF32(SQRT1_2)};
  if (z < 1.0) {
    return 0.5 + 0.5 * sign(x) * cheb(0u, 2.0 * z - 1.0);
  }
  var c = 0.0;
  if (z < ${CHEB_INTERVALS}.0) {
    let k = u32(floor(z));
    c = cheb(k, 2.0 * (z - f32(k)) - 1.0);
  }
  return select(0.5 * c, 1.0 - 0.5 * c, x > 0.0);
}
// φ(x), the normal density; x is clamped so that x² stays finite (φ(±20) is 0 in f32 anyway).
fn normalPdf(x: f32) -> f32 {
  let xc = clamp(x, -20.0, 20.0);
  return ${wgslF32(INV_SQRT_2PI)} * exp(-0.5 * xc * xc);
}`;

const FORWARD_WGSL = pointwiseWgsl([['x', 'read'], ['y', 'read_write']], 'n: u32', 'let v = x[i];\n  y[i] = v * normalCdf(v);', PHI_WGSL);
const BACKWARD_WGSL = pointwiseWgsl(
  [['x', 'read'], ['dy', 'read'], ['dx', 'read_write']],
  'n: u32',
  'let v = x[i];\n  dx[i] = dy[i] * (normalCdf(v) + v * normalPdf(v));',
  PHI_WGSL,
);

// ---- dispatch ----------------------------------------------------------------------------------

/** Exact (erf) GELU, same shape. */
export function geluErf(x: Tensor): Tensor {
  return runPointwise(x, 'gelu_erf', geluErfCpu, FORWARD_WGSL);
}

/** Gradient of the exact GELU: dx = dy ⊙ (Φ(x) + x·φ(x)), from the saved input x. */
export function geluErfBackward(x: Tensor, dy: Tensor): Tensor {
  return runPointwiseBackward(x, dy, 'gelu_erf_backward', geluErfBackwardCpu, BACKWARD_WGSL);
}
