// Helpers that kernels share: laying out a uniform struct and splitting long 1-D work over a 2-D grid.

/** Builds the bytes of a WGSL uniform struct whose fields are all 4-byte scalars (u32, i32, f32), in order. */
export class ParamWriter {
  private readonly view: DataView;
  private offset = 0;
  constructor(maxFields = 32) {
    this.view = new DataView(new ArrayBuffer(maxFields * 4));
  }
  u32(v: number): this {
    this.view.setUint32(this.offset, v >>> 0, true);
    this.offset += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.offset, v | 0, true);
    this.offset += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  /** The bytes written so far (padded to 16 by the device). */
  bytes(): ArrayBuffer {
    return (this.view.buffer as ArrayBuffer).slice(0, Math.max(this.offset, 4));
  }
}

/** Shorthand: a uniform struct of u32 fields. */
export function u32Params(...values: number[]): ArrayBuffer {
  const w = new ParamWriter(values.length);
  for (const v of values) w.u32(v);
  return w.bytes();
}

/** Workgroups for `n` invocations of `wgSize` threads, folded into 2-D when over 65,535 groups. */
export function grid1d(n: number, wgSize: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / wgSize);
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/**
 * WGSL that turns the builtins into the flat index matching `grid1d`. Use inside a kernel declared
 * with `@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u`.
 */
export function flatIndexWgsl(wgSize: number): string {
  return `gid.x + gid.y * nwg.x * ${wgSize}u`;
}
