// demo.ts: `npm start` / `vramlab demo`: load the built-in tiny model (the Llama checkpoint shipped in
// test/fixtures/tiny-llama-gqa, HuggingFace format), prefill a prompt, decode, and print what it did,
// how long each step took and how much memory it used. --json: the same as one object,
//
//   {"device", "model", "load_ms", "prefill": {"tokens", "ms", "tokens_per_s"}, "decode": {...},
//    "kv": {"blocks", "block_tokens", "tokens", "pool_blocks", "pool_bytes"},
//    "vram": {"current_bytes", "peak_bytes", "budget_bytes"}, "tokens": [...]}
import { join } from 'node:path';
import { packageRoot } from '../runtime/native.js';
import { Runtime } from '../runtime/runtime.js';
import { formatSize } from '../runtime/units.js';
import { loadingBar } from './progress.js';

export interface DemoOptions {
  device: string;
  budget?: string;
  json?: boolean;
}

const PROMPT = [55, 76, 226, 228, 162, 272, 174, 247, 67, 346, 438, 253, 234, 178, 351, 111, 458, 72, 294, 180, 50, 139, 481, 194];
const NEW_TOKENS = 32;

function row(cells: (string | number)[]): string {
  const widths = [10, 8, 10, 12];
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i] as number) : String(c).padStart(widths[i] as number))).join('');
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const dir = join(packageRoot(), 'test', 'fixtures', 'tiny-llama-gqa');
  const rt = await Runtime.open({ device: options.device, budget: options.budget ?? '64MB' });
  try {
    let t0 = performance.now();
    const bar = loadingBar(dir);
    const model = await rt.loadModel(dir, { onProgress: bar.onProgress }).finally(() => bar.end());
    const loadMs = performance.now() - t0;
    const info = model.info();
    const s = info.shape;
    const session = model.createSession();

    t0 = performance.now();
    const prefill = await session.forward(PROMPT, { logits: 'last' });
    const prefillMs = performance.now() - t0;
    const tokens = [prefill?.argmax() ?? 0];
    t0 = performance.now();
    while (tokens.length < NEW_TOKENS) tokens.push((await session.decode(tokens[tokens.length - 1] as number)).argmax());
    const decodeMs = performance.now() - t0;
    const decodeSteps = NEW_TOKENS - 1;
    const mem = rt.memory();
    if (options.json) {
      const rate = (tokens: number, ms: number) => ({ tokens, ms, tokens_per_s: (tokens / ms) * 1000 });
      const out = {
        device: rt.deviceName(),
        model: model.name,
        load_ms: loadMs,
        prefill: rate(PROMPT.length, prefillMs),
        decode: rate(decodeSteps, decodeMs),
        kv: { blocks: session.blocks, block_tokens: info.kvBlockTokens, tokens: session.tokens, pool_blocks: info.kvPoolBlocks, pool_bytes: info.kvPoolBytes },
        vram: { current_bytes: mem.current, peak_bytes: mem.peak, budget_bytes: mem.budget },
        tokens,
      };
      process.stdout.write(JSON.stringify(out) + '\n');
      return;
    }

    console.log(`vramlab demo on ${rt.deviceName()}, VRAM budget ${formatSize(mem.budget)}`);
    console.log(`model ${model.name}: ${s.numLayers} layers, hidden ${s.hiddenSize}, ${s.numHeads} heads / ${s.numKvHeads} KV heads, vocab ${s.vocabSize}, ${formatSize(info.weightBytes)} of ${s.dtype.toUpperCase()} weights`);
    console.log('');
    console.log(row(['step', 'tokens', 'ms', 'tokens/s']));
    console.log(row(['load', '-', loadMs.toFixed(2), '-']));
    console.log(row(['prefill', PROMPT.length, prefillMs.toFixed(2), Math.round((PROMPT.length / prefillMs) * 1000)]));
    console.log(row(['decode', decodeSteps, decodeMs.toFixed(2), Math.round((decodeSteps / decodeMs) * 1000)]));
    console.log('');
    console.log(`KV cache: ${session.blocks} blocks of ${info.kvBlockTokens} tokens hold ${session.tokens} tokens; pool ${info.kvPoolBlocks} blocks (${formatSize(info.kvPoolBytes)})`);
    console.log(`VRAM: ${formatSize(mem.current)} in use, peak ${formatSize(mem.peak)} of ${formatSize(mem.budget)}`);
    console.log(`greedy continuation: ${tokens.join(' ')}`);
  } finally {
    rt.dispose();
  }
}
