// The flags that say how a command holds the model's weights: `--model-dtype` (matrices in float32,
// bfloat16 or float16; auto = the file's own dtype) and `--stream` (read blocks from disk as the
// forward reaches them, for a model that does not fit in memory).

import { Option } from 'commander';
import type { LoadOptions } from '../model/loadStore.js';
import { parseWeightDtype, WEIGHT_DTYPES } from '../model/weightDtype.js';
import { UsageError } from './errors.js';

/** `--model-dtype <dtype>`. */
export function modelDtypeOption(): Option {
  return new Option('--model-dtype <dtype>', `how the weight matrices are held: ${WEIGHT_DTYPES.join(', ')} (auto: as the file stores them; 16-bit halves the memory, computing in f32)`).default('float32');
}

/** `--stream`. */
export function streamOption(): Option {
  return new Option('--stream', 'read one block of weights at a time from disk (models larger than memory; chosen by itself when only it fits)');
}

/** LoadOptions from the parsed flags (a UsageError, one line, for a bad dtype). */
export function loadOptionsFromFlags(o: { modelDtype?: string; stream?: boolean }): LoadOptions {
  let dtype: LoadOptions['dtype'];
  try {
    dtype = parseWeightDtype(o.modelDtype ?? 'float32');
  } catch (e) {
    throw new UsageError(`--model-dtype: ${(e as Error).message}`);
  }
  return { dtype, stream: o.stream ? true : 'auto' };
}
