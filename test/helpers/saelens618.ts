// A transcription into TypeScript of how SAELens 6.18.0 (github.com/jbloomAus/SAELens, tag 6.18.0)
// loads an SAE folder with `SAE.load_from_disk(path)` and runs `encode` / `decode`, so that tests can
// check what SAELens users get from the folders saelab writes (Python SAELens cannot be installed
// here). Written from the logic of, without copying:
//   sae_lens/loading/pretrained_sae_loaders.py  sae_lens_disk_loader, get_sae_lens_config_from_disk,
//                                               read_sae_components_from_disk, handle_config_defaulting,
//                                               handle_pre_6_0_config, LLM_METADATA_KEYS
//   sae_lens/saes/sae.py                        SAEMetadata, SAEConfig.from_dict / __post_init__,
//                                               SAE.load_from_disk, process_sae_in,
//                                               _setup_activation_normalization, load_state_dict (strict)
//   sae_lens/saes/standard_sae.py, topk_sae.py, jumprelu_sae.py   the inference encode / decode
//   sae_lens/__init__.py (register_sae_class), sae_lens/constants.py (DTYPE_MAP, file names)
// Python errors (KeyError, TypeError, ValueError, RuntimeError) become thrown Errors with those names.
// Arithmetic is float64 on the stored float32 values (torch's float32 differs by rounding only).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A Python exception, by class name. */
export class PyError extends Error {
  constructor(readonly pyClass: string, message: string) {
    super(`${pyClass}: ${message}`);
  }
}

const DTYPE_MAP = new Set(['float32', 'float64', 'float16', 'bfloat16', 'torch.float32', 'torch.float64', 'torch.float16', 'torch.bfloat16']);

const LLM_METADATA_KEYS = new Set([
  'model_name', 'hook_name', 'model_class_name', 'hook_head_index', 'model_from_pretrained_kwargs', 'prepend_bos', 'exclude_special_tokens', 'neuronpedia_id',
  'context_size', 'seqpos_slice', 'dataset_path', 'sae_lens_version', 'sae_lens_training_version', 'hook_name_out', 'hook_head_index_out',
]);

/** SAE_CLASS_REGISTRY (inference classes only; the training registry is not consulted by load_from_disk). */
const REGISTERED = ['standard', 'gated', 'topk', 'jumprelu', 'transcoder', 'skip_transcoder', 'jumprelu_transcoder'];

/** The dataclass fields (with defaults; undefined = required) of the inference config classes transcribed here. */
const BASE_FIELDS: Record<string, unknown> = { d_in: undefined, d_sae: undefined, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true, normalize_activations: 'none', reshape_activations: 'none', metadata: null };
const CONFIG_FIELDS: Record<string, Record<string, unknown>> = {
  standard: BASE_FIELDS,
  jumprelu: BASE_FIELDS,
  topk: { ...BASE_FIELDS, k: 100, rescale_acts_by_decoder_norm: false },
};

/** The parameters each class registers, with their shapes. */
function parameterShapes(arch: string, dIn: number, dSae: number): Record<string, number[]> {
  const p: Record<string, number[]> = { b_dec: [dIn], W_dec: [dSae, dIn], W_enc: [dIn, dSae], b_enc: [dSae] };
  if (arch === 'jumprelu') p.threshold = [dSae];
  return p;
}

/** A tensor of a safetensors file (values as float64). */
interface StTensor {
  shape: number[];
  data: Float64Array;
}

/** Read every tensor of a safetensors file (F32 / F64 only, which is what these tests write). */
function readSafetensors(path: string): Record<string, StTensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out: Record<string, StTensor> = {};
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = buf.subarray(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]);
    const copy = new Uint8Array(bytes); // aligned
    let values: ArrayLike<number>;
    if (h.dtype === 'F32') values = new Float32Array(copy.buffer, 0, copy.length / 4);
    else if (h.dtype === 'F64') values = new Float64Array(copy.buffer, 0, copy.length / 8);
    else throw new Error(`readSafetensors: dtype ${h.dtype} not transcribed`);
    out[name] = { shape: h.shape, data: Float64Array.from(values) };
  }
  return out;
}

/** packaging.version: is `v` < 6.0.0-rc.0? (release numbers, then a pre-release sorts before its release). */
function before6(v: string): boolean {
  const m = /^v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|rc|alpha|beta|c)[-_.]?(\d*))?/.exec(v.trim());
  if (!m) throw new PyError('InvalidVersion', `Invalid version: '${v}'`);
  const rel = m[1]!.split('.').map(Number);
  while (rel.length < 3) rel.push(0);
  for (let i = 0; i < Math.max(rel.length, 3); i++) {
    const a = rel[i] ?? 0;
    const b = i === 0 ? 6 : 0;
    if (a !== b) return a < b;
  }
  // Release 6.0.0: only a/b pre-releases are before rc.0.
  return m[2] === 'a' || m[2] === 'alpha' || m[2] === 'b' || m[2] === 'beta';
}

/** handle_pre_6_0_config: rename keys, set defaults, and rebuild metadata from top-level keys only. */
function handlePre6(cfg: Record<string, unknown>): Record<string, unknown> {
  const rename: Record<string, string> = { hook_point: 'hook_name', hook_point_head_index: 'hook_head_index', activation_fn_str: 'activation_fn' };
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) c[rename[k] ?? k] = v;
  const setdefault = (k: string, v: unknown) => {
    if (!(k in c)) c[k] = v;
  };
  setdefault('prepend_bos', true);
  setdefault('dataset_trust_remote_code', true);
  setdefault('apply_b_dec_to_input', true);
  setdefault('finetuning_scaling_factor', false);
  setdefault('sae_lens_training_version', null);
  setdefault('activation_fn', c.activation_fn ?? 'relu');
  setdefault('architecture', 'standard');
  setdefault('neuronpedia_id', null);
  setdefault('reshape_activations', String(c.hook_name ?? '').includes('hook_z') ? 'hook_z' : 'none');
  const fnKwargs = (c.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  if (c.activation_fn === 'topk' && fnKwargs.k !== undefined && fnKwargs.k !== null) {
    c.architecture = 'topk';
    c.k = fnKwargs.k;
  }
  if (typeof c.normalize_activations === 'boolean') c.normalize_activations = c.normalize_activations ? 'expected_average_only_in' : 'none';
  if (c.normalize_activations === undefined || c.normalize_activations === null) c.normalize_activations = 'none';
  setdefault('device', 'cpu');
  const arch = String(c.architecture ?? 'standard');
  const fields = configFields(arch);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) if (k in fields) out[k] = v;
  if (arch === 'topk' && 'activation_fn_kwargs' in c) out.k = fnKwargs.k;
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) if (LLM_METADATA_KEYS.has(k)) meta[k] = v;
  out.metadata = meta;
  out.architecture = arch;
  return out;
}

/** get_sae_class(arch)[1]'s fields (KeyError for an unregistered architecture). */
function configFields(arch: string): Record<string, unknown> {
  if (!REGISTERED.includes(arch)) throw new PyError('KeyError', `'${arch}'`);
  const f = CONFIG_FIELDS[arch];
  if (!f) throw new Error(`saelens618: architecture ${arch} is registered in SAELens but not transcribed here`);
  return f;
}

/** An SAE as SAELens 6.18 holds it after load_from_disk. */
export interface SaeLensSae {
  architecture: string;
  cfg: Record<string, unknown>;
  /** SAEMetadata's attributes (sae_lens_version defaulted as SAEMetadata.__init__ does). */
  metadata: Record<string, unknown>;
  params: Record<string, StTensor>;
  /** sae.encode(x): x [N, d_in] → [N, d_sae]. */
  encode(x: Float64Array, N: number): Float64Array;
  /** sae.decode(f): f [N, d_sae] → [N, d_in]. */
  decode(f: Float64Array, N: number): Float64Array;
}

/** SAE.load_from_disk(path, device="cpu") of SAELens 6.18.0. */
export function loadFromDisk(path: string, device = 'cpu'): SaeLensSae {
  // sae_lens_disk_loader → get_sae_lens_config_from_disk
  let cfg = JSON.parse(readFileSync(join(path, 'cfg.json'), 'utf8')) as Record<string, unknown>;
  cfg.device = device;
  // read_sae_components_from_disk
  if (!DTYPE_MAP.has(cfg.dtype as string)) throw new PyError('KeyError', `'${String(cfg.dtype)}'`);
  const state = readSafetensors(join(path, 'sae_weights.safetensors'));
  if ('scaling_factor' in state) {
    if (state.scaling_factor!.data.every((v) => v === 1)) {
      delete state.scaling_factor;
      cfg.finetuning_scaling_factor = false;
    } else {
      if (!cfg.finetuning_scaling_factor) throw new PyError('ValueError', 'Scaling factor is present but finetuning_scaling_factor is False.');
      throw new Error('saelens618: finetuning_scaling_factor not transcribed');
    }
  } else {
    cfg.finetuning_scaling_factor = false;
  }
  // handle_config_defaulting
  let version = cfg.sae_lens_version as string | undefined;
  if (!version && 'metadata' in cfg) version = (cfg.metadata as Record<string, unknown>).sae_lens_version as string | undefined;
  if (!version || before6(version)) cfg = handlePre6(cfg);
  // SAEConfig.from_dict
  const arch = cfg.architecture as string;
  const fields = configFields(arch);
  const c: Record<string, unknown> = {};
  for (const [k, def] of Object.entries(fields)) {
    if (k in cfg) c[k] = cfg[k];
    else if (def === undefined) throw new PyError('TypeError', `__init__() missing 1 required positional argument: '${k}'`);
    else c[k] = def;
  }
  if (!['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'].includes(c.normalize_activations as string)) {
    throw new PyError('ValueError', `normalize_activations must be none, expected_average_only_in, layer_norm, or constant_norm_rescale. Got ${String(c.normalize_activations)}`);
  }
  const rawMeta = 'metadata' in cfg ? { ...(cfg.metadata as Record<string, unknown>) } : {};
  const metadata: Record<string, unknown> = { sae_lens_version: '6.18.0', sae_lens_training_version: '6.18.0', ...rawMeta };
  if (c.reshape_activations === 'hook_z') throw new Error('saelens618: hook_z reshaping not transcribed');
  // SAE.__init__ + load_state_dict(strict=True)
  const dIn = c.d_in as number;
  const dSae = c.d_sae as number;
  const shapes = parameterShapes(arch, dIn, dSae);
  const missing = Object.keys(shapes).filter((k) => !(k in state));
  const unexpected = Object.keys(state).filter((k) => !(k in shapes));
  if (missing.length || unexpected.length) throw new PyError('RuntimeError', `Error(s) in loading state_dict: missing keys ${JSON.stringify(missing)}, unexpected keys ${JSON.stringify(unexpected)}`);
  for (const [k, s] of Object.entries(shapes)) {
    const got = state[k]!.shape;
    if (got.length !== s.length || got.some((d, i) => d !== s[i])) throw new PyError('RuntimeError', `size mismatch for ${k}: copying a param with shape [${got}], the shape in current model is [${s}]`);
  }
  const P = (k: string) => state[k]!.data;
  const norm = c.normalize_activations as string;
  const decNorms = Float64Array.from({ length: dSae }, (_, i) => Math.hypot(...P('W_dec').subarray(i * dIn, (i + 1) * dIn)));
  // Runtime normalisation: only constant_norm_rescale and layer_norm do anything at inference.
  let normCoeff: Float64Array | null = null;
  let ln: { mu: Float64Array; std: Float64Array } | null = null;

  const processSaeIn = (x: Float64Array, N: number): Float64Array => {
    let xin = x.slice();
    if (norm === 'constant_norm_rescale') {
      normCoeff = new Float64Array(N);
      for (let t = 0; t < N; t++) {
        const n = Math.hypot(...xin.subarray(t * dIn, (t + 1) * dIn));
        normCoeff[t] = Math.sqrt(dIn) / n;
        for (let j = 0; j < dIn; j++) xin[t * dIn + j]! *= normCoeff[t]!;
      }
    } else if (norm === 'layer_norm') {
      const mu = new Float64Array(N);
      const std = new Float64Array(N);
      for (let t = 0; t < N; t++) {
        const row = xin.subarray(t * dIn, (t + 1) * dIn);
        mu[t] = row.reduce((a, b) => a + b, 0) / dIn;
        std[t] = Math.sqrt(row.reduce((a, b) => a + (b - mu[t]!) ** 2, 0) / (dIn - 1)); // torch.std: unbiased
        for (let j = 0; j < dIn; j++) row[j] = (row[j]! - mu[t]!) / (std[t]! + 1e-5);
      }
      ln = { mu, std };
    }
    if (c.apply_b_dec_to_input) xin = xin.map((v, i) => v - P('b_dec')[i % dIn]!);
    return xin;
  };
  const hiddenPre = (xin: Float64Array, N: number): Float64Array => {
    const W = P('W_enc');
    const b = P('b_enc');
    const pre = new Float64Array(N * dSae);
    for (let t = 0; t < N; t++) for (let i = 0; i < dSae; i++) {
      let s = 0;
      for (let j = 0; j < dIn; j++) s += xin[t * dIn + j]! * W[j * dSae + i]!;
      pre[t * dSae + i] = s + b[i]!;
    }
    return pre;
  };
  const normOut = (y: Float64Array, N: number): Float64Array => {
    if (norm === 'constant_norm_rescale' && normCoeff) for (let t = 0; t < N; t++) for (let j = 0; j < dIn; j++) y[t * dIn + j]! /= normCoeff[t]!;
    if (norm === 'layer_norm' && ln) for (let t = 0; t < N; t++) for (let j = 0; j < dIn; j++) y[t * dIn + j] = y[t * dIn + j]! * ln.std[t]! + ln.mu[t]!;
    return y;
  };

  const encode = (x: Float64Array, N: number): Float64Array => {
    const pre = hiddenPre(processSaeIn(x, N), N);
    const f = new Float64Array(N * dSae);
    if (arch === 'standard') {
      for (let i = 0; i < f.length; i++) f[i] = Math.max(pre[i]!, 0);
    } else if (arch === 'jumprelu') {
      const th = P('threshold');
      for (let i = 0; i < f.length; i++) f[i] = Math.max(pre[i]!, 0) * (pre[i]! > th[i % dSae]! ? 1 : 0);
    } else {
      // topk: optional rescale by decoder norms, torch.topk(k) of the pre-activations, ReLU, scatter.
      const k = c.k as number;
      for (let t = 0; t < N; t++) {
        const row = Array.from(pre.subarray(t * dSae, (t + 1) * dSae), (v, i) => (c.rescale_acts_by_decoder_norm ? v * decNorms[i]! : v));
        const order = [...row.keys()].sort((a, b) => row[b]! - row[a]!).slice(0, k);
        for (const i of order) f[t * dSae + i] = Math.max(row[i]!, 0);
      }
    }
    return f;
  };
  const decode = (f: Float64Array, N: number): Float64Array => {
    let acts = f;
    if (arch === 'topk' && c.rescale_acts_by_decoder_norm) acts = f.map((v, i) => v / decNorms[i % dSae]!);
    const W = P('W_dec');
    const y = new Float64Array(N * dIn);
    for (let t = 0; t < N; t++) for (let j = 0; j < dIn; j++) {
      let s = 0;
      for (let i = 0; i < dSae; i++) s += acts[t * dSae + i]! * W[i * dIn + j]!;
      y[t * dIn + j] = s + P('b_dec')[j]!;
    }
    return normOut(y, N);
  };
  return { architecture: arch, cfg: c, metadata, params: state, encode, decode };
}
