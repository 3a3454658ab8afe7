// Gradient checks by central finite differences, in float64 so that h can be small.

/** d f / d x_i for every i, by (f(x + h e_i) − f(x − h e_i)) / 2h; x is perturbed in place and restored. */
export function numericGrad(f: () => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    x[i] = xi + h;
    const up = f();
    x[i] = xi - h;
    const down = f();
    x[i] = xi;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

/** Σ a_i b_i in float64 (turns a vector output into the scalar loss whose upstream gradient is b). */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** A float64 copy of an array. */
export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}
