// Strict UTF-8 decoding of a byte stream in chunks, with the byte offset of the first bad byte.
// TextDecoder's fatal mode says *that* bytes are bad but not *where*, so each chunk is cut at its
// last complete character, decoded strictly, and on failure a small validator finds the offset.

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Index of the first byte of the first invalid UTF-8 sequence in `b`, or -1 when all are valid. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0; // overlong
      if (c === 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90; // overlong
      if (c === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    if (i + n >= b.length) return i; // truncated at the end
    const b1 = b[i + 1]!;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

/** Where a trailing incomplete (so far valid-looking) multi-byte sequence starts, or `b.length`. */
function completeLength(b: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const c = b[b.length - back]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? b.length - back : b.length;
  }
  return b.length;
}

/** Decodes UTF-8 chunk by chunk; `onError(offset)` builds the error for a bad byte at a stream offset. */
export class StrictUtf8Decoder {
  private carry: Uint8Array = new Uint8Array(0);
  private offset = 0; // stream offset of carry[0]

  constructor(private readonly onError: (offset: number) => Error) {}

  /** The text of `chunk` (plus bytes carried from the last one), up to its last complete character. */
  push(chunk: Uint8Array): string {
    const buf = this.carry.length ? concat(this.carry, chunk) : chunk;
    const cut = completeLength(buf);
    const text = this.decode(buf.subarray(0, cut));
    this.offset += cut;
    this.carry = buf.slice(cut);
    return text;
  }

  /** The end of the stream: leftover bytes are a truncated character. */
  end(): string {
    if (this.carry.length === 0) return '';
    return this.decode(this.carry);
  }

  private decode(b: Uint8Array): string {
    try {
      return decoder.decode(b);
    } catch {
      const at = firstInvalidUtf8(b);
      throw this.onError(this.offset + Math.max(0, at));
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
