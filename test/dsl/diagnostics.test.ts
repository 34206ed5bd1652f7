// The diagnostics of the .vlab language: every class of error, at its exact position, in the one
// text form `FILE:LINE:COL: error: message` (+ `  hint: ...`); several errors of one file in one run.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource, compileSource, type Diagnostic, DiagnosticsError, formatDiagnostics } from '../../dsl/index.js';

const BASE = join(import.meta.dirname, '..', '..', 'experiments');

function diagnose(text: string): string {
  return formatDiagnostics(checkSource(text, { file: 't.vlab', baseDir: BASE }));
}

function codes(text: string): string[] {
  return checkSource(text, { file: 't.vlab', baseDir: BASE }).map((d: Diagnostic) => d.code);
}

/** A decode experiment on the tiny shape, with `extra` lines in its body. */
function decode(...extra: string[]): string {
  return ['experiment a {', '  measure = decode', '  model = synthetic(tiny)', ...extra.map((l) => `  ${l}`), '}'].join('\n');
}

describe('lexer errors', () => {
  it('unexpected-character: names the character and its position', () => {
    expect(diagnose(decode('repeat = 3 @'))).toBe('t.vlab:4:14: error: unexpected \'@\'');
    expect(codes(decode('repeat = 3 @'))).toEqual(['unexpected-character']);
  });

  it('not-text: text with a NUL byte (a binary file read as text) is one diagnostic at the first NUL', () => {
    const text = 'experiment a {\n  measure = \u00e9\u{1F600}\u0000\u0001 copy_bandwidth \u0000 @ @ @\n}';
    expect(diagnose(text)).toBe('t.vlab:2:16: error: not a text file: a NUL byte\n  hint: .vlab files are UTF-8 text: is this the right file?');
    expect(codes(text)).toEqual(['not-text']);
    expect(() => compileSource(text, { file: 't.vlab', baseDir: BASE })).toThrow('t.vlab:2:16: error: not a text file: a NUL byte');
  });

  it('unexpected-character: a stray control character is named; a replacement character gets a hint', () => {
    expect(diagnose('experiment a {\u0001 measure = copy_bandwidth }')).toBe('t.vlab:1:15: error: unexpected character U+0001');
    expect(diagnose('experiment a {\ufffd measure = copy_bandwidth }')).toBe(
      't.vlab:1:15: error: unexpected character U+FFFD\n  hint: is this a text file? .vlab files are UTF-8 text',
    );
  });

  it('unterminated-string, and no echo of it from the parser on its line', () => {
    expect(diagnose(decode('prompt = "Once upon', 'repeat = 2'))).toBe(
      't.vlab:4:12: error: unterminated string: " has no closing " on its line\n  hint: close the string with " before the end of the line (write \\" for a quote inside it)',
    );
  });

  it('unterminated-comment', () => {
    expect(codes(decode('repeat = 2 /* not closed'))).toEqual(['unterminated-comment']);
    expect(diagnose(decode('repeat = 2 /* not closed'))).toMatch(/^t\.vlab:4:14: error: unterminated comment: \/\* has no closing \*\//);
  });
});

describe('syntax errors', () => {
  it('syntax: what was expected, after what, and what was found', () => {
    expect(diagnose(decode('budget = = 12 GB'))).toBe(
      "t.vlab:4:12: error: expected a value (a number, a size such as 4 GB, a string, a name, a list or a call) after '=', found '='",
    );
    expect(diagnose(decode('baselines = [kv-cache stateless]'))).toBe("t.vlab:4:25: error: expected ',' or ']' after 'kv-cache', found 'stateless'");
    expect(diagnose(decode('repeat = 3 warmup = 1'))).toBe("t.vlab:4:14: error: expected a new line or ';' after '3', found 'warmup'");
    expect(diagnose('experiment a {\n  measure = copy_bandwidth')).toBe("t.vlab:2:27: error: expected '}' after 'copy_bandwidth', found the end of the file");
  });

  it('a setting outside an experiment', () => {
    expect(diagnose('budget = 4 GB\n')).toBe('t.vlab:1:1: error: the setting budget is outside any experiment\n  hint: put it inside experiment NAME { ... }');
  });

  it('too-deep: nesting is bounded', () => {
    const text = decode(`prompt = ${'['.repeat(40)}1${']'.repeat(40)}`); // the experiment's { is level 1
    expect(diagnose(text)).toBe('t.vlab:4:43: error: brackets nested more than 32 deep\n  hint: a .vlab value nests a list or call a level or two deep');
  });

  it('too-large: a file over 1 MiB is refused at once', () => {
    expect(codes('#'.repeat(2 ** 20 + 1))).toEqual(['too-large']);
  });
});

describe('checker errors', () => {
  it('unknown-setting, with the nearest name', () => {
    expect(diagnose(decode('bugdet = 12 GB'))).toMatch(/^t\.vlab:4:3: error: unknown setting bugdet\n  hint: settings of decode: .* \(did you mean budget\?\)$/);
  });

  it('unit: unknown, missing, of the wrong dimension', () => {
    expect(diagnose(decode('budget = 12 GX'))).toBe('t.vlab:4:15: error: unknown unit GX for budget\n  hint: write a size with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. budget = 4 GB');
    expect(diagnose(decode('budget = 12'))).toBe('t.vlab:4:12: error: budget needs a unit: 12 what?\n  hint: write a size with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. budget = 4 GB');
    expect(diagnose(decode('budget = 12 ms'))).toBe('t.vlab:4:15: error: budget is a size, and ms is not a unit of size\n  hint: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. budget = 4 GB');
    expect(diagnose(decode('time_limit = 5'))).toBe('t.vlab:4:16: error: time_limit needs a unit: 5 what?\n  hint: use us, ms, s or min, e.g. time_limit = 10 min');
    expect(diagnose(decode('prompt = 16'))).toBe('t.vlab:4:12: error: prompt as a number counts tokens: write 16 tokens\n  hint: or give ids ([3, 17, 42]) or a text ("Once upon a time")');
  });

  it('range and type', () => {
    expect(diagnose(decode('repeat = 0', 'warmup = 1.5', 'size = 1 MB'))).toBe(
      [
        't.vlab:4:12: error: repeat must be from 1 to 10000, got 0',
        't.vlab:5:12: error: warmup must be a whole number, got 1.5',
        't.vlab:6:3: error: size does not apply to measure decode\n  hint: size is for copy_bandwidth',
      ].join('\n'),
    );
    expect(diagnose(decode('sessions = [1, 2]'))).toBe('t.vlab:4:14: error: sessions must be a number, got a list');
    expect(diagnose(decode('sweep sessions in 4'))).toBe('t.vlab:4:21: error: sweep sessions needs a list ([a, b, c]) or a range (1..8 or 1..8 step 2), got a single value\n  hint: for one value write sessions = ...');
    expect(diagnose(decode('sweep sessions in 8..1'))).toBe('t.vlab:4:21: error: sweep sessions: the range runs backwards (8 > 1)');
  });

  it('unknown-name: a measure without a module is an unknown choice, with the registered ones and the nearest', () => {
    expect(diagnose('experiment a { measure = swapping }')).toBe('t.vlab:1:26: error: measure has no choice swapping\n  hint: use copy_bandwidth, streaming, decode, breakpoints, steering, paging, agents, batch-decode');
    expect(diagnose('experiment a { measure = decod }')).toBe('t.vlab:1:26: error: measure has no choice decod\n  hint: use copy_bandwidth, streaming, decode, breakpoints, steering, paging, agents, batch-decode (did you mean decode?)');
    expect(codes('experiment a { measure = swapping }')).toEqual(['unknown-name']);
  });

  it('unknown-name and duplicate', () => {
    expect(diagnose(decode('placement = streamed', 'baselines = [kv-cache, kv-cache]'))).toBe(
      [
        't.vlab:4:15: error: placement has no choice streamed\n  hint: use resident, stream, stream-sync, accelerate, auto (did you mean stream?)',
        't.vlab:5:26: error: kv-cache is listed twice in baselines',
      ].join('\n'),
    );
    expect(diagnose(decode('repeat = 2', 'repeat = 3'))).toBe('t.vlab:5:3: error: repeat is already set at 4:3\n  hint: remove one of them');
    expect(diagnose(decode('sessions = 2', 'sweep sessions in [1, 2]'))).toBe('t.vlab:5:9: error: sessions is already set at 4:3\n  hint: a setting is either set or swept: remove one');
    expect(diagnose('experiment a { measure = copy_bandwidth }\nexperiment a { measure = copy_bandwidth }')).toBe(
      't.vlab:2:12: error: experiment a is already defined at 1:12\n  hint: give each experiment of a file its own name',
    );
  });

  it('missing: measure, model, layer, edit', () => {
    expect(diagnose('experiment a {\n  repeat = 1\n}')).toBe('t.vlab:1:12: error: experiment a has no measure\n  hint: add measure = copy_bandwidth | streaming | decode | breakpoints | steering | paging | agents | batch-decode');
    expect(codes('experiment a { measure = decode }')).toEqual(['missing']);
    expect(diagnose('experiment s {\n  measure = steering\n  model = synthetic(tiny)\n}')).toBe(
      [
        't.vlab:1:12: error: experiment s (measure steering) has no layer\n  hint: add layer = N (or sweep layer in [...]), counting layers from 0',
        't.vlab:1:12: error: experiment s (measure steering) has no edit\n  hint: add scale = 0.9 and/or add = random(norm = 4)',
      ].join('\n'),
    );
  });

  it('reference: layers, token ids, model directories, files', () => {
    const text = ['experiment b {', '  measure = breakpoints', '  model = synthetic(tiny)', '  sweep layer in [1, 4]', '  prompt = [3, 512]', '}'].join('\n');
    expect(diagnose(text)).toBe(
      [
        't.vlab:4:22: error: layer 4 is past the last layer of synthetic:tiny (layers 0..3)',
        't.vlab:5:16: error: token id 512 is outside the vocabulary of synthetic:tiny (0..511)',
      ].join('\n'),
    );
    expect(diagnose('experiment a {\n  measure = decode\n  model = "nowhere"\n}')).toBe(
      `t.vlab:3:11: error: model: no such model directory ${join(BASE, 'nowhere')}\n  hint: a model is a HuggingFace Llama directory (config.json and safetensors), relative to this file, or synthetic(...)`,
    );
    expect(diagnose(decode('prompt = 1000 tokens', 'new_tokens = 100'))).toBe(
      't.vlab:5:3: error: the prompt (1000 tokens) and new_tokens (100) run past the 1024 positions of synthetic:tiny\n  hint: shorten the prompt or generate fewer tokens',
    );
    expect(diagnose('experiment a {\n  measure = decode\n  model = synthetic(tiny, layers = 0, foo = 2)\n}')).toBe(
      [
        't.vlab:3:27: error: synthetic(...): layers must be a positive integer up to 2147483647, got "0"',
        't.vlab:3:39: error: synthetic(...): unknown key "foo" (keys: hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_pos, dtype, seed, tie, rope_theta, eps)',
      ].join('\n'),
    );
  });

  it('unsupported: combinations the runtime cannot run', () => {
    expect(diagnose(decode('ring = 1 MB'))).toBe('t.vlab:4:3: error: ring applies to streamed layers, and placement is resident\n  hint: set placement = stream, stream-sync or auto, or remove it');
    expect(diagnose('experiment s {\n  measure = steering\n  model = synthetic(tiny)\n  layer = 1\n  scale = 0.9\n  prompt = "hello"\n}')).toBe(
      't.vlab:6:12: error: a text prompt needs a tokenizer, and synthetic:tiny has none\n  hint: synthetic models take a token count (512 tokens) or ids ([3, 17, 42])',
    );
    expect(diagnose(decode('on cpu {', '  on cuda { repeat = 1 }', '}'))).toBe('t.vlab:5:5: error: on blocks do not nest\n  hint: move it out of on cpu { ... }');
  });

  it('an error only in an on-device variant is found too', () => {
    const text = ['experiment b {', '  measure = breakpoints', '  model = synthetic(llama-7b)', '  layer = 20', '  on cpu { model = synthetic(tiny) }', '}'].join('\n');
    expect(diagnose(text)).toBe('t.vlab:4:3: error: layer 20 is past the last layer of synthetic:tiny (layers 0..3)');
  });
});

describe('several errors in one file', () => {
  it('reports every error, in order, each once, and nothing spurious from recovery', () => {
    const text = [
      'experiment a {',
      '  measure = decode',
      '  model = synthetic(tiny)',
      '  budget = = 12 GB', // syntax
      '  ring = 4 GX', // unit (and the ring/placement combination)
      '  baselines = [kv-cache stateless]', // syntax
      '  repeat = 0', // range
      '  bugdet = 1 GB', // unknown setting
      '  prompt = "Once upon', // unterminated string
      '}',
      'experiment a { measure = copy_bandwidth; size = 1 MB }', // duplicate experiment
    ].join('\n');
    expect(checkSource(text, { file: 't.vlab', baseDir: BASE }).map((d) => `${d.line}:${d.column} ${d.code}`)).toEqual([
      '4:12 syntax',
      '5:3 unsupported', // ring without a streamed placement
      '5:12 unit',
      '6:25 syntax',
      '7:12 range',
      '8:3 unknown-setting',
      '9:12 unterminated-string',
      '11:12 duplicate',
    ]);
  });

  it('compileSource throws a DiagnosticsError carrying them', () => {
    let error: unknown;
    try {
      compileSource(decode('repeat = 0', 'budget = 3'), { file: 't.vlab', baseDir: BASE });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DiagnosticsError);
    expect((error as DiagnosticsError).code).toBe('VL_ERR_INVALID_ARGUMENT');
    expect((error as DiagnosticsError).diagnostics.map((d) => d.code)).toEqual(['range', 'unit']);
  });
});

describe('sweeps without a ceiling', () => {
  it('range: the product of the sweeps over max_points, at the sweep that passes it; max_points raises it', () => {
    const sweeps = ['prompt = 4 tokens', 'sweep sessions in 1..1000', 'sweep new_tokens in 1..1000', 'sweep kv_pool in 1000..1999'];
    expect(diagnose(decode(...sweeps))).toBe(
      't.vlab:6:3: error: the sweeps make 1,000,000,000 points (sessions 1,000 x new_tokens 1,000 x kv_pool 1,000), more than max_points = 10,000\n  hint: sweep fewer values, or raise max_points (at most 1,000,000)',
    );
    expect(codes(decode('max_points = 1000000', ...sweeps))).toEqual(['range']);
    expect(diagnose(decode('max_points = 1000000', ...sweeps.slice(0, 3)))).toBe('');
    expect(diagnose(decode('max_points = 0'))).toBe('t.vlab:4:16: error: max_points must be from 1 to 1000000, got 0');
  });
});
