// "Text → features" inside the page, for a static site exported with --with-model: the bundled
// in-browser model and SAE (ui/localFeatures.js, reading the site's model-data/ folder) run the
// text on WebGPU or the CPU. The module is loaded only when the user first presses Run, so a site
// without the model never asks for it.

import type { TextAnswer } from './types.js';

/** What ui/localFeatures.js exports (src/browser/localFeatures.ts). */
interface LocalFeaturesModule {
  openLocalFeatures(base: string, opts?: { device?: 'auto' | 'webgpu' | 'cpu'; onProgress?: (loaded: number, total: number, file: string) => void }): Promise<LocalFeatures>;
}

interface LocalFeatures {
  backend: 'webgpu' | 'cpu';
  reason: string;
  run(text: string): Promise<TextAnswer>;
  dispose(): void;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** A runner of text → features in this page: the first call loads the model (progress into `status`), each call answers one text and a line saying where it ran. */
export function localTextRunner(status: HTMLElement): (text: string) => Promise<{ answer: TextAnswer; note: string }> {
  let opened: Promise<LocalFeatures> | null = null;
  const open = async (): Promise<LocalFeatures> => {
    // A computed specifier: the module exists only in sites exported with --with-model, not at build time.
    const spec = './localFeatures.js';
    const mod = (await import(spec)) as LocalFeaturesModule;
    status.textContent = 'loading the model…';
    return mod.openLocalFeatures(new URL('../model-data/', import.meta.url).href, {
      onProgress: (loaded, total, file) => {
        status.textContent = `loading the model: ${file}, ${mb(loaded)} of ${mb(total)}`;
      },
    });
  };
  return async (text) => {
    opened ??= open().catch((e: unknown) => {
      opened = null; // let the next Run try again
      throw e;
    });
    const lf = await opened;
    const where = lf.backend === 'webgpu' ? 'WebGPU' : 'the CPU';
    status.textContent = `running in this page on ${where}…`;
    const answer = await lf.run(text);
    return { answer, note: `ran in this page on ${where}${lf.reason ? ` (${lf.reason.replace(/^WebGPU on /, '')})` : ''}` };
  };
}
