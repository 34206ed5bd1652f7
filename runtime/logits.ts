// logits.ts: what a forward pass returns: logits rows (positions) by vocabulary, and argmax, the one
// greedy pick the runtime, the lab and the benchmarks use.
import { VramlabError } from './errors.js';

/** The index of the first maximum (torch.argmax); 0 for an empty array. */
export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}

/** Logits rows (positions) by vocabulary, float32, row-major. */
export class Logits {
  constructor(
    readonly rows: number,
    readonly vocab: number,
    readonly data: Float32Array,
  ) {}

  row(i: number): Float32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.rows) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `row ${i} is outside 0..${this.rows - 1}`);
    return this.data.subarray(i * this.vocab, (i + 1) * this.vocab);
  }

  /** The index of the first maximum of a row (torch.argmax), by default the last. */
  argmax(i = this.rows - 1): number {
    return argmax(this.row(i));
  }

  toArrays(): number[][] {
    return Array.from({ length: this.rows }, (_, i) => Array.from(this.row(i)));
  }
}
