// Embedding lookup and its backward, a scatter-add of rows into the table's gradient.
//   gather:      out[n, :] = table[ids[n], :]
//   scatterAdd:  dTable[v, :] = Σ_{n : ids[n] = v} dy[n, :], summed in token order
// Deterministic without float atomics: on the GPU each dTable element is owned by one thread that
// adds its tokens in order, so the sums equal the CPU twin's bit for bit.
// Out-of-range ids: the CPU twins throw. The GPU kernels cannot, and define: gather writes a row
// of zeros, scatterAdd skips the token (so negative ids can serve as padding on the GPU only).

import { cpu } from '../cpu/cpuDevice.js';
import { assertDtype, assertSameDevice, assertShape, Tensor } from '../tensor.js';
import { u32Params } from '../webgpu/params.js';
import { bindingsWgsl, gpuOf, outputOn, pointwiseGrid, pointwiseWgsl } from './wgslGen.js';
import { itemsPerPiece } from '../webgpu/chunkedDispatch.js';
import { DeviceLimitError } from '../webgpu/gpuDevice.js';

// ---- CPU twins -------------------------------------------------------------------------------

function checkId(id: number, V: number, n: number): void {
  if (!(id >= 0 && id < V)) throw new RangeError(`embedding: id ${id} at position ${n} is outside [0, ${V})`);
}

/** out[n, :] = table[ids[n], :] for table [V, d]; throws on an id outside [0, V). */
export function embeddingGatherCpu(table: Float32Array, ids: Int32Array, d: number, out: Float32Array): void {
  const V = d === 0 ? 0 : table.length / d;
  for (let n = 0; n < ids.length; n++) {
    checkId(ids[n]!, V, n);
    out.set(table.subarray(ids[n]! * d, (ids[n]! + 1) * d), n * d);
  }
}

/** dTable[ids[n], :] += dy[n, :] for n in order (f32 adds, as on the GPU); dTable [V, d] starts at 0. */
export function embeddingScatterAddCpu(ids: Int32Array, dy: Float32Array, d: number, dTable: Float32Array): void {
  const V = d === 0 ? 0 : dTable.length / d;
  dTable.fill(0);
  for (let n = 0; n < ids.length; n++) {
    checkId(ids[n]!, V, n);
    // Float32Array stores round each sum to f32, matching one f32 add on the GPU.
    for (let j = 0; j < d; j++) dTable[ids[n]! * d + j] += dy[n * d + j]!;
  }
}

// ---- WGSL ------------------------------------------------------------------------------------

const GATHER_WGSL = pointwiseWgsl(
  [['table', 'read'], ['ids', 'read', 'i32'], ['out', 'read_write']],
  'n: u32, d: u32, V: u32',
  `let row = i / p.d;
  let j = i - row * p.d;
  let id = ids[row];
  var v = 0.0;
  if (id >= 0 && u32(id) < p.V) { v = table[u32(id) * p.d + j]; }
  out[i] = v;`,
);

// The same over a piece of the vocabulary, rows [v0, v0 + V) bound as a range: a table larger than
// one storage binding (GPT-2's 154 MB on a 128 MiB-binding GPU) is gathered piece by piece into
// zeros, each piece writing only the tokens that fall in it.
const GATHER_PIECE_WGSL = pointwiseWgsl(
  [['table', 'read'], ['ids', 'read', 'i32'], ['out', 'read_write']],
  'n: u32, d: u32, V: u32, v0: u32',
  `let row = i / p.d;
  let j = i - row * p.d;
  let id = ids[row] - i32(p.v0);
  if (id >= 0 && u32(id) < p.V) { out[i] = table[u32(id) * p.d + j]; }`,
);

// Workgroup = 64 columns × one slice of the vocabulary. Thread (j, slice) owns dTable[v, j] for v
// in its slice; the workgroup reads the ids a tile at a time into shared memory and every thread
// scans the tile in token order, adding the tokens that land in its slice.
const SCATTER_WG = 64;
const SCATTER_WGSL = /* wgsl */ `
${bindingsWgsl([['ids', 'read', 'i32'], ['dy', 'read'], ['dTable', 'read_write']], 'n: u32, d: u32, V: u32, sliceRows: u32')}
var<workgroup> tile: array<i32, ${SCATTER_WG}>;
@compute @workgroup_size(${SCATTER_WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = gid.x;
  let v0 = i32(wid.y * p.sliceRows);
  let v1 = i32(min(p.V, (wid.y + 1u) * p.sliceRows));
  // No early return for j ≥ d: every invocation must reach the barriers.
  for (var t0 = 0u; t0 < p.n; t0 += ${SCATTER_WG}u) {
    let t = t0 + lid;
    tile[lid] = select(-1, ids[min(t, p.n - 1u)], t < p.n);
    workgroupBarrier();
    let len = min(${SCATTER_WG}u, p.n - t0);
    if (j < p.d) {
      for (var k = 0u; k < len; k++) {
        let id = tile[k];
        if (id >= v0 && id < v1) { dTable[u32(id) * p.d + j] += dy[(t0 + k) * p.d + j]; }
      }
    }
    workgroupBarrier();
  }
}`;

// ---- dispatch --------------------------------------------------------------------------------

/** Rows of `table` [V, d] picked by `ids` [...] i32 → [..., d]. */
export function embeddingGather(table: Tensor, ids: Tensor): Tensor {
  assertSameDevice(table, ids);
  assertDtype(table, 'f32', 'embeddingGather table');
  assertDtype(ids, 'i32', 'embeddingGather ids');
  if (table.shape.length !== 2) throw new Error(`embeddingGather: table must be [V, d], got [${table.shape}]`);
  const [V, d] = table.shape as [number, number];
  const outShape = [...ids.shape, d];
  const dev = gpuOf(table);
  const pieces = dev !== null && table.byteLength > dev.limits.maxStorageBufferBindingSize;
  // Pieces write only their own tokens' rows, so their output starts as zeros.
  const out = pieces ? dev.zeros(outShape) : outputOn(table, outShape);
  if (!dev) embeddingGatherCpu(table.data as Float32Array, ids.data as Int32Array, d, out.data as Float32Array);
  else if (!pieces) {
    dev.dispatch({ label: 'embedding_gather', code: GATHER_WGSL, buffers: [table, ids, out], params: u32Params(out.numel, d, V), workgroups: pointwiseGrid(out.numel) });
  } else {
    const per = itemsPerPiece([d], dev.limits.maxStorageBufferBindingSize, dev.limits.minStorageBufferOffsetAlignment);
    if (per < 1) throw new DeviceLimitError(`embeddingGather: a row of ${d} floats does not fit this GPU's maxStorageBufferBindingSize`);
    for (let v0 = 0; v0 < V; v0 += per) {
      const n = Math.min(per, V - v0);
      const piece = { source: table, offset: v0 * d * 4, size: n * d * 4 };
      dev.dispatch({ label: 'embedding_gather_piece', code: GATHER_PIECE_WGSL, buffers: [piece, ids, out], params: u32Params(out.numel, d, n, v0), workgroups: pointwiseGrid(out.numel) });
    }
  }
  return out;
}

/** Gradient of embeddingGather w.r.t. the table: ids [...] i32, dy [..., d] → dTable [V, d], sums in token order. */
export function embeddingScatterAdd(ids: Tensor, dy: Tensor, V: number): Tensor {
  assertSameDevice(ids, dy);
  assertDtype(ids, 'i32', 'embeddingScatterAdd ids');
  assertDtype(dy, 'f32', 'embeddingScatterAdd dy');
  const d = dy.shape[dy.shape.length - 1] ?? 1;
  assertShape(dy, [...ids.shape, d], 'embeddingScatterAdd dy');
  const dev = gpuOf(ids);
  if (!dev) {
    const dTable = cpu.zeros([V, d]);
    embeddingScatterAddCpu(ids.data as Int32Array, dy.data as Float32Array, d, dTable.data as Float32Array);
    return dTable;
  }
  const dTable = dev.zeros([V, d]); // zeros: the kernel only adds
  if (V === 0 || d === 0) return dTable;
  // Enough slices that ~32k threads run (each reads every id from shared memory, so not many more).
  const colGroups = Math.ceil(d / SCATTER_WG);
  const slices = Math.max(1, Math.min(V, 65535, Math.ceil(32768 / (colGroups * SCATTER_WG))));
  const sliceRows = Math.ceil(V / slices);
  dev.dispatch({
    label: 'embedding_scatter_add',
    code: SCATTER_WGSL,
    buffers: [ids, dy, dTable],
    params: u32Params(ids.numel, d, V, sliceRows),
    workgroups: [colGroups, Math.ceil(V / sliceRows)],
  });
  return dTable;
}
