// Which OpenBLAS kernel set to ask for before the library loads. OpenBLAS picks its kernels once,
// in its load-time constructor, from the CPU's family/model; releases before it knew AMD's AVX-512
// parts (Zen 4/5; e.g. Debian 12's 0.3.21) fall back to the AVX2 "Haswell"/"Zen" kernels there,
// which reach half the machine's float32 GEMM rate (BENCHMARKS.md: 225 vs 440 GFLOP/s on 2 Zen 5
// cores). Setting OPENBLAS_CORETYPE=SkylakeX (AVX-512F/CD/BW/DQ/VL, all present on those parts)
// before the load selects the AVX-512 kernels; newer OpenBLAS picks the same set by itself.

import { readFileSync } from 'node:fs';

/** The AVX-512 subsets OpenBLAS's SkylakeX kernels are built for (its own support check asks for these). */
const SKYLAKEX_FLAGS = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'] as const;

/** What to do about OPENBLAS_CORETYPE and why (`saelab devices` prints the reason). */
export interface CoreTypeChoice {
  /** The value to set before loading OpenBLAS, or null to leave OpenBLAS's own detection alone. */
  set: string | null;
  reason: string;
}

/**
 * Decide OPENBLAS_CORETYPE from the user's environment and /proc/cpuinfo's text: a value the user
 * set always wins; an AMD CPU with the SkylakeX AVX-512 subsets gets SkylakeX; anything else is left
 * to OpenBLAS.
 */
export function chooseBlasCoreType(env: NodeJS.ProcessEnv, cpuinfo: string | null): CoreTypeChoice {
  const userValue = env['OPENBLAS_CORETYPE'];
  if (userValue !== undefined && userValue !== '') {
    const auto = chooseBlasCoreType({ ...env, OPENBLAS_CORETYPE: '' }, cpuinfo);
    const hint = auto.set !== null && auto.set.toLowerCase() !== userValue.toLowerCase()
      ? ` (this CPU has AVX-512: unset it for OpenBLAS's ${auto.set} kernels, about twice the GEMM rate)`
      : '';
    return { set: null, reason: `OPENBLAS_CORETYPE=${userValue} set in the environment${hint}` };
  }
  const optOut = env['SAELAB_BLAS_CORETYPE'];
  if (optOut === '0') return { set: null, reason: 'SAELAB_BLAS_CORETYPE=0: OpenBLAS detects the CPU' };
  if (cpuinfo === null) return { set: null, reason: 'no /proc/cpuinfo: OpenBLAS detects the CPU' };
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1] ?? '';
  const flagsLine = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  const flags = new Set(flagsLine.trim().split(/\s+/));
  if (vendor !== 'AuthenticAMD') return { set: null, reason: `${vendor || 'unknown vendor'}: OpenBLAS detects the CPU` };
  const missing = SKYLAKEX_FLAGS.filter((f) => !flags.has(f));
  if (missing.length > 0) return { set: null, reason: `AMD without ${missing.join(', ')}: OpenBLAS detects the CPU` };
  return { set: 'SkylakeX', reason: 'AMD CPU with AVX-512: OpenBLAS told to use its AVX-512 (SkylakeX) kernels' };
}

/** /proc/cpuinfo's text, or null where there is none (macOS, Windows). */
export function readCpuinfo(): string | null {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

/**
 * Run `load` (which dlopens OpenBLAS) with OPENBLAS_CORETYPE set as chosen, then restore the
 * environment so child processes (a PyTorch reference run, say) see only what the user set.
 */
export function withBlasCoreType<T>(choice: CoreTypeChoice, load: () => T): T {
  if (choice.set === null) return load();
  process.env['OPENBLAS_CORETYPE'] = choice.set;
  try {
    return load();
  } finally {
    delete process.env['OPENBLAS_CORETYPE'];
  }
}
