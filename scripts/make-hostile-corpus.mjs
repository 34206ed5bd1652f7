// make-hostile-corpus.mjs OUT [COUNT] [SEED]: writes COUNT (default 300) mutated copies of the
// tiny-llama-mha fixture under OUT for native/build-asan/fuzz-loader: config.json values set to huge,
// negative, fractional, non-finite or wrong-typed values; safetensors header lengths shifted; header
// and data bytes flipped; files truncated; offsets, shapes and dtypes of tensors changed; the JSON
// text of config.json or the header edited (numbers beyond 64 bits or a double, a key twice, deep
// nesting, escapes). Seeded, so a run can be repeated exactly.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [out, countArg = '300', seedArg = '1'] = process.argv.slice(2);
if (!out) throw new Error('usage: make-hostile-corpus.mjs OUT [COUNT] [SEED]');
const SRC = join(import.meta.dirname, '..', 'test', 'fixtures', 'tiny-llama-mha');
let state = BigInt(seedArg) | 1n;
const rand = () => {
  state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
  return Number(state >> 33n) / 2 ** 31;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const VALUES = [0, -1, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 1, 65536, 1e9, 1e300, 0.5, '64', null, [], {}, true];
const KEYS = ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'max_position_embeddings', 'rms_norm_eps'];
const config = JSON.parse(readFileSync(join(SRC, 'config.json'), 'utf8'));
const st = readFileSync(join(SRC, 'model.safetensors'));
const n = Number(st.readBigUInt64LE(0));
const header = JSON.parse(st.subarray(8, 8 + n).toString('utf8'));
const names = Object.keys(header).filter((k) => k !== '__metadata__');

// One edit of JSON text at a random place, for the parser and the loader's walks over it.
const BIG = ['18446744073709551616', '-9223372036854775809', '123456789012345678901234567890', '1e999', '-1e400', '1e-400', '9223372036854775808'];
function editText(json) {
  const at = (re) => pick([...json.matchAll(re)]);
  const put = (m, text) => (m ? json.slice(0, m.index) + text + json.slice(m.index + m[0].length) : json);
  const depth = pick([63, 64, 65, 1000]);
  switch (Math.floor(rand() * 4)) {
    case 0: return put(at(/-?\d+(\.\d+)?(e-?\d+)?/g), pick(BIG));
    case 1: { const m = at(/"[^"\\]+":(\{[^{}]*\}|\[[^[\]]*\]|[^,{}[\]]+)/g); return put(m, m ? `${m[0]},${m[0]}` : ''); }
    case 2: return put(at(/-?\d+/g), `${'['.repeat(depth)}1${']'.repeat(depth)}`);
    default: { const m = at(/"[a-z]/g); return put(m, m ? `"\\u${m[0].charCodeAt(1).toString(16).padStart(4, '0')}` : ''); }
  }
}

function writeSt(path, h, data, lengthDelta = 0, text = (json) => json) {
  let json = text(JSON.stringify(h));
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Math.max(0, json.length + lengthDelta)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json), data]));
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (let i = 0; i < Number(countArg); i++) {
  const dir = join(out, `case-${String(i).padStart(4, '0')}`);
  mkdirSync(dir);
  const c = structuredClone(config);
  const h = structuredClone(header);
  let data = Buffer.from(st.subarray(8 + n));
  let lengthDelta = 0;
  let configText = (json) => json;
  let headerText = (json) => json;
  const kind = Math.floor(rand() * 7);
  if (kind === 0) for (let k = 0; k < 1 + rand() * 3; k++) c[pick(KEYS)] = pick(VALUES);
  if (kind === 1) lengthDelta = pick([-9, -8, -1, 1, 8, 1e6]);
  if (kind === 2) h[pick(names)].data_offsets = [Math.floor(rand() * data.length), Math.floor(rand() * data.length * 2)];
  if (kind === 3) h[pick(names)].shape = [pick([0, 1, 2 ** 32, 2 ** 53, 65, 64]), pick([64, 2 ** 32, 0])];
  if (kind === 4) h[pick(names)].dtype = pick(['I8', 'U8', 'F64', 'Q4', 'F32', 'BF16', '']);
  if (kind === 5) {
    data = Buffer.from(data);
    for (let k = 0; k < 16; k++) data[Math.floor(rand() * data.length)] = 0xff; // NaN / Inf halves
  }
  if (kind === 6 && rand() < 0.5) configText = editText;
  else if (kind === 6) headerText = editText;
  writeFileSync(join(dir, 'config.json'), configText(JSON.stringify(c)));
  writeSt(join(dir, 'model.safetensors'), h, data, lengthDelta, headerText);
  if (rand() < 0.1) copyFileSync(join(dir, 'config.json'), join(dir, 'generation_config.json'));
}
console.log(`wrote ${countArg} model directories under ${out}`);
