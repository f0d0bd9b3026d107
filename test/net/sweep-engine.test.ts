import { existsSync } from 'node:fs';
import t, { type Test } from 'tap';
import type { ProbeResult } from '../../src/core/result.js';
import { ADDON_PATH } from '../../src/net/sweep-native.js';
import { LAB, needsLab } from '../lab/lab.js';
import { everyTcpState, filteredLab } from '../lab/filtered-lab.js';
import { probeJson, reachgate } from '../helpers/cli.js';

// The native sweep engine (native/sweep.c) on real packets: a sweep of one port per state, IPv4 and IPv6 in one
// run, in connect and in SYN mode, gives the states, reasons and ICMP evidence of the JavaScript engine; with the
// JavaScript engine forced (REACHGATE_ENGINE=js, as when the addon did not build) the same states, and the
// evidence says which engine ran.
const PORT = { open: 7300, vacant: 7301, drop: 7302, prohibited: 7303, hostUnreachable: 7304, reset: 7305 };
const PORTS = Object.values(PORT).join(',');
/** A range around the ports of every state, the rest closed: answers in batches, as a full sweep's come. */
const WIDE = '7300-7699';
const WIDE_COUNT = 400;

if (!needsLab(t)) {
  if (!existsSync(ADDON_PATH)) {
    t.fail(`the native sweep engine is not built (${ADDON_PATH}): npm run build:native`);
  } else {
    const { lab } = await filteredLab(t, 'sweep-engine', everyTcpState(PORT));
    await lab.listen(lab.ns.server, { address: '::', ports: [PORT.open] });
    // The sweeps of a test run side by side (each waits seconds on its silent port's rounds, docs/silence.md, and
    // uses little CPU meanwhile), so the router's per-host ICMP rate limit (a burst of 6, then 1 a second, shared with
    // the network-unreachable errors of its routing) must not starve one sweep of the errors another used up: the
    // router sends destination-unreachable errors (ICMP type 3, ICMPv6 type 1) unlimited, all other types as by
    // default (net.ipv4.icmp_ratemask 6168 without bit 3). Not icmp_ratelimit=0: that empties the shared bucket
    // with each error sent, and the routing's network-unreachable errors then stop.
    const sysctl = await lab.exec(lab.ns.router, 'sysctl', [
      '-q',
      '-w',
      'net.ipv4.icmp_ratemask=6160',
      'net.ipv6.icmp.ratemask=0,3-127',
    ]);
    if (sysctl.code !== 0) throw new Error(`sysctl on the router failed: ${sysctl.stderr}`);
    /** One sweep of every state's port at both of the server's addresses, plus each family's unrouted network. */
    const sweep = async (extra: string[], env: NodeJS.ProcessEnv = {}): Promise<ProbeResult[]> => {
      const targets = [
        `${LAB.server.v4}:${PORTS}`,
        `[${LAB.server.v6}]:${PORTS}`,
        `${LAB.unroutedV4}:${PORT.open}`,
        `[2001:db8:ff::7]:${PORT.open}`,
      ];
      const { report } = await probeJson('tcp', [...targets, '--timeout', '1s', ...extra], {
        netns: lab.ns.client,
        env,
      });
      return report.results;
    };

    /**
     * Every state at both addresses. `icmpV6` false: connect mode, where this lab's router's first ICMPv6 errors
     * do not reach the client's connects on either engine (the silence rounds find them later, or not): its IPv6
     * ICMP rows are left to SYN mode, which reads them on its own raw socket.
     */
    const expectStates = (t: Test, results: ProbeResult[], icmpV6: boolean): void => {
      for (const family of ['v4', 'v6'] as const) {
        const router = family === 'v4' ? LAB.router.clientV4 : LAB.router.clientV6;
        const at = (port: number): ProbeResult | undefined =>
          results.find((result) => result.target.address === LAB.server[family] && result.target.port === port);
        t.match(at(PORT.open), { state: 'open', attempts: 1 }, `open over IP${family}`);
        t.match(at(PORT.vacant), { state: 'closed', reason: /refused \(TCP reset\)/ }, `closed over IP${family}`);
        t.notOk(at(PORT.vacant)?.icmp, 'a reset is no ICMP error');
        t.match(at(PORT.drop), {
          state: 'filtered',
          reason: /no answer within 1 s \(\d attempts?\): silently dropped/,
        });
        t.match(at(PORT.reset), { state: 'closed' }, `reject with tcp reset over IP${family}`);
        if (family === 'v6' && !icmpV6) continue;
        t.match(at(PORT.prohibited), {
          state: 'prohibited',
          icmp: family === 'v4' ? { type: 3, code: 13, from: router } : { type: 1, code: 1, from: router },
          reason: new RegExp(`^rejected by ${router.replace(/\./g, '\\.')}: ICMP`),
        });
        t.match(at(PORT.hostUnreachable), {
          state: 'unreachable',
          icmp: family === 'v4' ? { type: 3, code: 1, from: router } : { type: 1, code: 3, from: router },
        });
      }
      t.match(results.at(-2), { state: 'unreachable', icmp: { type: 3, code: 0, from: LAB.router.clientV4 } });
      if (icmpV6)
        t.match(results.at(-1), { state: 'unreachable', icmp: { type: 1, code: 0, from: LAB.router.clientV6 } });
    };
    t.test('connect mode on the native engine gives every state, IPv4 and IPv6', async (t) => {
      const [results, js] = await Promise.all([sweep([]), sweep([], { REACHGATE_ENGINE: 'js' })]);
      expectStates(t, results, false);
      for (const result of results) t.match(result.evidence, { engine: 'native' }, `${result.id} ran natively`);
      t.test('and the JavaScript engine, forced, gives the same states and says why it ran', async (t) => {
        expectStates(t, js, false);
        for (const result of js) {
          t.match(result.evidence, { engine: 'js', engine_note: /REACHGATE_ENGINE=js/ }, `${result.id} ran in JS`);
        }
      });
    });

    /**
     * What a sweep printed, with what may differ between two runs taken out: times (round trips, the times in
     * reasons and in the table's columns, started_at, the report's id and times, an answered port's attempts), which
     * engine ran, and a silent port's silence-round counts (attempts, rounds, loss probes and the loss bound: the loss
     * probes sent during the first pass are as many as come back before it ends, which is timing; seen differing
     * under load, 72 against 80). The rest, keys in their order included, must match byte for byte.
     */
    const printed = async (
      t: Test,
      format: 'json' | 'table',
      extra: string[],
      env: NodeJS.ProcessEnv,
    ): Promise<string> => {
      const args = ['probe', 'tcp', `${LAB.server.v4}:${WIDE}`, '--timeout', '1s', ...extra];
      const run = await reachgate(format === 'json' ? [...args, '--json'] : args, { netns: lab.ns.client, env });
      t.not(run.code, null, `the sweep ended (${run.stderr.slice(0, 200)})`);
      const timeless = (text: string): string => text.replace(/\d+(\.\d+)? (ms|s)\b/g, 'T').replace(/ +/g, ' ');
      const uncounted = (text: string): string => text.replace(/\d+(\.\d+)?/g, 'N');
      const roundless = (text: string): string => text.replace(/silent to .*$/gm, uncounted);
      if (format === 'table') return roundless(timeless(run.stdout.trimEnd()));
      const report = JSON.parse(run.stdout) as { results: Array<ProbeResult & Record<string, unknown>> };
      return report.results
        .map(({ rtt_ms: _rtt, started_at: _at, evidence, reason, attempts, ...rest }) => {
          const { engine: _engine, engine_note: _note, silence, ...kept } = evidence ?? {};
          // The SYNs an answered port got before its answer came back are timing too (a loaded JavaScript thread
          // reads the answer after the second SYN went out); a silent port's attempts follow its loss probes.
          const tried = rest.state === 'filtered' ? { attempts: uncounted(String(attempts)) } : {};
          const rounds = silence === undefined ? {} : { silence: uncounted(JSON.stringify(silence)) };
          return JSON.stringify({
            ...rest,
            ...tried,
            reason: roundless(timeless(reason)),
            evidence: { ...kept, ...rounds },
          });
        })
        .join('\n');
    };
    for (const [mode, extra] of [
      ['SYN', ['--scan', 'syn', '--attempts', '2']],
      ['connect', []],
    ] as const) {
      t.test(
        `a ${mode} sweep of ${WIDE} prints what the JavaScript engine prints, as JSON and as a table`,
        async (t) => {
          // Both formats on both engines at once.
          const formats = ['json', 'table'] as const;
          const runs = await Promise.all(
            formats.map((format) =>
              Promise.all([
                printed(t, format, [...extra], {}),
                printed(t, format, [...extra], { REACHGATE_ENGINE: 'js' }),
              ]),
            ),
          );
          for (const [index, format] of formats.entries()) {
            const [native, js] = runs[index]!;
            t.equal(
              native.split('\n').length,
              format === 'json' ? WIDE_COUNT : WIDE_COUNT + 1,
              `every port, ${format}`,
            );
            t.equal(native, js, `the same ${format}, line by line`);
          }
        },
      );
    }

    t.test('without CAP_NET_RAW --scan auto sweeps in connect mode on the native engine and says why', async (t) => {
      const { report } = await probeJson('tcp', [`${LAB.server.v4}:${PORT.open},${PORT.vacant}`, '--scan', 'auto'], {
        netns: lab.ns.client,
        user: 'nobody',
      });
      const fellBack = { scan: 'connect', scan_fallback: /SYN mode unavailable: .*CAP_NET_RAW/, engine: 'native' };
      t.match(report.results, [
        { state: 'open', reason: /^connected in /, evidence: fellBack },
        { state: 'closed', evidence: fellBack },
      ]);
    });

    t.test('SYN mode on the native engine gives every state, IPv4 and IPv6', async (t) => {
      const results = await sweep(['--scan', 'syn', '--attempts', '2']);
      expectStates(t, results, true);
      for (const result of results) t.match(result.evidence, { scan: 'syn', engine: 'native' });
      const drop = results.find((result) => result.target.port === PORT.drop)!;
      t.match(drop.reason, /\(2 attempts\)/, 'a silent port got both SYNs in the first pass');
      // Retry rounds add the attempts the silence rule still needs, one SYN each (docs/silence.md).
      t.ok(drop.attempts >= 2, `then more: ${drop.attempts} in all`);
      t.match(drop.evidence, { silence: { attempts: drop.attempts } });
      // No half-open connection: the open port's SYN-ACK met this host's reset.
      const ss = await lab.exec(lab.ns.server, 'ss', ['-Htan', 'state', 'syn-recv']);
      t.equal(ss.stdout.trim(), '', 'no connection in SYN-RECV');
    });
  }
}
