// vramlab generate (and logits) through the real binary: EOS stops as in transformers unless
// --ignore-eos, sampling flags (seeded, top-k 1 and a tiny top-p greedy), --prompt through the
// fixture's tokenizer.json with the exact text, --chat through a chat template as transformers
// renders it, the default length (to the context's end), the --json shape, the timings on stderr,
// the prompt echoed and the progress bar on a terminal, and one-line flag errors.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GQA, MHA, reference, Temps } from '../helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'vramlab.js');
const temps = new Temps();
afterAll(() => temps.removeAll());

function vramlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Out {
  tokens: number[];
  text: string | null;
  timings: Record<string, number | null>;
}

function json(...args: string[]): Out {
  const r = vramlab(...args, '--json');
  expect(r.stderr).not.toMatch(/vramlab:/);
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Out;
}

const ref = reference(GQA);
const IDS = ref.input_ids.join(',');
const TIMINGS = ['prefill_ms', 'prefill_tokens', 'prefill_tokens_per_s', 'decode_ms', 'decode_tokens', 'decode_ms_per_token', 'decode_tokens_per_s'];
// "The capital of France is" under the fixture's tokenizer.json: <s> first. Its greedy continuation
// ends at the EOS (id 2, config.json and generation_config.json) after 11 tokens.
const PROMPT = 'The capital of France is';
const PROMPT_IDS = [1, 267, 451, 294, 322, 276];
const TO_EOS = [98, 18, 446, 18, 180, 162, 258, 388, 433, 78, 2];

/** Byte-level BPE decoding straight from tokenizer.json (GPT-2's byte map), special tokens left out: the text, without the tokenizers library. */
function byteLevelText(ids: number[]): string {
  const tok = JSON.parse(readFileSync(join(GQA, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens: { id: number }[] };
  const byId = new Map(Object.entries(tok.model.vocab).map(([s, id]) => [id, s]));
  const printable = [...Array.from({ length: 94 }, (_, i) => 33 + i), ...Array.from({ length: 12 }, (_, i) => 161 + i), ...Array.from({ length: 82 }, (_, i) => 174 + i)];
  const byteOf = new Map<string, number>(printable.map((b) => [String.fromCodePoint(b), b]));
  let n = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) byteOf.set(String.fromCodePoint(256 + n++), b);
  const special = new Set(tok.added_tokens.map((t) => t.id));
  // ids past its 485 tokens (the fixture model's vocabulary is 512) have no text, as in tokenizers' id_to_token
  const bytes = ids.filter((id) => !special.has(id)).flatMap((id) => [...(byId.get(id) ?? '')].map((c) => byteOf.get(c) as number));
  return Buffer.from(bytes).toString('utf8');
}

/** A copy of the GQA fixture whose generation_config.json names other EOS ids. */
function withEos(eos: number | number[]): string {
  const dir = temps.copy(GQA);
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: eos }));
  return dir;
}

describe('vramlab generate: EOS', () => {
  it("stops at the model's EOS and prints it last, as transformers does; --ignore-eos goes on", () => {
    expect(json('generate', GQA, '--ids', PROMPT_IDS.join(','), '--max-new-tokens', '20').tokens).toEqual(TO_EOS);
    const on = json('generate', GQA, '--ids', PROMPT_IDS.join(','), '--max-new-tokens', '20', '--ignore-eos').tokens;
    expect(on).toHaveLength(20);
    expect(on.slice(0, 11)).toEqual(TO_EOS);
  });

  it("stops at any of generation_config.json's eos_token_id list (the reference prompt: 216 is its 3rd greedy token)", () => {
    const dir = withEos([511, 216]);
    const r = vramlab('generate', dir, '--ids', IDS, '--max-new-tokens', '24');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('339 339 216\n');
    expect(json('generate', dir, '--ids', IDS, '--max-new-tokens', '24', '--ignore-eos').tokens).toEqual(ref.greedy);
  });

  it('a synthetic model has no EOS: every token', () => {
    expect(json('generate', 'synthetic:tiny', '--ids', '1,2', '--max-new-tokens', '6').tokens).toHaveLength(6);
  });

  it('--ids-file: each session ends at its EOS, batched and in turns', () => {
    const dir = temps.make();
    const file = join(dir, 'prompts.txt');
    writeFileSync(file, `${PROMPT_IDS.join(',')}\n${IDS}\n`);
    for (const mode of [[], ['--turns']]) {
      const r = vramlab('generate', GQA, '--ids-file', file, '--max-new-tokens', '20', '--json', ...mode);
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout) as { tokens: number[][]; paging: object; text: string[]; timings: object };
      expect(Object.keys(out)).toEqual(['tokens', 'paging', 'text', 'timings']);
      expect(out.tokens).toEqual([TO_EOS, ref.greedy.slice(0, 20)]);
      expect(out.text).toEqual([byteLevelText(TO_EOS), byteLevelText(ref.greedy.slice(0, 20))]);
      expect(Object.keys(out.timings)).toEqual(TIMINGS);
    }
  });
});

describe('vramlab generate: sampling', () => {
  const sample = (...flags: string[]) => json('generate', GQA, '--ids', IDS, '--max-new-tokens', '16', '--ignore-eos', ...flags).tokens;

  it('the same seed gives the same tokens, another seed others (temperature 1)', () => {
    const a = sample('--temperature', '1', '--seed', '42');
    expect(sample('--temperature', '1', '--seed', '42')).toEqual(a);
    expect(sample('--temperature', '1', '--seed', '43')).not.toEqual(a);
    expect(a).not.toEqual(ref.greedy.slice(0, 16));
  });

  it('top-k 1 and a tiny top-p are greedy; temperature 0 is greedy', () => {
    expect(sample('--temperature', '1', '--top-k', '1', '--seed', '5')).toEqual(ref.greedy.slice(0, 16));
    expect(sample('--temperature', '1', '--top-p', '1e-9', '--seed', '5')).toEqual(ref.greedy.slice(0, 16));
    expect(sample('--temperature', '0')).toEqual(ref.greedy.slice(0, 16));
  });

  it('prints the sampling settings with the seed on stderr (a random seed when none is given)', () => {
    const r = vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '2', '--temperature', '0.7', '--top-k', '40', '--top-p', '0.9', '--seed', '-3');
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe('sampling: temperature 0.7, top-k 40, top-p 0.9, seed -3');
    const seed = /^sampling: temperature 1, seed (\d+)$/m.exec(vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '4', '--temperature', '1').stderr)?.[1];
    expect(seed).toBeDefined();
    const a = vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '4', '--temperature', '1', '--seed', seed as string);
    const b = vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '4', '--temperature', '1', '--seed', seed as string);
    expect(a.stdout).toBe(b.stdout);
  });
});

describe('vramlab generate / logits --prompt TEXT', () => {
  it("tokenizes the prompt through tokenizer.json and prints the continuation's exact text", () => {
    const out = json('generate', GQA, '--prompt', PROMPT, '--max-new-tokens', '20');
    expect(out.tokens).toEqual(TO_EOS);
    expect(out.text).toBe('_\u000f before\u000f\ufffd\ufffd\ufffdefore ItK');
    expect(out.text).toBe(byteLevelText(TO_EOS)); // the EOS is not in the text
    const r = vramlab('generate', GQA, '--prompt', PROMPT, '--max-new-tokens', '20');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${out.text}\n`);
  });

  it('--prompt is the same as --ids of its tokens', () => {
    expect(json('generate', GQA, '--ids', PROMPT_IDS.join(','), '--max-new-tokens', '20')).toMatchObject({ tokens: TO_EOS, text: byteLevelText(TO_EOS) });
    const a = vramlab('logits', GQA, '--prompt', PROMPT, '--json');
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(vramlab('logits', GQA, '--ids', PROMPT_IDS.join(','), '--json').stdout);
    expect((JSON.parse(a.stdout) as { logits: number[][] }).logits).toHaveLength(PROMPT_IDS.length);
  });

  it('with --ids the continuation prints as ids; "text" is null without a tokenizer.json', () => {
    const r = vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '4');
    expect(r.stdout).toBe(`${ref.greedy.slice(0, 4).join(' ')}\n`);
    const mha = json('generate', MHA, '--ids', reference(MHA).input_ids.join(','), '--max-new-tokens', '4');
    expect(mha).toMatchObject({ tokens: reference(MHA).greedy.slice(0, 4), text: null });
  });
});

describe('vramlab generate: --json and timings', () => {
  it('prints {"tokens", "text", "timings"} with the prefill and decode figures', () => {
    const out = json('generate', GQA, '--ids', IDS, '--max-new-tokens', '24');
    expect(Object.keys(out)).toEqual(['tokens', 'text', 'timings']);
    expect(out.tokens).toEqual(ref.greedy);
    expect(out.text).toBe(byteLevelText(ref.greedy));
    expect(Object.keys(out.timings)).toEqual(TIMINGS);
    expect(out.timings['prefill_tokens']).toBe(24);
    expect(out.timings['decode_tokens']).toBe(23);
    for (const k of TIMINGS) expect(out.timings[k]).toBeGreaterThan(0);
  });

  it('prints the timings on stderr as llama.cpp does: ms, tokens, ms per token, tokens per second', () => {
    const r = vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '24');
    expect(r.status).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^prefill time = +\d+\.\d\d ms \/ +24 tokens \( +\d+\.\d\d ms per token, +\d+\.\d\d tokens per second\)$/);
    expect(lines[1]).toMatch(/^ decode time = +\d+\.\d\d ms \/ +23 tokens \( +\d+\.\d\d ms per token, +\d+\.\d\d tokens per second\)$/);
    const one = vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '1');
    expect(one.stderr.trimEnd().split('\n')[1]).toMatch(/^ decode time = +0\.00 ms \/ +0 tokens$/);
  });
});

describe('vramlab generate on a terminal', () => {
  /** Runs a shell command under a pseudo-terminal 100 columns wide (util-linux script); returns what the terminal showed. */
  function onTerminal(command: string): string {
    const r = spawnSync('script', ['-qec', `stty cols 100; ${command}`, '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    return r.stdout;
  }
  const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} generate ${JSON.stringify(GQA)} --ids ${IDS} --max-new-tokens 24`;

  it('stdout elsewhere: a progress bar of tokens on stderr, cleared before the timings', () => {
    const file = join(temps.make(), 'out.txt');
    const screen = onTerminal(`${cmd} > ${file}`);
    expect(screen).toContain('\r[#...................]  1/24  tokens\x1b[K');
    expect(screen).toContain('\r[####################] 24/24  tokens\x1b[K\r\x1b[Kprefill time =');
    expect(readFileSync(file, 'utf8')).toBe(`${ref.greedy.join(' ')}\n`);
  });

  it('stdout on the terminal: the prompt first, then the tokens stream after it, and no bar overwrites them', () => {
    const screen = onTerminal(cmd);
    expect(screen).not.toContain('tokens\x1b[K');
    expect(screen).toContain(`${ref.input_ids.join(' ')} ${ref.greedy.join(' ')}\r\n`);
    const text = onTerminal(`${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} generate ${JSON.stringify(GQA)} --prompt ${JSON.stringify(PROMPT)} --max-new-tokens 20`);
    expect(text).toContain(`${PROMPT}${byteLevelText(TO_EOS)}\r\n`);
  });

  it('stdout elsewhere: the continuation alone', () => {
    expect(vramlab('generate', GQA, '--prompt', PROMPT, '--max-new-tokens', '20').stdout).toBe(`${byteLevelText(TO_EOS)}\n`);
  });

  it('stderr not a terminal: no bar', () => {
    expect(vramlab('generate', GQA, '--ids', IDS, '--max-new-tokens', '4').stderr).not.toContain('\r');
  });
});

describe('vramlab generate: flag errors, one line naming the flag', () => {
  function expectUserError(args: string[], message: string): void {
    const r = vramlab(...args);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`vramlab: ${message} (see vramlab --help)\n`);
    expect(r.stdout).toBe('');
  }
  const gen = ['generate', GQA, '--ids', '1', '--max-new-tokens', '2'];

  it.each([
    [['--temperature', '-1'], '--temperature: "-1" must be a number >= 0'],
    [['--temperature', 'hot'], '--temperature: "hot" must be a number >= 0'],
    [['--temperature', 'Infinity'], '--temperature: "Infinity" must be a number >= 0'],
    [['--temperature', '1', '--top-k', '0'], '--top-k: "0" must be a positive integer'],
    [['--temperature', '1', '--top-k', '2.5'], '--top-k: "2.5" must be a positive integer'],
    [['--temperature', '1', '--top-p', '0'], '--top-p: "0" must be a number in (0, 1]'],
    [['--temperature', '1', '--top-p', '1.5'], '--top-p: "1.5" must be a number in (0, 1]'],
    [['--temperature', '1', '--seed', '1.5'], '--seed: "1.5" must be an integer (at most 2^53 - 1 in size)'],
    [['--temperature', '1', '--seed', '9007199254740993'], '--seed: "9007199254740993" must be an integer (at most 2^53 - 1 in size)'],
    [['--top-k', '5'], '--top-k: sampling needs --temperature above 0 (the default, 0, is greedy)'],
    [['--temperature', '0', '--seed', '5'], '--seed: sampling needs --temperature above 0 (the default, 0, is greedy)'],
  ])('%j', (flags, message) => expectUserError([...gen, ...flags], message));

  it('--prompt: not with --ids, and only with a tokenizer.json', () => {
    expectUserError(['generate', GQA, '--ids', '1', '--prompt', 'hi', '--max-new-tokens', '2'], 'give --ids or --prompt, not both');
    expectUserError(['generate', GQA, '--max-new-tokens', '2'], '--ids or --prompt is required, e.g. --ids 3,17,42 or --prompt "The cat"');
    expectUserError(['generate', 'synthetic:tiny', '--prompt', 'hi', '--max-new-tokens', '2'], '--prompt: a synthetic model has no tokenizer.json: give token ids with --ids');
    expectUserError(['logits', MHA, '--prompt', 'hi'], `--prompt: ${MHA} has no tokenizer.json: give token ids with --ids`);
  });

  it("--prompt through a tokenizer.json that gives an id past the model's vocabulary names the tokenizer.json", () => {
    const dir = temps.copy(GQA);
    const path = join(dir, 'tokenizer.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"The": 267', '"The": 700'));
    const message = `${path} gives token id 700, outside the vocabulary of ${dir} (0..511, config.json's vocab_size): is it this model's tokenizer?`;
    for (const args of [['generate', dir, '--prompt', 'The cat', '--max-new-tokens', '2'], ['logits', dir, '--prompt', 'The cat']]) {
      const r = vramlab(...args);
      expect([r.status, r.stderr]).toEqual([1, `vramlab: ${message}\n`]);
    }
  });

  it('--ids-file: sampled only in turns, no --prompt; --chat needs a text', () => {
    const file = join(temps.make(), 'p.txt');
    writeFileSync(file, '1,2\n');
    expectUserError(['generate', GQA, '--ids-file', file, '--max-new-tokens', '2', '--temperature', '1'], '--temperature: the batched scheduler of --ids-file picks the argmax on the device: sample in turns (--turns)');
    expectUserError(['generate', GQA, '--ids-file', file, '--max-new-tokens', '2', '--prompt', 'hi'], 'give --prompt or --ids-file, not both');
    expectUserError(['generate', GQA, '--ids', '1', '--chat'], "--chat needs --prompt (the user's message)");
  });

});

describe('vramlab generate without --max-new-tokens: to the EOS or the context\'s end', () => {
  it("stops at the EOS, and says on stderr what it would have stopped at: the model's positions less the prompt", () => {
    const r = vramlab('generate', GQA, '--prompt', PROMPT, '--json');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as Out).tokens).toEqual(TO_EOS);
    expect(r.stderr.split('\n')[0]).toBe("max-new-tokens: to the EOS or the context's end: at most 1018 new tokens, the model's 1024 positions less the 6-token prompt");
    expect(json('generate', GQA, '--prompt', PROMPT, '--max-new-tokens', '-1').tokens).toEqual(TO_EOS);
  });

  it('without an EOS: every token to the context, here a 64-token KV pool, fewer than the positions', () => {
    const r = vramlab('generate', GQA, '--ids', IDS, '--ignore-eos', '--kv-pool-tokens', '64', '--json');
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(
      "max-new-tokens: to the EOS or the context's end: at most 40 new tokens, the KV pool's 64 tokens (fewer than the model's 1024 positions: --kv-pool-tokens) less the 24-token prompt",
    );
    const tokens = (JSON.parse(r.stdout) as Out).tokens;
    expect(tokens).toHaveLength(40);
    expect(tokens.slice(0, 24)).toEqual(ref.greedy);
  });

  it('a prompt that fills the context: one line', () => {
    const full = Array.from({ length: 64 }, (_, i) => i + 3).join(',');
    const r = vramlab('generate', GQA, '--ids', full, '--kv-pool-tokens', '64');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("vramlab: a 64-token prompt fills the context, the KV pool's 64 tokens (fewer than the model's 1024 positions: --kv-pool-tokens): no room for a new token\n");
  });

  it('--help states the default and its cap', () => {
    const help = vramlab('generate', '--help').stdout;
    expect(help).toContain("the\n                    default, -1 as llama.cpp's, stops at the context's end: the model's positions, or the\n                    KV pool's tokens if it holds fewer (--kv-pool-tokens), less the prompt");
  });
});

describe('vramlab generate / logits --chat: the chat template as transformers renders it', () => {
  // A Zephyr-style template (TinyLlama-Chat's, with BOS first), bos_token as an added token's content
  // (as Llama's tokenizer_config.json writes it), eos_token as a text.
  const TEMPLATE =
    "{{ bos_token }}{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n" +
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% endif %}\n" +
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
  const MESSAGE = 'What is the capital of France?';
  // What transformers' apply_chat_template(messages, add_generation_prompt=True, tokenize=False) returns
  // for it: Jinja with trim_blocks drops the newline after each {% %} tag, keeps those after {{ }}.
  const RENDERED = '<s><|user|>\nWhat is the capital of France?</s>\n<|assistant|>\n';
  function chatModel(config: object): string {
    const dir = temps.copy(GQA);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    return dir;
  }
  const dir = chatModel({ bos_token: { content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false }, eos_token: '</s>', chat_template: TEMPLATE });

  /** The prompt's tokens as `logits` prints them: [id, text] a position. */
  function promptTokens(...args: string[]): [number, string][] {
    const r = vramlab('logits', ...args);
    expect(r.status, r.stderr).toBe(0);
    return r.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => {
        const m = /^ +\d+ {2}(\d+) ("(?:[^"\\]|\\.)*")/.exec(l) as RegExpExecArray;
        return [Number(m[1]), JSON.parse(m[2] as string) as string];
      });
  }

  it('renders the exact text, echoed on a terminal before the reply', () => {
    const r = spawnSync('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} generate ${JSON.stringify(dir)} --chat --prompt ${JSON.stringify(MESSAGE)} --max-new-tokens 3`, '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    // after the loading bar's line is cleared (stderr, the same terminal)
    expect(r.stdout).toContain(`\r\x1b[K${RENDERED.replaceAll('\n', '\r\n')}`);
  });

  it('tokenizes it without adding special tokens: one <s> (the template\'s), the </s> after the message', () => {
    const tokens = promptTokens(dir, '--chat', '--prompt', MESSAGE);
    expect(tokens[0]).toEqual([1, '<s>']);
    expect(tokens.filter(([id]) => id === 1)).toHaveLength(1);
    expect(tokens.filter(([id]) => id === 2)).toHaveLength(1);
    expect(tokens.map(([, text]) => text).join('')).toBe(RENDERED);
    // the same ids as the rendered text given as a prompt, less the BOS that --prompt adds to it
    expect(promptTokens(dir, '--prompt', RENDERED).slice(1)).toEqual(tokens);
  });

  it('the reply is the continuation of those ids', () => {
    const ids = promptTokens(dir, '--chat', '--prompt', MESSAGE).map(([id]) => id);
    const chat = json('generate', dir, '--chat', '--prompt', MESSAGE, '--max-new-tokens', '8');
    expect(chat.tokens).toEqual(json('generate', dir, '--ids', ids.join(','), '--max-new-tokens', '8').tokens);
  });

  it('chat_template.jinja wins over tokenizer_config.json, as in transformers; a list of templates gives its "default"', () => {
    const jinja = chatModel({ bos_token: '<s>', eos_token: '</s>', chat_template: 'ignored' });
    writeFileSync(join(jinja, 'chat_template.jinja'), TEMPLATE);
    expect(promptTokens(jinja, '--chat', '--prompt', MESSAGE)).toEqual(promptTokens(dir, '--chat', '--prompt', MESSAGE));
    const named = chatModel({ bos_token: '<s>', eos_token: '</s>', chat_template: [{ name: 'tool_use', template: 'x' }, { name: 'default', template: TEMPLATE }] });
    expect(promptTokens(named, '--chat', '--prompt', MESSAGE)).toEqual(promptTokens(dir, '--chat', '--prompt', MESSAGE));
  });

  it.each([
    [{ bos_token: '<s>' }, `--chat: DIR has no chat template (tokenizer_config.json's chat_template or chat_template.jinja): give the prompt as it is, without --chat`],
    [{ chat_template: '{% for m in messages %}' }, '--chat: the chat template of DIR/tokenizer_config.json does not parse: '],
    [{ chat_template: "{{ raise_exception('Conversation roles must alternate') }}" }, '--chat: the chat template of DIR/tokenizer_config.json failed: Conversation roles must alternate'],
  ])('a template it cannot use: one line (%j)', (config, message) => {
    const bad = chatModel(config);
    const r = vramlab('generate', bad, '--chat', '--prompt', MESSAGE, '--max-new-tokens', '2');
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(`vramlab: ${message.replaceAll('DIR', bad)}`)).toBe(true);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
