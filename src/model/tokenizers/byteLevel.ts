// GPT-2's byte-level alphabet and pre-tokenizer pattern (openai/gpt-2 encoder.py, which HF's
// ByteLevel pre-tokenizer and gpt-3-encoder copy): every byte maps to one printable character, so a
// BPE vocabulary of strings covers all bytes and the text never needs an unknown token.

/**
 * GPT-2's pre-tokenizer: contractions, letter runs, digit runs, other runs, whitespace (a space joins
 * the next run). `\s` is spelled \p{White_Space} because that is what `\s` means in the engines GPT-2
 * models were trained with (Python's `regex` in openai/gpt-2, Oniguruma in HF's Rust tokenizers,
 * tiktoken); JavaScript's `\s` also matches U+FEFF and misses U+0085, so gpt-3-encoder and
 * @huggingface/tokenizers' ByteLevel split those two characters differently.
 */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** BYTE_TO_CHAR[b]: the character standing for byte b (printable bytes stand for themselves). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  return table;
})();

/** CHAR_TO_BYTE.get(charCode): the byte a byte-level character stands for. */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b]));

const utf8 = new TextEncoder();

/** The byte-level string of `text`: its UTF-8 bytes, one alphabet character each. */
export function toByteLevel(text: string): string {
  let s = '';
  for (const b of utf8.encode(text)) s += BYTE_TO_CHAR[b];
  return s;
}

/** The bytes a byte-level token string stands for; characters outside the alphabet keep their UTF-8 bytes. */
export function fromByteLevel(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch.charCodeAt(0));
    if (b !== undefined && ch.length === 1) out.push(b);
    else for (const x of utf8.encode(ch)) out.push(x);
  }
  return Uint8Array.from(out);
}
