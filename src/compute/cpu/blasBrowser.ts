// The BLAS loader for browsers (package.json "browser" maps blas.js here): no native addon, so the
// CPU device uses the TypeScript matmul.

import type { BlasAddon, BlasInfo } from './blas.js';

const INFO: BlasInfo = { available: false, name: '', reason: 'no native addons in a browser', coreType: '' };

/** Always null in a browser. */
export function blasAddon(): BlasAddon | null {
  return null;
}

/** No native kernels in a browser. */
export function nativeKernel<K extends keyof BlasAddon>(_name: K, _n: number): BlasAddon[K] | undefined {
  return undefined;
}

/** Why there is no BLAS here. */
export function blasInfo(): BlasInfo {
  return INFO;
}

/** Nothing to reload in a browser. */
export function reloadBlas(): BlasInfo {
  return INFO;
}

/** No fd 2 in a browser: run fn. */
export function captureStderr<T>(fn: () => T): { value: T; captured: string | null } {
  return { value: fn(), captured: null };
}
