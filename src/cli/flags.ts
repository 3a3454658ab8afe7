// Parsers for flag values, shared by every command: each turns a bad value into a one-line
// UsageError that names the flag (exit 2). One parser per kind of value, so every count flag takes
// the same forms and every list flag the same separators.

import { existsSync } from 'node:fs';
import { Option } from 'commander';
import { UsageError } from './errors.js';

const SUFFIX: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };
const COUNT_RE = /^(\d+(?:_\d+)*)(?:\.(\d+(?:_\d+)*))?(?:e(\d+))?([kmg]?)$/i;

/**
 * A whole number written as `2000000`, `2_000_000`, `2e6`, `2M`, `500k` or `1.5k` (k = 10³,
 * M = 10⁶, G = 10⁹): null when `s` is not one (a sign, a fraction such as `1.5`, junk).
 */
export function parseCount(s: string): number | null {
  const m = COUNT_RE.exec(s.trim());
  if (!m) return null;
  const mantissa = Number(`${m[1]!.replace(/_/g, '')}.${(m[2] ?? '0').replace(/_/g, '')}`);
  const n = mantissa * 10 ** Number(m[3] ?? 0) * SUFFIX[m[4]!.toLowerCase()]!;
  // Products such as 1.1 × 1e3 carry float error: accept what rounds to a whole number within it.
  const r = Math.round(n);
  if (!Number.isSafeInteger(r) || Math.abs(n - r) > 1e-9 * Math.max(1, r)) return null;
  return r;
}

/** The one-line message for a bad count. */
function countMessage(flag: string, min: number, s: string): string {
  const what = min === 0 ? 'a whole number ≥ 0' : min === 1 ? 'a positive whole number' : `a whole number ≥ ${min}`;
  return `${flag} must be ${what}, e.g. 2000000, 2_000_000, 2e6, 2M or 500k (got '${s}')`;
}

/** A whole number ≥ `min`, in any form parseCount reads (every count and integer flag uses this). */
export function countFlag(flag: string, min = 1) {
  return (s: string): number => {
    const n = parseCount(s);
    if (n === null || n < min) throw new UsageError(countMessage(flag, min, s));
    return n;
  };
}

/** A whole number ≥ `min` (the same forms as countFlag: sizes, seeds and steps read like counts). */
export function intFlag(flag: string, min: number) {
  return countFlag(flag, min);
}

/** A finite number ≥ `min`. */
export function numFlag(flag: string, min: number) {
  return (s: string): number => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be a number ≥ ${min} (got '${s}')`);
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

/** Split one list argument: commas and/or whitespace separate items ("a,b", "a b", "a, b"). */
export function splitList(s: string): string[] {
  return s.split(/[\s,]+/).filter((p) => p !== '');
}

/**
 * Split one list argument of paths: an argument that names an existing file or folder is one item
 * (so `My SAEs/a` or `runs/a,b` stays whole); otherwise commas separate items. Whitespace never
 * does: the shell already split unquoted arguments, and a quoted one meant its spaces.
 */
export function splitPathList(s: string): string[] {
  if (existsSync(s)) return [s];
  return s.split(',').map((p) => p.trim()).filter((p) => p !== '');
}

/**
 * The argument parser of a list flag: each argument is split by splitList (splitPathList when
 * `paths`) and each item read by `item`; repeated flags and several arguments after one flag
 * (`--hooks a b`, `--hooks a,b`, `--hooks a --hooks b`) all add up. `initial` is the option's
 * default, which the first value replaces rather than extends.
 */
export function listParser<T>(flag: string, item: (s: string) => T, initial?: readonly T[], paths = false) {
  return (s: string, previous: T[] | undefined): T[] => {
    const parts = paths ? splitPathList(s) : splitList(s);
    if (parts.length === 0) throw new UsageError(`${flag} needs at least one value (got '${s}')`);
    const base = previous === undefined || previous === initial ? [] : previous;
    return [...base, ...parts.map(item)];
  };
}

/**
 * A list option `--name <values...>` (variadic: `--name a b`, `--name a,b`, repeated `--name a
 * --name b`), each item read by `item`. A command with positional arguments should pass
 * `variadic: false` (then `--name a,b` or repeats), so the option does not swallow them. `paths`:
 * the items are files or folders (splitPathList: spaces and commas inside a path survive).
 */
export function listOption<T>(flags: string, description: string, item: (s: string) => T, o: { default?: readonly T[]; defaultText?: string; variadic?: boolean; paths?: boolean } = {}): Option {
  const variadic = o.variadic ?? true;
  const spec = variadic ? flags.replace(/<([^>.]+)>/, '<$1...>') : flags;
  const flag = flags.split(/[ ,]/)[0]!;
  const how = o.paths ? `${variadic ? 'separate arguments or ' : ''}comma-separated; an existing path is taken whole` : variadic ? 'space- or comma-separated' : 'comma-separated';
  const opt = new Option(spec, `${description} (${how}; may repeat)`).argParser(listParser(flag, item, o.default, o.paths ?? false));
  if (o.default !== undefined) opt.default(o.default, o.defaultText);
  return opt;
}

/** Items of a list flag that are plain strings (hook names, folders). */
export const anyString = (s: string): string => s;

/** Items of a list flag that are whole numbers ≥ `min`. */
export function countItem(flag: string, min: number) {
  return countFlag(flag, min);
}

/** Items of a list flag that are finite numbers ≥ `min`. */
export function numItem(flag: string, min: number) {
  return numFlag(flag, min);
}
