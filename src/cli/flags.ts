// Parsers for flag values, shared by every command: each turns a bad value into a one-line
// UsageError that names the flag (exit 2).

import { UsageError } from './errors.js';

/** A whole number ≥ `min` (digits only: no signs, fractions or exponents). */
export function intFlag(flag: string, min: number) {
  return (s: string): number => {
    const n = Number(s);
    if (!/^\s*\d+\s*$/.test(s) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer ≥ ${min} (got '${s}')`);
    return n;
  };
}

/** A finite number ≥ `min`. */
export function numFlag(flag: string, min: number) {
  return (s: string): number => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be a number ≥ ${min} (got '${s}')`);
    return n;
  };
}

/** A count written as `20M`, `500k`, `1e6` or a plain integer. */
export function countFlag(flag: string) {
  return (s: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmMgG]?)\s*$/.exec(s);
    const n = m ? Math.round(Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[m[2]!.toLowerCase()]!) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive whole number such as 500000, 500k, 2e6 or 20M (got '${s}')`);
    return n;
  };
}

/** One of a fixed set of words. */
export function choice<T extends string>(flag: string, values: readonly T[]) {
  return (s: string): T => {
    if (!(values as readonly string[]).includes(s)) throw new UsageError(`${flag} must be one of ${values.join(', ')} (got '${s}')`);
    return s as T;
  };
}
