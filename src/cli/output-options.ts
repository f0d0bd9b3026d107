/** `--format` (one of `formats`, table by default) and `--out`, as `run` and `matrix` take them. */
export function outputOptions<Format extends string>(formats: readonly Format[]) {
  return {
    format: {
      choices: formats,
      default: 'table' as Format,
      describe: 'Output format on stdout (with --out: in the file)',
      group: 'Output:',
    },
    out: {
      type: 'string',
      requiresArg: true,
      describe: 'Write the --format output to this file and show the table on stdout',
      group: 'Output:',
    },
  } as const;
}
