// completion.ts: Tab completion of the REPL line: command words, then by the command's kind the
// model's layer numbers, file paths, session numbers (or "new"), save's activation|logits then a path.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { commandWords, findCommand } from './commands.js';
import type { ReplState } from './state.js';

const WORDS = commandWords().sort();

function paths(prefix: string): string[] {
  const dir = prefix.endsWith('/') ? prefix : dirname(prefix);
  const base = prefix.endsWith('/') ? '' : prefix.slice(dir === '.' && !prefix.startsWith('./') ? 0 : dir.length + 1);
  const shown = prefix.endsWith('/') ? prefix : dir === '.' && !prefix.startsWith('./') ? '' : `${dir}/`;
  try {
    return readdirSync(dir === '' ? '.' : dir)
      .filter((f) => f.startsWith(base) && (base.startsWith('.') || !f.startsWith('.')))
      .sort()
      .map((f) => {
        let dirLike = false;
        try {
          dirLike = statSync(join(dir, f)).isDirectory();
        } catch {
          /* a broken link: a plain name */
        }
        return `${shown}${f}${dirLike ? '/' : ''}`;
      });
  } catch {
    return [];
  }
}

/** readline's completer: [candidates, the word they complete]. */
export function complete(line: string, state: ReplState): [string[], string] {
  const words = line.split(/\s+/);
  const word = words[words.length - 1] ?? '';
  if (words.length <= 1) {
    const hits = WORDS.filter((w) => w.startsWith(word));
    return [hits.map((h) => (hits.length === 1 ? `${h} ` : h)), word];
  }
  const cmd = findCommand(words[0] ?? '');
  let candidates: string[] = [];
  switch (cmd?.completes) {
    case 'layers':
      candidates = state.model ? Array.from({ length: state.model.shape.numLayers }, (_, l) => String(l)) : [];
      break;
    case 'sessions':
      candidates = ['new', ...state.sessions.map((_, i) => String(i))];
      break;
    case 'files':
      return [paths(word), word];
    case 'save':
      if (words.length === 2) candidates = ['activation', 'logits'];
      else return [paths(word), word];
      break;
    default:
      break;
  }
  return [candidates.filter((c) => c.startsWith(word)), word];
}
