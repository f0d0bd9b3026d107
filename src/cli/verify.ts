import type { Argv } from 'yargs';
import { loadPublicKey } from '../record/keys.js';
import { readBounded } from '../coordinator/bounded-file.js';
import { verifyRecordText, type Verification } from '../record/sign.js';
import type { SignedRecord } from '../record/model.js';
import { verdictSummary } from '../record/html.js';
import { renderOptions, writeRenderings } from './record-output.js';

/** Largest record file read: a record of 5,000 agents x 40 results is about 150 MiB; a string holds at most 512 MiB. */
export const RECORD_FILE_MAX = 256 * 1024 * 1024;

interface VerifyArgs {
  record: string;
  key?: string;
  json: boolean;
  html?: string;
  pdf?: string;
}

/** Add `reachgate verify`: check an acceptance record's signature and every digest, offline. */
export function verifyCommand(parser: Argv): Argv {
  return parser.command<VerifyArgs>(
    'verify <record>',
    "Check an acceptance record's signature and every digest, offline; exit 1 naming each part that does not match",
    (command) =>
      command
        .positional('record', {
          type: 'string',
          demandOption: true,
          describe: 'The record file (from `reachgate accept`)',
        })
        .options({
          key: {
            type: 'string',
            requiresArg: true,
            describe: "The approver's public key (PEM or JWK; FILE.pub of `reachgate key create`)",
          },
          json: { type: 'boolean', default: false, describe: 'Print what was checked as one JSON document' },
          ...renderOptions(),
        })
        .example('reachgate verify record.json --key approver.key.pub', 'exit 0: signed by that key, nothing changed')
        .example('reachgate verify record.json --key approver.key.pub --pdf record.pdf', 'verify, then print it'),
    async (argv) => {
      const key = argv.key === undefined ? undefined : loadPublicKey(argv.key);
      const text = readBounded(argv.record, RECORD_FILE_MAX, 'record').toString('utf8');
      const { verification, signed } = verifyRecordText(text, key);
      process.stdout.write(argv.json ? `${JSON.stringify(verification, null, 2)}\n` : describe(signed, verification));
      // Only a record that holds is rendered: a page must never lend a changed record the look of a signed one.
      if (verification.ok) await writeRenderings(signed, verification, argv);
      else if (argv.html !== undefined || argv.pdf !== undefined)
        process.stderr.write('reachgate: the record does not verify; nothing was rendered\n');
      process.exitCode = verification.ok ? 0 : 1;
    },
  );
}

/** What an auditor reads: whose key, the digest to compare, and each part that does not hold. */
function describe(signed: SignedRecord, verification: Verification): string {
  const { record } = signed;
  const keyFrom =
    verification.key_from === 'given'
      ? 'the key given with --key'
      : "the key the record carries: compare this id with the approver's published key id, or pass --key";
  const lines = [
    `record     site ${String(record.site)}, approver ${String(record.approver)}, change ${String(record.change)}, ` +
      `made ${String(record.created_at)}`,
    `contents   ${verification.agents} agents, ${verification.results} results; ${verdictSummary(record)}`,
    `key id     ${verification.key_id ?? '(none)'} (${keyFrom})`,
    `digest     ${verification.digest} (sha-256 of the signed digests)`,
    `short      ${verification.short_digest}`,
  ];
  if (verification.ok) lines.push('verified   the signature and every digest hold');
  else for (const problem of verification.problems) lines.push(`MISMATCH   ${problem.message}`);
  return `${lines.join('\n')}\n`;
}
