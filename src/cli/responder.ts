import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { parsePorts } from '../net/target.js';
import { readTokenFile } from '../net/receipt-client.js';
import { parseListen, whyNotListening } from '../coordinator/listen.js';
import { CaptureError } from '../responder/capture.js';
import { startResponder } from '../responder/responder.js';

interface ResponderArgs {
  udp?: string;
  tcp?: string;
  listen?: string;
  'token-file'?: string;
}

/** Add `reachgate responder --udp PORTS --tcp PORTS [--listen HOST:PORT --token-file F]`. */
export function responderCommand(parser: Argv): Argv {
  return parser.command<ResponderArgs>(
    'responder',
    'Watch ports passively on a far host and record the nonces probes carry: proof that one-way traffic arrived',
    (command) =>
      command
        .options({
          udp: { type: 'string', requiresArg: true, describe: 'UDP ports to watch, e.g. 514,162' },
          tcp: { type: 'string', requiresArg: true, describe: 'TCP ports to watch, e.g. 514,2514' },
          listen: {
            type: 'string',
            requiresArg: true,
            describe: 'Answer probes (--confirm-with) on this side channel: HOST:PORT, [IPv6]:PORT',
          },
          'token-file': {
            type: 'string',
            requiresArg: true,
            describe: 'File holding the token a probe must present to the side channel (with --listen)',
          },
        })
        .example(
          'reachgate responder --udp 514,162 --tcp 514,2514 --listen 198.51.100.10:8514 --token-file responder.token',
          'beside rsyslog and snmptrapd: they keep their ports, the responder sees a copy of what arrives',
        )
        .example(
          'reachgate probe syslog 198.51.100.10 --confirm-with http://198.51.100.10:8514 --token-file responder.token',
          'from the near side: did the UDP message arrive, and from which source address?',
        ),
    async (argv) => {
      process.exitCode = await responder(argv);
    },
  );
}

async function responder(argv: ResponderArgs): Promise<number> {
  const ports = {
    udp: argv.udp === undefined ? [] : parsePorts(argv.udp, '--udp'),
    tcp: argv.tcp === undefined ? [] : parsePorts(argv.tcp, '--tcp'),
  };
  if (ports.udp.length + ports.tcp.length === 0)
    throw new UsageError('Name the ports to watch: --udp PORTS and/or --tcp PORTS', 'e.g. --udp 514,162 --tcp 2514');
  if ((argv.listen === undefined) !== (argv['token-file'] === undefined))
    throw new UsageError('--listen and --token-file go together: the side channel answers only holders of the token');
  const listen =
    argv.listen === undefined ? undefined : { ...parseListen(argv.listen), token: readTokenFile(argv['token-file']!) };
  let running;
  try {
    running = await startResponder({
      ports,
      ...(listen ? { listen } : {}),
      onReceipt: (receipt) => process.stdout.write(`${JSON.stringify(receipt)}\n`),
    });
  } catch (error) {
    const why =
      error instanceof CaptureError
        ? error.message
        : `cannot listen on ${argv.listen}: ${whyNotListening(error as NodeJS.ErrnoException)}`;
    process.stderr.write(`reachgate responder: ${why}\n`);
    return 1;
  }
  const watching = [
    ports.udp.length > 0 ? `udp ${ports.udp.join(',')}` : '',
    ports.tcp.length > 0 ? `tcp ${ports.tcp.join(',')}` : '',
  ].filter(Boolean);
  process.stderr.write(
    `reachgate responder: watching ${watching.join(' and ')}${running.url ? `; side channel on ${running.url}` : ''}\n`,
  );
  await new Promise<void>((resolve) => {
    const shutdown = (): void => {
      void running.stop().finally(resolve);
    };
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
  return 0;
}
