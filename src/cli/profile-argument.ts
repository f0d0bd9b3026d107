import type { Argv } from 'yargs';

/** Add the `<profile..>` argument of the commands that read profiles: built-in profile names or YAML files. */
export function withProfileArgument<T>(command: Argv<T>): Argv<T & { profile: string[] }> {
  // `<profile..>` in the command already demands one; demandOption says so to the type.
  return command.positional('profile', {
    demandOption: true,
    type: 'string',
    array: true,
    describe: 'A built-in profile (tightgate/workstation) or a YAML file',
  });
}
