import { createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { checkCoordinatorOrReports, COORDINATOR_SOURCE_OPTIONS, REPORTS_SOURCE_OPTION } from './coordinator-options.js';
import { UsageError } from '../core/usage-error.js';
import { buildRecord } from '../record/build.js';
import { sha256Hex, shortDigest } from '../record/canonical.js';
import { inputsFromCoordinator, inputsFromFiles } from '../record/gather.js';
import { keyId, loadPrivateKey } from '../record/keys.js';
import { formatSignedRecord, signRecord, verifyRecordText } from '../record/sign.js';
import { verdictSummary } from '../record/html.js';
import { renderOptions, writeRenderings } from './record-output.js';

interface AcceptArgs {
  coordinator?: string;
  'token-file'?: string;
  ca?: string;
  reports?: string[];
  approver: string;
  change: string;
  key: string;
  out: string;
  html?: string;
  pdf?: string;
}

/** Add `reachgate accept`: the site's matrix as a signed acceptance record. */
export function acceptCommand(parser: Argv): Argv {
  return parser.command<AcceptArgs>(
    'accept',
    "Sign the site off: every agent, result and control in one record, signed with the approver's Ed25519 key",
    (command) =>
      command
        .options({
          ...COORDINATOR_SOURCE_OPTIONS,
          ...REPORTS_SOURCE_OPTION,
          approver: {
            type: 'string',
            demandOption: true,
            requiresArg: true,
            describe: 'Who accepts the site, e.g. "Jane Doe <jane@example.org>"',
            group: 'Acceptance:',
          },
          change: {
            type: 'string',
            demandOption: true,
            requiresArg: true,
            describe: 'The change or ticket the acceptance belongs to, e.g. CHG-1234',
            group: 'Acceptance:',
          },
          key: {
            type: 'string',
            demandOption: true,
            requiresArg: true,
            describe: "The approver's private key (from `reachgate key create`)",
            group: 'Acceptance:',
          },
          out: {
            type: 'string',
            demandOption: true,
            requiresArg: true,
            describe: 'Write the signed record (JSON with its JWS) to this file',
            group: 'Output:',
          },
          ...renderOptions(),
        })
        .conflicts('coordinator', 'reports')
        .check(checkCoordinatorOrReports)
        .example(
          'reachgate accept --reports ws.json tg.json --approver "Jane Doe" --change CHG-1234 --key approver.key --out record.json --pdf record.pdf',
          'offline, from the reports of each agent',
        )
        .example(
          'reachgate accept --coordinator https://coordinator:8443 --token-file viewer.token --approver "Jane Doe" --change CHG-1234 --key approver.key --out record.json',
          'from the coordinator',
        ),
    async (argv) => {
      // The key is read first: a wrong key file fails before anything is fetched.
      const key = loadPrivateKey(argv.key);
      const now = new Date();
      const inputs =
        argv.reports !== undefined
          ? inputsFromFiles(argv.reports, now)
          : await inputsFromCoordinator({
              coordinator: argv.coordinator!,
              tokenFile: argv['token-file']!,
              caFile: argv.ca,
            });
      const record = buildRecord(inputs.matrix, inputs.reports, {
        approver: argv.approver,
        change: argv.change,
        source:
          argv.reports !== undefined
            ? { kind: 'reports', files: argv.reports }
            : { kind: 'coordinator', url: argv.coordinator! },
        now,
      });
      const signed = signRecord(record, key);
      const text = formatSignedRecord(signed);
      try {
        writeFileSync(argv.out, text);
      } catch (error) {
        throw new UsageError(
          `cannot write the record to ${argv.out}: ${(error as NodeJS.ErrnoException).code ?? error}`,
        );
      }
      const digest = sha256Hex(Buffer.from(signed.jws.payload, 'base64url'));
      if (argv.html !== undefined || argv.pdf !== undefined) {
        // What is rendered is what was written, read back and checked like any record.
        const written = verifyRecordText(text, createPublicKey(key));
        await writeRenderings(written.signed, written.verification, argv);
      }
      process.stdout.write(
        [
          `record ${argv.out}: site ${record.site ?? '(none)'}, approver ${record.approver}, change ${record.change}`,
          verdictSummary(record),
          `key id ${keyId(key)}`,
          `record digest ${digest} (short ${shortDigest(digest)})`,
          '',
        ].join('\n'),
      );
      process.exitCode = record.verdict === 'pass' ? 0 : 1;
    },
  );
}
