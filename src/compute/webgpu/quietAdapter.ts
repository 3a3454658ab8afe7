// Dawn's Vulkan backend prints "Warning: maxDynamic{Uniform,Storage}BuffersPerPipelineLayout
// artificially reduced …" straight to fd 2 while it discovers adapters (lavapipe and RADV report
// 10^5–10^6 where Dawn keeps 16), whatever limits we later request. No toggle or callback silences
// it, so in Node the discovery (synchronous inside requestAdapter) runs with fd 2 captured through
// the native addon, and every other line is passed on. Without the addon, or in a browser, the
// lines still show.

import { captureStderr } from '../cpu/blas.js';

/** The Dawn lines dropped: a fixed internal clamp, nothing the user can act on. */
export const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/** Captured stderr text minus Dawn's limit warnings. */
export function withoutDawnLimitWarnings(text: string): string {
  return text
    .split('\n')
    .filter((l) => !DAWN_LIMIT_WARNING.test(l))
    .join('\n');
}

/** gpu.requestAdapter (high-performance) with Dawn's limit warnings filtered out of stderr. */
export async function requestAdapterQuietly(gpu: GPU): Promise<GPUAdapter | null> {
  const { value, captured } = captureStderr(() => gpu.requestAdapter({ powerPreference: 'high-performance' }));
  if (captured !== null) {
    const rest = withoutDawnLimitWarnings(captured);
    if (rest.trim() !== '') (globalThis as { process?: { stderr: { write(s: string): void } } }).process?.stderr.write(rest.endsWith('\n') ? rest : rest + '\n');
  }
  return value;
}
