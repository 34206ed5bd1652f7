// text.ts: whether a file's bytes are text. A .vlab file's bytes (runtime/files.ts reads them) are
// checked to be text (UTF-8, no NUL) before they are decoded: decoding would hide where a binary file
// went wrong.

/** The first byte where `bytes` stop being text, and its position as the lexer counts it. */
export interface NonText {
  /** Offset in UTF-16 code units of the text before it, line and column from 1 (a column counts UTF-16 units). */
  offset: number;
  line: number;
  column: number;
  /** What is wrong: "a NUL byte" or "byte 0xFF is not UTF-8". */
  what: string;
}

/** The length of the UTF-8 sequence at bytes[i] (1 to 4), or 0 when none starts there (RFC 3629: no overlongs, surrogates or past U+10FFFF). */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i] as number;
  if (b < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const c = bytes[i + k];
    return c !== undefined && c >= lo && c <= hi;
  };
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) {
    const second = b === 0xe0 ? cont(1, 0xa0) : b === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    return second && cont(2) ? 3 : 0;
  }
  if (b >= 0xf0 && b <= 0xf4) {
    const second = b === 0xf0 ? cont(1, 0x90) : b === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    return second && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * Where `bytes` stop being UTF-8 text: the first NUL byte or the first byte that starts no valid UTF-8
 * sequence; null when they are text. Lines end at \n, \r\n or \r, as the .vlab lexer ends them.
 */
export function firstNonText(bytes: Uint8Array): NonText | null {
  let offset = 0;
  let line = 1;
  let column = 1;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] as number;
    const n = b === 0 ? 0 : sequenceLength(bytes, i);
    if (n === 0) return { offset, line, column, what: b === 0 ? 'a NUL byte' : `byte 0x${b.toString(16).toUpperCase().padStart(2, '0')} is not UTF-8` };
    if (b === 0x0a || b === 0x0d) {
      const crlf = b === 0x0d && bytes[i + 1] === 0x0a;
      line++;
      column = 1;
      offset += crlf ? 2 : 1;
      i += crlf ? 2 : 1;
      continue;
    }
    const units = n === 4 ? 2 : 1; // a code point past U+FFFF is a surrogate pair
    column += units;
    offset += units;
    i += n;
  }
  return null;
}
