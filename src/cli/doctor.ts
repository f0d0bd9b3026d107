import type { Argv } from 'yargs';
import { doctorExitCode, runDoctor } from '../doctor/doctor.js';
import { formatDoctor } from '../doctor/format.js';

interface DoctorArgs {
  site?: string;
  'agent-config'?: string;
  json: boolean;
}

/** Add `reachgate doctor [--site FILE] [--agent-config FILE] [--json]`. */
export function doctorCommand(parser: Argv): Argv {
  return parser.command<DoctorArgs>(
    'doctor',
    'Say what this host can do and what to fix: raw ICMP socket, open-files limit, resolvers, routes, clock, coordinator, token, spool',
    (command) =>
      command
        .options({
          site: {
            type: 'string',
            requiresArg: true,
            describe:
              'A site file: the route and source address toward each of its hosts (asks the kernel, ' +
              'sends nothing), the clock against its NTP server (one NTP query)',
          },
          'agent-config': {
            type: 'string',
            requiresArg: true,
            describe: 'An agent config: its site, concurrency, coordinator, token and spool',
          },
          json: { type: 'boolean', default: false, describe: 'Print the findings as one JSON document' },
        })
        .example('reachgate doctor', 'the host alone: raw socket, open files, resolvers')
        .example(
          'reachgate doctor --agent-config /etc/reachgate/agent.yaml',
          'everything an agent needs, its coordinator and token included',
        )
        .example('reachgate doctor --site site.yaml --json', 'routes and clock for a site, as JSON')
        .epilogue(
          'Doctor asks the kernel for routes (ip route get sends nothing). Besides resolving the ' +
            "site's host names with the system resolver, it sends only one NTP exchange (up to 3 " +
            "requests) to the site's first NTP server and two requests to the coordinator. Exit " +
            '0 when every finding is ok, 1 when any warns or fails, 2 for an invalid site or config.',
        ),
    async (argv) => {
      const report = await runDoctor({
        ...(argv.site === undefined ? {} : { site: argv.site }),
        ...(argv['agent-config'] === undefined ? {} : { agentConfig: argv['agent-config'] }),
      });
      const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
      process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report, colour));
      process.exitCode = doctorExitCode(report);
    },
  );
}
