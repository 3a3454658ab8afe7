// Telling a software (CPU-emulated) WebGPU adapter from a GPU. Mesa's llvmpipe/lavapipe, Google's
// SwiftShader and Windows' WARP run the kernels on the CPU at a few GFLOP/s: far slower than our
// BLAS CPU path, so `--device auto` must not pick them.

/** The adapter-info fields we look at (a subset of GPUAdapterInfo; Dawn adds `adapterType` on some builds). */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
  /** Dawn's adapter type: 'discrete GPU', 'integrated GPU', 'CPU' or 'unknown'. */
  adapterType?: string;
}

// Names of known software rasterizers, as they appear in vendor/architecture/device/description.
const SOFTWARE_NAMES: readonly [RegExp, string][] = [
  [/llvmpipe/i, 'llvmpipe'],
  [/lavapipe/i, 'lavapipe'],
  [/swiftshader/i, 'SwiftShader'],
  [/softpipe/i, 'softpipe'],
  [/microsoft basic render|\bwarp\b/i, 'WARP'],
];

/**
 * The software renderer's name when the adapter runs on the CPU (llvmpipe, lavapipe, SwiftShader,
 * WARP, or 'software' when only the fallback flag or a CPU adapter type says so); null for a GPU.
 */
export function softwareAdapterName(info: AdapterInfoLike): string | null {
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  for (const [re, name] of SOFTWARE_NAMES) if (re.test(text)) return name;
  if (info.isFallbackAdapter === true) return 'software';
  if (info.adapterType !== undefined && /^cpu$/i.test(info.adapterType.trim())) return 'software';
  return null;
}
