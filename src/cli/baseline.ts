import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { viewerCall, type MatrixSource } from '../coordinator/client.js';
import { approvalProblem, verifyChain, type BaselineLink, type LoggedLink } from '../coordinator/baseline-chain.js';

interface BaselineArgs {
  coordinator: string;
  'token-file': string;
  ca?: string;
  approver?: string;
  change?: string;
  limit: number;
  json: boolean;
}

/** Links the log asks for (the coordinator's maximum). */
const LOG_LIMIT = 100;

const SOURCE_OPTIONS = {
  coordinator: { type: 'string', demandOption: true, requiresArg: true, describe: 'Base URL of the coordinator' },
  'token-file': { type: 'string', demandOption: true, requiresArg: true, describe: 'File holding a viewer token' },
  ca: { type: 'string', requiresArg: true, describe: "PEM file of the CA that signed the coordinator's certificate" },
  json: { type: 'boolean', default: false, describe: 'Print one JSON document instead of text' },
} as const;

/** Add `reachgate baseline accept|log`: accept the coordinator's matrix as the baseline, and read its chain. */
export function baselineCommand(parser: Argv): Argv {
  return parser.command(
    'baseline',
    "Accept the coordinator's matrix as the baseline, or show who accepted what",
    (command) =>
      command
        .command<BaselineArgs>(
          'accept',
          'Accept the current matrix as the baseline drift is measured against, with who and why',
          (accept) =>
            accept
              .options({
                ...SOURCE_OPTIONS,
                approver: { type: 'string', demandOption: true, requiresArg: true, describe: 'Who accepts it' },
                change: {
                  type: 'string',
                  demandOption: true,
                  requiresArg: true,
                  describe: 'The change reference (ticket) it belongs to',
                },
              })
              .example(
                'reachgate baseline accept --coordinator https://coordinator:8443 --token-file viewer.token --approver "A. Admin" --change CHG-1234',
                'after a reviewed firewall change',
              ),
          async (argv) => {
            const problem = approvalProblem({ approver: argv.approver, change: argv.change });
            if (problem) throw new UsageError(`--${problem.field}: ${problem.message}`);
            const link = (await viewerCall(sourceOf(argv), 'POST', 'api/v1/baseline', {
              approver: argv.approver,
              change: argv.change,
            })) as BaselineLink;
            process.stdout.write(
              argv.json
                ? `${JSON.stringify(link, null, 2)}\n`
                : `accepted baseline link ${link.seq}: ${link.cells} cells, digest ${link.digest}\n` +
                    `  by ${link.approver} for ${link.change} at ${link.accepted_at}` +
                    `${link.previous ? `; follows ${link.previous}` : '; the first link'}\n`,
            );
          },
        )
        .command<BaselineArgs>(
          'log',
          'Show who accepted each baseline, when and why, and check the chain of links (exit 1 when broken)',
          (log) =>
            log
              .options({
                ...SOURCE_OPTIONS,
                limit: {
                  type: 'number',
                  default: LOG_LIMIT,
                  requiresArg: true,
                  describe: `The newest links to show and check (1 to ${LOG_LIMIT})`,
                },
              })
              .example(
                'reachgate baseline log --coordinator https://coordinator:8443 --token-file viewer.token --json',
                'the links and any breaks as JSON',
              ),
          async (argv) => {
            if (!Number.isInteger(argv.limit) || argv.limit < 1 || argv.limit > LOG_LIMIT)
              throw new UsageError(
                `Expected \`--limit\` to be a whole number from 1 to ${LOG_LIMIT}, got \`${argv.limit}\``,
              );
            const answer = (await viewerCall(sourceOf(argv), 'GET', `api/v1/baseline/log?limit=${argv.limit}`)) as {
              total: number;
              links: LoggedLink[];
            };
            if (!Array.isArray(answer?.links))
              throw new UsageError('the coordinator did not answer with a baseline log');
            const breaks = verifyChain(answer.links, answer.links.length === answer.total);
            if (argv.json) {
              process.stdout.write(`${JSON.stringify({ ...answer, breaks }, null, 2)}\n`);
            } else {
              const lines = answer.links.map(
                (link) =>
                  `${link.seq}  ${link.accepted_at}  ${link.approver}  ${link.change}  ${link.cells} cells  ${link.digest.slice(0, 16)}`,
              );
              if (answer.total === 0) lines.push('no baseline accepted yet');
              else if (answer.total > answer.links.length)
                lines.push(`(the newest ${answer.links.length} of ${answer.total} links)`);
              for (const broken of breaks)
                lines.push(`BROKEN link ${broken.seq} (${broken.digest}): ${broken.problem}`);
              if (answer.total > 0 && breaks.length === 0)
                lines.push(`chain verified: ${answer.links.length} link${answer.links.length === 1 ? '' : 's'}`);
              process.stdout.write(`${lines.join('\n')}\n`);
            }
            process.exitCode = breaks.length > 0 ? 1 : 0;
          },
        )
        .demandCommand(1, 'Name a baseline command: accept or log.')
        .example(
          'reachgate baseline accept --coordinator https://coordinator:8443 --token-file viewer.token --approver "A. Admin" --change CHG-1234',
          'accept the matrix as it is now',
        )
        .example(
          'reachgate baseline log --coordinator https://coordinator:8443 --token-file viewer.token',
          'who accepted what, when and why; exit 1 when the chain is broken',
        ),
  );
}

function sourceOf(argv: BaselineArgs): MatrixSource {
  return { coordinator: argv.coordinator, tokenFile: argv['token-file'], caFile: argv.ca };
}
