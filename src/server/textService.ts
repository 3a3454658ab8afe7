// The model and SAE behind "text → features": opened on the first request for a dashboard and
// kept (one at a time; another dashboard's request swaps them). The server runs every call through
// its compute queue (computeQueue.ts), one after another, so a burst never loads two models or runs
// two forwards at once.

import { existsSync } from 'node:fs';
import type { Device } from '../compute/device.js';
import type { DashboardRecord } from '../io/dashboardDb.js';
import { openModel } from '../model/openModel.js';
import type { Tokenizer } from '../model/tokenizers/index.js';
import type { Transformer } from '../model/transformer.js';
import { TEXT_FEATURES_OPTIONS, textFeatures, type TextFeatures } from '../report/dashboardText.js';
import { loadSae, type LoadedSae } from '../sae/saeFiles.js';
import { HttpError } from './http.js';

interface Loaded {
  dashboardId: number;
  model: Transformer;
  tok: Tokenizer;
  sae: LoadedSae;
}

/** Runs text through a dashboard's model and SAE (see the file comment). */
export class TextService {
  private loaded: Loaded | null = null;

  constructor(private readonly device: Device) {}

  /** Features per token of `text` for dashboard `d` (one call at a time: the caller queues them). */
  async run(d: DashboardRecord, text: string): Promise<TextFeatures> {
    const l = await this.load(d);
    // Up to the model's context, not the pass's windows: pasted text is usually longer than a window.
    return textFeatures(l.model, l.tok, l.sae, d.hook, text, { contextSize: l.model.config.nCtx, ...TEXT_FEATURES_OPTIONS });
  }

  private async load(d: DashboardRecord): Promise<Loaded> {
    if (this.loaded?.dashboardId === d.id) return this.loaded;
    this.dispose();
    if (!existsSync(d.saePath)) throw new HttpError(404, `the SAE folder of dashboard ${d.id} is no longer there`);
    if (!existsSync(d.model)) throw new HttpError(404, `the model of dashboard ${d.id} is no longer there`);
    const sae = await loadSae(d.saePath, this.device);
    try {
      const { model, tokenizer } = await openModel(d.model, this.device, { needTokenizer: true });
      this.loaded = { dashboardId: d.id, model, tok: tokenizer!, sae };
      return this.loaded;
    } catch (e) {
      for (const p of Object.values(sae.params)) p?.dispose();
      throw e;
    }
  }

  /** Free the model and SAE. */
  dispose(): void {
    if (!this.loaded) return;
    this.loaded.model.dispose();
    for (const p of Object.values(this.loaded.sae.params)) p?.dispose();
    this.loaded = null;
  }
}
