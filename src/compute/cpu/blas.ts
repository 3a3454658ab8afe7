// Placeholder replaced by the BLAS helper: loader for the native OpenBLAS addon.
export interface BlasInfo { available: boolean; name: string; reason: string }
/** Whether the native sgemm addon is loaded, and why not when it is not. */
export function blasInfo(): BlasInfo {
  return { available: false, name: '', reason: 'not built yet' };
}
