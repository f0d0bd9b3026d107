import type { Argv } from 'yargs';
import { createKeyFiles } from '../record/keys.js';

interface CreateArgs {
  out: string;
  force: boolean;
}

/** Add `reachgate key create`: the Ed25519 key an approver signs acceptance records with. */
export function keyCommand(parser: Argv): Argv {
  return parser.command('key <action>', 'Create the Ed25519 key an approver signs acceptance records with', (command) =>
    command
      .command<CreateArgs>(
        'create',
        'Make an Ed25519 key pair: the private key in FILE (mode 600), the public key in FILE.pub; print the key id',
        (create) =>
          create
            .options({
              out: {
                type: 'string',
                demandOption: true,
                requiresArg: true,
                describe: 'The private key file (PKCS#8 PEM, mode 600); the public key goes to FILE.pub (SPKI PEM)',
              },
              force: { type: 'boolean', default: false, describe: 'Replace existing key files' },
            })
            .example('reachgate key create --out approver.key', 'hand approver.key.pub and the key id to auditors'),
        (argv) => {
          const key = createKeyFiles(argv.out, argv.force);
          process.stdout.write(`key id ${key.keyId}\n${key.publicPem}`);
          process.stderr.write(
            `reachgate: private key written to ${key.privateFile} (mode 600), public key to ${key.publicFile}\n`,
          );
        },
      )
      .demandCommand(1, 'Name a key action: create.')
      .example('reachgate key create --out approver.key', "the approver's key pair and its id"),
  );
}
