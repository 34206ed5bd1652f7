// chat.ts: `--chat`: a prompt as the user's message of a chat, through the model directory's chat
// template (chat_template.jinja, else tokenizer_config.json's chat_template; a list of named templates
// gives its "default"), rendered as transformers' apply_chat_template renders it: by a Jinja made for
// chat templates (@huggingface/jinja: trim_blocks and lstrip_blocks, raise_exception), with
// `messages`, `add_generation_prompt` true and the tokenizer's special tokens by name (bos_token,
// eos_token, ...). The text is then tokenized without adding special tokens: the template writes them.
//
//   chatPrompt('models/tinyllama-chat', 'Hello')   // "<|user|>\nHello</s>\n<|assistant|>\n"
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { VramlabError } from '../runtime/errors.js';
import { fileExists, MAX_CONFIG_BYTES, readJsonObject, readTextFile } from '../runtime/files.js';

/** The template's source and the file it came from. */
function chatTemplate(dir: string, config: Record<string, unknown>): { source: string; file: string } {
  const jinja = join(dir, 'chat_template.jinja');
  if (fileExists(jinja)) return { source: readTextFile(jinja, MAX_CONFIG_BYTES, 'a chat template'), file: jinja };
  const file = join(dir, 'tokenizer_config.json');
  const t = config['chat_template'];
  if (typeof t === 'string') return { source: t, file };
  const named = Array.isArray(t) ? (t as { name?: unknown; template?: unknown }[]).find((x) => x?.name === 'default') : undefined;
  if (typeof named?.template === 'string') return { source: named.template, file };
  const why = t === undefined ? 'has no chat template' : 'has a chat_template that is neither a text nor a list holding one named "default"';
  throw new VramlabError('VL_ERR_USAGE', `--chat: ${dir} ${why} (tokenizer_config.json's chat_template or chat_template.jinja): give the prompt as it is, without --chat`);
}

/** tokenizer_config.json's special tokens by name (bos_token: "<s>"), a text or an added token's content. */
function specialTokens(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    if (!k.endsWith('_token')) continue;
    const content = typeof v === 'string' ? v : (v as { content?: unknown } | null)?.content;
    if (typeof content === 'string') out[k] = content;
  }
  return out;
}

/** The chat's text for one user message, as the model directory's chat template writes it. */
export function chatPrompt(dir: string, message: string): string {
  const configPath = join(dir, 'tokenizer_config.json');
  const config = fileExists(configPath) ? readJsonObject(configPath, MAX_CONFIG_BYTES, 'a tokenizer_config.json') : {};
  const { source, file } = chatTemplate(dir, config);
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new VramlabError('VL_ERR_FORMAT', `--chat: the chat template of ${file} does not parse: ${(e as Error).message}`);
  }
  try {
    return template.render({ ...specialTokens(config), messages: [{ role: 'user', content: message }], add_generation_prompt: true });
  } catch (e) {
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `--chat: the chat template of ${file} failed: ${(e as Error).message}`);
  }
}
