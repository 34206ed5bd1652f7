// report.ts: `vramlab report RESULTS.json... --out report.html`: the HTML report of results files.
import { parseArgs } from 'node:util';
import { VramlabError } from '../runtime/errors.js';
import { writeRegularFile } from '../runtime/files.js';
import { argsErrorText } from './args.js';
import { counted } from '../lab/columns.js';
import { renderReport } from '../lab/report.js';
import { readResults } from '../lab/result-files.js';

export const REPORT_USAGE = 'vramlab report RESULTS.json... --out report.html [--title TEXT]';

function usage(message: string): VramlabError {
  return new VramlabError('VL_ERR_USAGE', `${message} (usage: ${REPORT_USAGE})`);
}

const REPORT_OPTIONS = { out: { type: 'string' }, title: { type: 'string' } } as const;

export function runReport(argv: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: REPORT_OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage(argsErrorText(e, REPORT_OPTIONS));
  }
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw usage('no results files given');
  if (!values.out) throw usage('--out is required');
  const inputs = positionals.map((source) => ({ source, results: readResults(source) }));
  const html = renderReport(inputs, { title: values.title });
  writeRegularFile(values.out, html, { doing: 'write the report' });
  console.log(`wrote ${values.out}: ${counted(inputs.length, 'results file')}`);
}
