import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { generatedDocs } from '../docs/generate.js';

interface DocsArgs {
  out: string;
}

/** Add the hidden `reachgate docs --out DIR`: rewrite the pages of docs/ generated from the schemas and the built-in profiles. */
export function docsCommand(parser: Argv): Argv {
  return parser.command<DocsArgs>(
    'docs',
    false,
    (command) =>
      command
        .option('out', {
          type: 'string',
          demandOption: true,
          requiresArg: true,
          describe: "Directory to write the generated pages to (the repository's docs/)",
        })
        .example('reachgate docs --out docs', "after changing a schema, a probe kind's options or a built-in profile"),
    async (argv) => {
      try {
        mkdirSync(argv.out, { recursive: true });
      } catch (error) {
        throw new UsageError(
          `cannot create the directory ${argv.out}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
      for (const doc of await generatedDocs()) {
        const file = join(argv.out, doc.file);
        const before = readIfPresent(file);
        if (before !== doc.text) writeFileSync(file, doc.text);
        process.stdout.write(
          `${before === doc.text ? 'unchanged' : before === undefined ? 'written  ' : 'updated  '} ${file}\n`,
        );
      }
    },
  );
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
