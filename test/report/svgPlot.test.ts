import assert from 'node:assert/strict';
import { test } from 'node:test';
import { histogramBins, histogramSvg, xyPlotSvg } from '../../src/report/svgPlot.js';

interface El {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: El[];
}

/** A strict little XML parser: throws on unbalanced tags, bad attributes, raw '<' or '&' in text. */
function parseXml(s: string): El {
  let i = 0;
  const root: El = { name: '#root', attrs: {}, text: '', children: [] };
  const stack: El[] = [root];
  const entity = /^&(amp|lt|gt|quot|apos);/;
  const unescape = (t: string, where: string): string => {
    for (let k = 0; k < t.length; k++) {
      if (t[k] === '&' && !entity.test(t.slice(k))) throw new Error(`bad entity in ${where} at ${k}`);
      if (t[k] === '<') throw new Error(`raw < in ${where}`);
    }
    return t.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
  };
  while (i < s.length) {
    const lt = s.indexOf('<', i);
    const text = s.slice(i, lt < 0 ? s.length : lt);
    if (text.trim()) stack[stack.length - 1]!.text += unescape(text, 'text');
    if (lt < 0) break;
    const gt = s.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const body = s.slice(lt + 1, gt);
    i = gt + 1;
    if (body.startsWith('/')) {
      const top = stack.pop()!;
      if (top.name !== body.slice(1)) throw new Error(`</${body.slice(1)}> closes <${top.name}>`);
      continue;
    }
    const selfClose = body.endsWith('/');
    const inner = selfClose ? body.slice(0, -1) : body;
    const m = /^([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"]*")*)\s*$/.exec(inner);
    if (!m) throw new Error(`malformed tag <${body}>`);
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      attrs[a[1]!] = unescape(a[2]!, `attribute ${a[1]}`);
    }
    const el: El = { name: m[1]!, attrs, text: '', children: [] };
    stack[stack.length - 1]!.children.push(el);
    if (!selfClose) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  assert.equal(root.children.length, 1, 'one root element');
  return root.children[0]!;
}

function all(el: El, pred: (e: El) => boolean, out: El[] = []): El[] {
  if (pred(el)) out.push(el);
  for (const ch of el.children) all(ch, pred, out);
  return out;
}
const byClass = (root: El, cls: string) => all(root, (e) => e.attrs.class === cls);

test('histogramBins: hand-counted bins, edges, last bin closed, non-finite dropped', () => {
  const bins = histogramBins([0, 0.1, 0.25, 0.5, 0.5, 0.99, 1, NaN, Infinity, -0.1, 1.5], { bins: 4, lo: 0, hi: 1 });
  assert.deepEqual(
    bins.map((b) => [b.lo, b.hi, b.count]),
    [
      [0, 0.25, 2],
      [0.25, 0.5, 1],
      [0.5, 0.75, 2],
      [0.75, 1, 2],
    ],
  );
  // Default range is the data's min..max; a constant sample still gets a positive-width bin.
  const d = histogramBins([3, 5, 4], { bins: 2 });
  assert.deepEqual(d.map((b) => [b.lo, b.hi, b.count]), [[3, 4, 1], [4, 5, 2]]);
  const k = histogramBins([2, 2, 2], { bins: 1 });
  assert.equal(k[0]!.count, 3);
  assert.ok(k[0]!.hi > k[0]!.lo);
  assert.throws(() => histogramBins([1], { bins: 0 }), /bins/);
});

test('histogramSvg: well-formed, one bar per bin, heights proportional, title escaped', () => {
  const bins = histogramBins([0.1, 0.2, 0.2, 0.9], { bins: 5, lo: 0, hi: 1 });
  const svg = histogramSvg({ title: 'A<B & "C"', xLabel: "max cos 'A→B'", bins });
  const root = parseXml(svg);
  assert.equal(root.name, 'svg');
  const bars = byClass(root, 'bar');
  assert.equal(bars.length, 5);
  const heights = bars.map((b) => Number(b.attrs.height));
  // counts are [1, 2, 0, 0, 1]: bar heights follow them.
  assert.equal(heights[2], 0);
  assert.ok(Math.abs(heights[1]! - 2 * heights[0]!) < 0.02, `heights ${heights}`);
  assert.ok(Math.abs(heights[4]! - heights[0]!) < 0.02);
  assert.equal(byClass(root, 'title')[0]!.text, 'A<B & "C"');
  assert.equal(byClass(root, 'x-label')[0]!.text, "max cos 'A→B'");
  assert.ok(byClass(root, 'tick').length >= 4, 'axes have ticks');
  // Deterministic bytes.
  assert.equal(svg, histogramSvg({ title: 'A<B & "C"', xLabel: "max cos 'A→B'", bins }));
});

test('xyPlotSvg: points and lines counted, non-finite skipped, legend and band, log ticks at powers of ten', () => {
  const svg = xyPlotSvg({
    title: 'loss vs width',
    xLabel: 'width',
    yLabel: 'MSE',
    xLog: true,
    yLog: true,
    series: [
      { name: 'TopK <k=8>', x: [16, 64, 256, 1024], y: [1, 0.5, NaN, 0.1], kind: 'points' },
      { name: 'ReLU', x: [16, 64, 256, 1024], y: [2, 1, 0.5, 0.2], lo: [1.5, 0.8, 0.4, 0.15], hi: [2.5, 1.2, 0.6, 0.25] },
      { name: 'with zero', x: [0, 16, 64], y: [1, 1, -1], kind: 'points' },
    ],
  });
  const root = parseXml(svg);
  const pts = byClass(root, 'point');
  // series 0: 3 finite; series 2: x=0 and y=-1 are not drawable on log axes, 1 left.
  assert.equal(pts.filter((p) => p.attrs['data-series'] === 'TopK <k=8>').length, 3);
  assert.equal(pts.filter((p) => p.attrs['data-series'] === 'with zero').length, 1);
  const lines = byClass(root, 'series-line');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.attrs.points!.trim().split(/\s+/).length, 4);
  assert.equal(byClass(root, 'band').length, 1);
  assert.equal(byClass(root, 'band')[0]!.attrs.points!.trim().split(/\s+/).length, 8);
  assert.deepEqual(byClass(root, 'legend').map((e) => e.text), ['TopK <k=8>', 'ReLU', 'with zero']);
  const labels = byClass(root, 'tick-label').map((e) => e.text);
  for (const want of ['10', '100', '1000', '0.1', '1']) assert.ok(labels.includes(want), `log tick ${want} in ${labels}`);
  // Every tick on a log axis is a power of ten.
  for (const t of labels) assert.match(t, /^(1e-?\d+|10*|0\.0*1)$/, `tick ${t}`);
});

test('xyPlotSvg: a line breaks at a NaN; one series has no legend; linear ticks are round', () => {
  const svg = xyPlotSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', x: [0, 1, 2, 3, 4], y: [0, 1, NaN, 3, 4.2] }] });
  const root = parseXml(svg);
  const lines = byClass(root, 'series-line');
  assert.equal(lines.length, 2);
  assert.deepEqual(lines.map((l) => l.attrs.points!.split(' ').length), [2, 2]);
  assert.equal(byClass(root, 'legend').length, 0);
  const labels = byClass(root, 'tick-label').map((e) => Number(e.text));
  for (const v of labels) assert.ok(Number.isFinite(v), 'numeric ticks');
  assert.ok(labels.includes(0) && labels.includes(5), `ticks ${labels}`);
});
