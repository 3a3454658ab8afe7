// Greedy pair merging, shared by byte-level BPE (lowest merge rank first) and llama2.c (highest score
// first, given as rank = -score): repeatedly merge the adjacent pair with the best rank, the leftmost
// one on ties, until no adjacent pair has a rank. A heap with lazy invalidation keeps this
// O(n log n), so one long word (a run of spaces, a base64 blob, a whole llama2.c text) cannot make
// encoding quadratic, and it picks exactly the pair the naive rescan-every-pair loop would pick.

/** The merged symbols of `symbols`; `rank(left, right)` is the pair's rank (lower merges first) or undefined. */
export function mergePairs(symbols: readonly string[], rank: (left: string, right: string) => number | undefined): string[] {
  const n = symbols.length;
  if (n < 2) return symbols.slice();
  const sym = symbols.slice();
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  // ver[i] changes whenever the pair starting at node i changes, which invalidates its heap entries.
  const ver = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new PairHeap();
  for (let i = 0; i + 1 < n; i++) {
    const r = rank(sym[i]!, sym[i + 1]!);
    if (r !== undefined) heap.push(r, i, 0);
  }
  while (heap.size > 0) {
    const { pos: i, ver: v } = heap.pop();
    if (!alive[i] || ver[i] !== v) continue;
    const j = next[i]!;
    // Node i (the left one) keeps the merged symbol, so node positions stay in text order.
    sym[i] = sym[i]! + sym[j]!;
    alive[j] = 0;
    const k = next[j]!;
    next[i] = k;
    if (k !== -1) prev[k] = i;
    ver[i]!++;
    const p = prev[i]!;
    if (p !== -1) {
      ver[p]!++;
      const rp = rank(sym[p]!, sym[i]!);
      if (rp !== undefined) heap.push(rp, p, ver[p]!);
    }
    if (k !== -1) {
      const rk = rank(sym[i]!, sym[k]!);
      if (rk !== undefined) heap.push(rk, i, ver[i]!);
    }
  }
  const out: string[] = [];
  for (let i = 0; i !== -1; i = next[i]!) out.push(sym[i]!);
  return out;
}

/** A binary min-heap of (rank, pos, ver) ordered by rank, then pos (leftmost first). */
class PairHeap {
  private ranks: number[] = [];
  private poss: number[] = [];
  private vers: number[] = [];

  get size(): number {
    return this.ranks.length;
  }

  push(rank: number, pos: number, ver: number): void {
    let i = this.ranks.length;
    this.ranks.push(rank);
    this.poss.push(pos);
    this.vers.push(ver);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.less(i, up)) break;
      this.swap(i, up);
      i = up;
    }
  }

  pop(): { pos: number; ver: number } {
    const top = { pos: this.poss[0]!, ver: this.vers[0]! };
    const last = this.ranks.length - 1;
    this.swap(0, last);
    this.ranks.pop();
    this.poss.pop();
    this.vers.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    const ra = this.ranks[a]!;
    const rb = this.ranks[b]!;
    return ra < rb || (ra === rb && this.poss[a]! < this.poss[b]!);
  }

  private swap(a: number, b: number): void {
    [this.ranks[a], this.ranks[b]] = [this.ranks[b]!, this.ranks[a]!];
    [this.poss[a], this.poss[b]] = [this.poss[b]!, this.poss[a]!];
    [this.vers[a], this.vers[b]] = [this.vers[b]!, this.vers[a]!];
  }
}
