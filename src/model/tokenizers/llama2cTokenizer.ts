// llama2.c's tokenizer (tok512.bin, tokenizer.bin), mirroring run.c's encode and decode exactly:
// a SentencePiece-trained BPE applied by greedily merging the adjacent pair whose concatenation is
// the highest-scoring vocabulary entry. Pieces are raw bytes, so they are held as latin1 "binary
// strings" (one char per byte) and concatenation of strings is concatenation of bytes.
// Ids: 0 <unk> (never produced: unknown characters fall back to bytes), 1 BOS, 2 EOS, 3..258 bytes.

import { mergePairs } from './bpeMerge.js';
import { addBosEos, checkId, type EncodeOptions, type Tokenizer, TokenizerError } from './tokenizer.js';

const BOS = 1;
const EOS = 2;
/** Byte b is token b + 3 (<0x00>..<0xFF>), as llama2.c's byte fallback assumes. */
const BYTE_OFFSET = 3;
/** llama2.c's starting best score: a pair scoring at or below it never merges. */
const NO_SCORE = -1e10;
/** Segments longer than this are not cached; the cache is cleared when it reaches CACHE_LIMIT entries. */
const MAX_CACHED_SEGMENT = 256;
const CACHE_LIMIT = 200_000;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** A latin1 binary string of `bytes`. */
function binary(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/** The byte a piece stands for when it reads "<0xHH>" (run.c's sscanf "<0x%02hhX>"), else null. */
function bytePieceValue(piece: string): number | null {
  const m = /^<0x([0-9A-Fa-f]{1,2})/.exec(piece);
  return m ? parseInt(m[1]!, 16) : null;
}

/** The llama2.c tokenizer of a tok512.bin / tokenizer.bin. */
export class Llama2cTokenizer implements Tokenizer {
  readonly kind = 'llama2c';
  readonly vocabSize: number;
  readonly bosId = BOS;
  readonly eosId = EOS;
  readonly padId = null;
  readonly defaultBos = true;
  /** The file's max_token_length field (kept for completeness; encode does not need it). */
  readonly maxTokenLength: number;
  /** pieces[id]: the piece's bytes as a binary string. */
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly lookup = new Map<string, number>();
  /**
   * Whether text may be cut before each space that follows a non-space and encoded (and cached) in
   * pieces. Exact when no piece has a non-space byte followed by a space: a merge across such a cut
   * would create exactly that, so none happens, and merges on either side never interact.
   */
  private readonly splitsAtSpaces: boolean;
  private readonly cache = new Map<string, readonly number[]>();

  constructor(pieces: string[], scores: Float32Array, maxTokenLength: number, source = 'tokenizer') {
    if (pieces.length < BYTE_OFFSET + 256) throw new TokenizerError(`${source}: ${pieces.length} tokens, but llama2.c needs at least ${BYTE_OFFSET + 256} (<unk>, BOS, EOS and 256 byte tokens)`);
    for (let b = 0; b < 256; b++) {
      const want = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      if (pieces[b + BYTE_OFFSET] !== want) throw new TokenizerError(`${source}: token ${b + BYTE_OFFSET} is ${JSON.stringify(pieces[b + BYTE_OFFSET])}, expected the byte token ${want}`);
    }
    this.pieces = pieces;
    this.scores = scores;
    this.maxTokenLength = maxTokenLength;
    this.vocabSize = pieces.length;
    // The first id wins for a repeated piece (llama2.c's bsearch over a sorted copy picks one of them).
    pieces.forEach((p, id) => this.lookup.has(p) || this.lookup.set(p, id));
    this.splitsAtSpaces = this.lookup.has(' ') && !pieces.some((p) => /[^ ] /.test(p));
  }

  /** Parse llama2.c's tokenizer file: int32 max_token_length, then per token float32 score, int32 length, bytes. */
  static parse(data: Uint8Array, source = 'tokenizer.bin'): Llama2cTokenizer {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (data.byteLength < 4) throw new TokenizerError(`${source}: ${data.byteLength} bytes, too short for a llama2.c tokenizer`);
    const maxTokenLength = view.getInt32(0, true);
    const pieces: string[] = [];
    const scores: number[] = [];
    let at = 4;
    while (at < data.byteLength) {
      if (at + 8 > data.byteLength) throw new TokenizerError(`${source}: truncated at byte ${at} (token ${pieces.length} has no complete score and length)`);
      const score = view.getFloat32(at, true);
      const len = view.getInt32(at + 4, true);
      at += 8;
      if (len < 0 || at + len > data.byteLength) throw new TokenizerError(`${source}: token ${pieces.length} claims ${len} bytes at byte ${at}, beyond the end of the file`);
      pieces.push(binary(data.subarray(at, at + len)));
      scores.push(score);
      at += len;
    }
    return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxTokenLength, source);
  }

  /** run.c's encode: a dummy-prefix space, one token per UTF-8 character (else its bytes), then greedy merges; `bos`/`eos` as its flags. allowSpecial has no effect (llama2.c never parses special strings). */
  encode(text: string, options?: EncodeOptions): number[] {
    const ids: number[] = [];
    if (text.length > 0) {
      const full = ' ' + text;
      if (this.splitsAtSpaces) {
        let start = 0;
        for (let i = 1; i < full.length; i++) {
          if (full.charCodeAt(i) === 0x20 && full.charCodeAt(i - 1) !== 0x20) {
            this.encodeSegment(full.slice(start, i), ids);
            start = i;
          }
        }
        this.encodeSegment(full.slice(start), ids);
      } else {
        this.encodeSegment(full, ids);
      }
    }
    return addBosEos(ids, this, options);
  }

  /** run.c's decode, token by token: BOS and EOS give nothing, a space right after BOS is dropped, <0xHH> gives its byte. */
  decode(ids: ArrayLike<number>): string {
    const out: number[] = [];
    let prev = -1;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      checkId(id, this.vocabSize);
      if (id !== BOS && id !== EOS) {
        let piece = this.pieces[id]!;
        if (prev === BOS && piece.charCodeAt(0) === 0x20) piece = piece.slice(1);
        const byte = bytePieceValue(piece);
        if (byte !== null) out.push(byte);
        else for (let k = 0; k < piece.length; k++) out.push(piece.charCodeAt(k));
      }
      prev = id;
    }
    return utf8Decoder.decode(Uint8Array.from(out));
  }

  /** The piece for `id` as text ("<0x0A>" for byte tokens, "\n<s>\n" for BOS as the file stores it). */
  idToToken(id: number): string {
    checkId(id, this.vocabSize);
    return utf8Decoder.decode(Uint8Array.from(this.pieces[id]!, (c) => c.charCodeAt(0)));
  }

  /** The id of a piece given as text, or null. */
  tokenToId(token: string): number | null {
    return this.lookup.get(binary(utf8.encode(token))) ?? null;
  }

  /** Append the ids of one segment (cached when short): its characters' pieces, greedily merged. */
  private encodeSegment(segment: string, out: number[]): void {
    let ids = this.cache.get(segment);
    if (ids === undefined) {
      const bytes = utf8.encode(segment);
      const symbols: string[] = [];
      for (let i = 0; i < bytes.length; ) {
        // A character is a lead byte and up to three continuation bytes, as run.c groups them.
        const start = i++;
        while (i < bytes.length && (bytes[i]! & 0xc0) === 0x80 && i - start < 4) i++;
        this.pushChar(binary(bytes.subarray(start, i)), symbols);
      }
      ids = mergePairs(symbols, this.rankOf).map((sym) => this.lookup.get(sym)!);
      if (segment.length <= MAX_CACHED_SEGMENT) {
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(segment, ids);
      }
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  /** Push the piece for one character, or its byte tokens when the vocabulary lacks it. */
  private pushChar(ch: string, symbols: string[]): void {
    if (this.lookup.has(ch)) {
      symbols.push(ch);
      return;
    }
    for (let k = 0; k < ch.length; k++) symbols.push(this.pieces[ch.charCodeAt(k) + BYTE_OFFSET]!);
  }

  /** Merge rank of a pair: minus the score of their concatenation, undefined when it is not a piece. */
  private readonly rankOf = (a: string, b: string): number | undefined => {
    const id = this.lookup.get(a + b);
    if (id === undefined) return undefined;
    const score = this.scores[id]!;
    return score > NO_SCORE ? -score : undefined;
  };
}
