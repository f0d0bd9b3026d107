import { readFileSync, writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { RunReport } from '../core/result.js';
import { UsageError } from '../core/usage-error.js';
import type { Baseline, LatestReport, Matrix } from '../core/matrix.js';
import { baselineOf, buildMatrix } from '../coordinator/matrix.js';
import { formatMatrixJson, formatMatrixJunit, formatMatrixTable, matrixExitCode } from '../report/matrix-table.js';
import { renderMatrixHtml } from '../report/html-matrix.js';

const FORMATS = ['table', 'json', 'junit', 'html'] as const;
type Format = (typeof FORMATS)[number];

interface MatrixArgs {
  coordinator?: string;
  'token-file'?: string;
  ca?: string;
  reports?: string[];
  baseline?: string;
  format: Format;
  out?: string;
}

/** How long `matrix --coordinator` waits for the coordinator's answer. */
const FETCH_TIMEOUT_MS = 30_000;

/** A bearer token: one line of visible characters. */
const TOKEN = /^[\x21-\x7e]+$/;

/** Add `reachgate matrix`: the site's agents x rows, from the coordinator or offline from RunReport files. */
export function matrixCommand(parser: Argv): Argv {
  return parser.command<MatrixArgs>(
    'matrix',
    'Show every agent\'s latest verdict per row: from the coordinator, or offline from RunReport files',
    (command) => command
      .options({
        'coordinator': { type: 'string', requiresArg: true, describe: 'Base URL of the coordinator', group: 'Source:' },
        'token-file': { type: 'string', requiresArg: true, describe: 'File holding a viewer token (with --coordinator)', group: 'Source:' },
        'ca': { type: 'string', requiresArg: true, describe: 'PEM file of the CA that signed the coordinator\'s certificate', group: 'Source:' },
        'reports': { type: 'string', array: true, requiresArg: true, describe: 'RunReport JSON files (from `reachgate run --format json`), instead of a coordinator', group: 'Source:' },
        'baseline': { type: 'string', requiresArg: true, describe: 'An accepted matrix (`--format json` output) or baseline to mark drift against (with --reports)', group: 'Source:' },
        'format': { choices: FORMATS, default: 'table' as Format, describe: 'Output format on stdout (with --out: in the file)', group: 'Output:' },
        'out': { type: 'string', requiresArg: true, describe: 'Write the --format output to this file and show the table on stdout', group: 'Output:' },
      })
      .conflicts('coordinator', 'reports')
      .conflicts('baseline', 'coordinator')
      .check((argv) => {
        if (argv.coordinator === undefined && argv.reports === undefined) throw new UsageError('name a source: --coordinator URL --token-file FILE, or --reports FILE...');
        if (argv.coordinator !== undefined && argv['token-file'] === undefined) throw new UsageError('--coordinator needs --token-file: the file holding a viewer token');
        return true;
      })
      .example('reachgate matrix --reports ws.json tg.json --format html --out matrix.html', 'offline: one page from the reports of each agent')
      .example('reachgate matrix --reports *.json --format json --out accepted.json', 'keep an accepted state ...')
      .example('reachgate matrix --reports *.json --baseline accepted.json', '... and show drift against it later')
      .example('reachgate matrix --coordinator https://coordinator:8443 --token-file viewer.token --format junit', 'for CI'),
    async (argv) => {
      const matrix = argv.reports !== undefined
        ? buildMatrix(argv.reports.map(readReport), { now: new Date(), baseline: argv.baseline === undefined ? null : readBaseline(argv.baseline) })
        : await fetchMatrix(argv.coordinator!, argv['token-file']!, argv.ca);
      const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
      if (argv.out) {
        writeFileSync(argv.out, render(matrix, argv.format, false));
        process.stdout.write(formatMatrixTable(matrix, colour));
      } else {
        process.stdout.write(render(matrix, argv.format, colour));
      }
      process.exitCode = matrixExitCode(matrix);
    },
  );
}

function render(matrix: Matrix, format: Format, colour: boolean): string {
  switch (format) {
    case 'json': return formatMatrixJson(matrix);
    case 'junit': return formatMatrixJunit(matrix);
    // A file handed over must open on its own: the stylesheet and script go inside it.
    case 'html': return renderMatrixHtml(matrix, { assets: 'inline' });
    case 'table': return formatMatrixTable(matrix, colour);
  }
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file}: not valid JSON (${(error as Error).message})`, `The ${what} must be one JSON document, as \`--format json\` writes it.`);
  }
}

function readReport(file: string): LatestReport {
  const report = readJson(file, 'report') as Partial<RunReport> | null;
  const missing = ['id', 'agent', 'version', 'started_at', 'finished_at'].filter((key) => typeof (report as Record<string, unknown> | null)?.[key] !== 'string');
  if (report === null || typeof report !== 'object' || missing.length > 0 || !Array.isArray(report.results)) {
    throw new UsageError(`${file}: not a RunReport${missing.length ? ` (missing ${missing.join(', ')})` : ' (no results list)'}`, 'Write one with `reachgate run PROFILE --site SITE --format json --out FILE`.');
  }
  return { report: report as RunReport, received_at: report.finished_at as string };
}

function readBaseline(file: string): Baseline {
  const value = readJson(file, 'baseline') as Record<string, unknown> | null;
  if (value !== null && typeof value === 'object' && Array.isArray(value.cells)) return baselineOf(value as unknown as Matrix);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((verdict) => typeof verdict === 'string')) return value as Baseline;
  throw new UsageError(`${file}: not a baseline`, 'Use a matrix written with `reachgate matrix ... --format json`, or an object of "agent|row": "verdict".');
}

async function fetchMatrix(base: string, tokenFile: string, caFile: string | undefined): Promise<Matrix> {
  let url: URL;
  try {
    const parsed = new URL(base);
    url = new URL(`${parsed.pathname.replace(/\/+$/, '')}/api/v1/matrix`, parsed);
  } catch {
    throw new UsageError(`Expected the \`--coordinator\` option to be a URL like https://coordinator.example:8443, got \`${base}\``);
  }
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (error) {
    throw new UsageError(`cannot read the token file ${tokenFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (!TOKEN.test(token)) throw new UsageError(`the token file ${tokenFile} does not hold a token: expected one line without spaces`, 'Put the token that `reachgate token create --viewer` printed in it.');
  const ca = caFile === undefined ? undefined : readCa(caFile);
  // undici is loaded only by the commands that talk to a coordinator.
  const { Agent, request } = await import('undici');
  const dispatcher = new Agent({ connect: { timeout: FETCH_TIMEOUT_MS, ...(ca ? { ca } : {}) } });
  try {
    const response = await request(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, dispatcher, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    const text = await response.body.text();
    if (response.statusCode !== 200) {
      throw new UsageError(`the coordinator at ${url.href} answered HTTP ${response.statusCode}: ${text.replace(/\s+/g, ' ').slice(0, 300)}`, response.statusCode === 401 || response.statusCode === 403 ? 'Use a viewer token: `reachgate token create --viewer`.' : undefined);
    }
    const matrix = JSON.parse(text) as Matrix;
    if (!Array.isArray(matrix?.cells) || !Array.isArray(matrix.agents)) throw new UsageError(`the coordinator at ${url.href} did not answer with a matrix`);
    return matrix;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code ?? (error as Error).name;
    throw new UsageError(`cannot get the matrix from ${url.href}: ${code}`, 'Check --coordinator, that the coordinator runs, and --ca for a private certificate.');
  } finally {
    await dispatcher.close();
  }
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`cannot read the CA file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
