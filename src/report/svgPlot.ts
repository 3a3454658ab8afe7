// Plain-SVG plots (histograms, x–y lines/points with bands) shared by every report.
// Output is a deterministic string: same inputs, same bytes (numbers are printed with fixed
// precision, no dates, no random ids), so reports can be diffed and tested as text.

/** One histogram bin: values v with lo <= v < hi (the last bin also takes v == hi). */
export interface HistogramBin {
  lo: number;
  hi: number;
  count: number;
}

/** One x–y series; `lo`/`hi` (same length as x) are drawn as a shaded band around it. */
export interface XySeries {
  name: string;
  x: number[];
  y: number[];
  lo?: number[];
  hi?: number[];
  kind?: 'line' | 'points';
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const FONT = 'font-family="sans-serif"';
const MARGIN = { left: 64, right: 16, top: 34, bottom: 48 };
/** Width of the legend column of `legend: 'right'`. */
const LEGEND_COLUMN = 250;

/** Escape text for use in SVG element content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Bin the finite values of `values` into `bins` equal-width bins over [lo, hi] (default: data min/max); values outside are left out. */
export function histogramBins(values: ArrayLike<number>, opts: { bins: number; lo?: number; hi?: number }): HistogramBin[] {
  const nb = Math.floor(opts.bins);
  if (!(nb >= 1)) throw new RangeError(`histogramBins: bins must be >= 1, got ${opts.bins}`);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  let lo = opts.lo ?? (Number.isFinite(min) ? min : 0);
  let hi = opts.hi ?? (Number.isFinite(max) ? max : 1);
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || hi < lo) throw new RangeError(`histogramBins: bad range [${lo}, ${hi}]`);
  // A single repeated value still needs a bin of positive width to be drawn.
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / nb;
  const out: HistogramBin[] = [];
  for (let b = 0; b < nb; b++) out.push({ lo: lo + b * width, hi: b === nb - 1 ? hi : lo + (b + 1) * width, count: 0 });
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v) || v < lo || v > hi) continue;
    let b = Math.floor((v - lo) / width);
    if (b >= nb) b = nb - 1; // v == hi
    // Guard against rounding putting v one bin off its edges.
    while (b > 0 && v < out[b]!.lo) b--;
    while (b < nb - 1 && v >= out[b]!.hi) b++;
    out[b]!.count++;
  }
  return out;
}

/** A number as short deterministic text (for coordinates: 2 decimals). */
function c(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/** A tick label: up to 4 significant digits, exponent form for very large/small magnitudes. */
function tickLabel(v: number): string {
  if (v === 0 || Object.is(v, -0)) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential(3).split('e') as [string, string];
    const mant = m.replace(/\.?0+$/, '');
    return `${mant === '1' ? '' : mant === '-1' ? '-' : mant + '×'}1e${Number(e)}`.replace(/^×/, '');
  }
  return String(Number(v.toPrecision(4)));
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
}

/** A 1, 2 or 5 times a power of ten near `raw`. */
function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

/** A linear or log axis covering [min, max] with round ticks at both ends. */
function makeAxis(min: number, max: number, log: boolean): Axis {
  if (log) {
    if (!(min > 0) || !Number.isFinite(max)) {
      min = 1;
      max = 10;
    }
    let e0 = Math.floor(Math.log10(min) + 1e-9);
    let e1 = Math.ceil(Math.log10(max) - 1e-9);
    if (e1 <= e0) e1 = e0 + 1;
    const every = Math.max(1, Math.ceil((e1 - e0) / 8));
    e0 = Math.floor(e0 / every) * every;
    e1 = Math.ceil(e1 / every) * every;
    const ticks: number[] = [];
    for (let e = e0; e <= e1; e += every) ticks.push(Number(`1e${e}`));
    return { lo: ticks[0]!, hi: ticks[ticks.length - 1]!, log: true, ticks };
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / 5);
  const i0 = Math.floor(min / step + 1e-9);
  const i1 = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  // Integer multiples of the step keep tick values free of accumulated rounding.
  for (let i = i0; i <= i1; i++) ticks.push(Number((i * step).toPrecision(12)));
  return { lo: ticks[0]!, hi: ticks[ticks.length - 1]!, log: false, ticks };
}

/** Map a data value to a pixel coordinate between p0 (at axis.lo) and p1 (at axis.hi). */
function scale(axis: Axis, v: number, p0: number, p1: number): number {
  const t = axis.log ? (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo)) : (v - axis.lo) / (axis.hi - axis.lo);
  return p0 + t * (p1 - p0);
}

/** Frame, ticks, tick labels, axis labels and title around the plot area. */
function axesSvg(title: string, xLabel: string, yLabel: string, xa: Axis, ya: Axis, w: number, h: number): string[] {
  const x0 = MARGIN.left;
  const x1 = w - MARGIN.right;
  const y0 = h - MARGIN.bottom;
  const y1 = MARGIN.top;
  const out: string[] = [];
  out.push(`<rect class="frame" x="${c(x0)}" y="${c(y1)}" width="${c(x1 - x0)}" height="${c(y0 - y1)}" fill="none" stroke="#000" stroke-width="1"/>`);
  for (const t of xa.ticks) {
    const px = scale(xa, t, x0, x1);
    out.push(`<line class="tick" x1="${c(px)}" y1="${c(y0)}" x2="${c(px)}" y2="${c(y0 + 5)}" stroke="#000"/>`);
    out.push(`<text class="tick-label" x="${c(px)}" y="${c(y0 + 17)}" text-anchor="middle" font-size="11" ${FONT}>${xmlEscape(tickLabel(t))}</text>`);
  }
  for (const t of ya.ticks) {
    const py = scale(ya, t, y0, y1);
    out.push(`<line class="tick" x1="${c(x0 - 5)}" y1="${c(py)}" x2="${c(x0)}" y2="${c(py)}" stroke="#000"/>`);
    out.push(`<line class="grid" x1="${c(x0)}" y1="${c(py)}" x2="${c(x1)}" y2="${c(py)}" stroke="#ddd" stroke-width="0.5"/>`);
    out.push(`<text class="tick-label" x="${c(x0 - 8)}" y="${c(py + 4)}" text-anchor="end" font-size="11" ${FONT}>${xmlEscape(tickLabel(t))}</text>`);
  }
  out.push(`<text class="title" x="${c(w / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${xmlEscape(title)}</text>`);
  out.push(`<text class="x-label" x="${c((x0 + x1) / 2)}" y="${c(h - 10)}" text-anchor="middle" font-size="12" ${FONT}>${xmlEscape(xLabel)}</text>`);
  if (yLabel) {
    out.push(`<text class="y-label" x="14" y="${c((y0 + y1) / 2)}" text-anchor="middle" font-size="12" ${FONT} transform="rotate(-90 14 ${c((y0 + y1) / 2)})">${xmlEscape(yLabel)}</text>`);
  }
  return out;
}

function svgOpen(w: number, h: number): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${c(w)}" height="${c(h)}" viewBox="0 0 ${c(w)} ${c(h)}">`;
}

/** A histogram as an SVG string: one `<rect class="bar">` per bin (empty bins get height 0). */
export function histogramSvg(opts: { title: string; xLabel: string; yLabel?: string; bins: HistogramBin[]; width?: number; height?: number }): string {
  const w = opts.width ?? 480;
  const h = opts.height ?? 320;
  const bins = opts.bins;
  let maxCount = 0;
  for (const b of bins) maxCount = Math.max(maxCount, b.count);
  const xa = bins.length > 0 ? makeAxis(bins[0]!.lo, bins[bins.length - 1]!.hi, false) : makeAxis(0, 1, false);
  const ya = makeAxis(0, Math.max(1, maxCount), false);
  const x0 = MARGIN.left;
  const x1 = w - MARGIN.right;
  const y0 = h - MARGIN.bottom;
  const y1 = MARGIN.top;
  const out = [svgOpen(w, h), `<rect x="0" y="0" width="${c(w)}" height="${c(h)}" fill="#fff"/>`];
  for (const b of bins) {
    const px0 = scale(xa, b.lo, x0, x1);
    const px1 = scale(xa, b.hi, x0, x1);
    const py = scale(ya, b.count, y0, y1);
    out.push(`<rect class="bar" x="${c(px0)}" y="${c(py)}" width="${c(Math.max(0, px1 - px0))}" height="${c(y0 - py)}" fill="${PALETTE[0]}" stroke="#fff" stroke-width="0.5"><title>${xmlEscape(`[${tickLabel(b.lo)}, ${tickLabel(b.hi)}): ${b.count}`)}</title></rect>`);
  }
  out.push(...axesSvg(opts.title, opts.xLabel, opts.yLabel ?? 'count', xa, ya, w, h));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Index runs where `ok(i)` holds, so lines and bands break at skipped points. */
function runs(n: number, ok: (i: number) => boolean): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (let i = 0; i < n; i++) {
    if (ok(i)) cur.push(i);
    else if (cur.length > 0) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * An x–y plot as an SVG string. 'line' series draw one `<polyline class="series-line">` per run of
 * drawable points, 'points' series one `<circle class="point">` per point; a series with lo/hi gets
 * `<polygon class="band">`s. Non-finite points (and non-positive ones on a log axis) are skipped.
 */
export function xyPlotSvg(opts: { title: string; xLabel: string; yLabel: string; series: XySeries[]; xLog?: boolean; yLog?: boolean; width?: number; height?: number; legend?: 'inside' | 'right' }): string {
  const w = opts.width ?? 560;
  const h = opts.height ?? 360;
  const xLog = opts.xLog ?? false;
  const yLog = opts.yLog ?? false;
  const okX = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && (!xLog || v > 0);
  const okY = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && (!yLog || v > 0);
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const s of opts.series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const x = s.x[i];
      if (!okX(x)) continue;
      const ys = [s.y[i], s.lo?.[i], s.hi?.[i]];
      let any = false;
      for (const y of ys) {
        if (!okY(y)) continue;
        any = true;
        ymin = Math.min(ymin, y);
        ymax = Math.max(ymax, y);
      }
      if (any) {
        xmin = Math.min(xmin, x);
        xmax = Math.max(xmax, x);
      }
    }
  }
  const xa = makeAxis(xmin, xmax, xLog);
  const ya = makeAxis(ymin, ymax, yLog);
  // A legend column right of the plot (for many series) narrows the plot, not the picture.
  const pw = opts.legend === 'right' && opts.series.length > 1 ? w - LEGEND_COLUMN : w;
  const x0 = MARGIN.left;
  const x1 = pw - MARGIN.right;
  const y0 = h - MARGIN.bottom;
  const y1 = MARGIN.top;
  const px = (v: number) => scale(xa, v, x0, x1);
  const py = (v: number) => scale(ya, v, y0, y1);
  const out = [svgOpen(w, h), `<rect x="0" y="0" width="${c(w)}" height="${c(h)}" fill="#fff"/>`];
  out.push(...axesSvg(opts.title, opts.xLabel, opts.yLabel, xa, ya, pw, h));
  opts.series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length]!;
    const n = Math.min(s.x.length, s.y.length);
    const name = xmlEscape(s.name);
    if (s.lo && s.hi) {
      const lo = s.lo;
      const hi = s.hi;
      for (const r of runs(n, (i) => okX(s.x[i]) && okY(lo[i]) && okY(hi[i]))) {
        const upper = r.map((i) => `${c(px(s.x[i]!))},${c(py(hi[i]!))}`);
        const lower = r.slice().reverse().map((i) => `${c(px(s.x[i]!))},${c(py(lo[i]!))}`);
        out.push(`<polygon class="band" data-series="${name}" points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.2" stroke="none"/>`);
      }
    }
    if ((s.kind ?? 'line') === 'line') {
      for (const r of runs(n, (i) => okX(s.x[i]) && okY(s.y[i]))) {
        const pts = r.map((i) => `${c(px(s.x[i]!))},${c(py(s.y[i]!))}`).join(' ');
        out.push(`<polyline class="series-line" data-series="${name}" points="${pts}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const x = s.x[i];
        const y = s.y[i];
        if (!okX(x) || !okY(y)) continue;
        out.push(`<circle class="point" data-series="${name}" cx="${c(px(x))}" cy="${c(py(y))}" r="3" fill="${color}"/>`);
      }
    }
  });
  if (opts.series.length > 1) {
    const lx = pw < w ? pw + 4 : x1 - 150;
    opts.series.forEach((s, si) => {
      const ly = y1 + 10 + si * 16;
      const color = PALETTE[si % PALETTE.length]!;
      out.push(`<rect class="legend-swatch" x="${c(lx)}" y="${c(ly - 8)}" width="12" height="10" fill="${color}"/>`);
      out.push(`<text class="legend" x="${c(lx + 16)}" y="${c(ly + 1)}" font-size="11" ${FONT}>${xmlEscape(s.name)}</text>`);
    });
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
