import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../src/core/package-root.js';
import type { ProbeResult, RunReport } from '../../src/core/result.js';
import { needsLab } from '../lab/lab.js';
import { SiteLab, siteFile, type SiteHosts } from '../lab/site-lab.js';
import { printedJson, reachgate } from '../helpers/cli.js';

// Every built-in TightGate-Pro profile run from its role's host in the site lab (src/lab/site-lab.ts) twice: as
// shipped (connect mode), and with `scan: auto` on every tcp probe, which sends SYNs from a raw socket wherever a
// probe proves the state only (rows with TLS or a service check still connect). SYN mode must see the same site:
// the same state for every tcp probe. The other kinds (dns, ntp, snmp, icmp ...) run the same code in both runs;
// run-port-table.test.ts judges them.

type Role = Exclude<keyof SiteHosts, 'router' | 'services' | 'internet'>;

const ROLES: Role[] = ['workstation', 'tightgate', 'monitoring', 'dns'];
const RUN_TIMEOUT_MS = 90_000;

interface ProfileProbe {
  kind: string;
  options?: Record<string, unknown>;
}

/** A built-in profile with `scan: auto` on every tcp probe; how many of them prove the state only (SYN mode). */
function inScanMode(role: Role): { text: string; stateOnly: number } {
  const profile = parse(readFileSync(join(PACKAGE_ROOT, 'profiles', 'tightgate', `${role}.yaml`), 'utf8')) as {
    probes: ProfileProbe[];
  };
  let stateOnly = 0;
  for (const probe of profile.probes) {
    if (probe.kind !== 'tcp') continue;
    const options = probe.options ?? {};
    if (!['tls', 'service', 'send', 'send-hex', 'expect-reply', 'source'].some((name) => name in options)) {
      stateOnly += 1;
    }
    probe.options = { ...options, scan: 'auto' };
  }
  return { text: stringify(profile), stateOnly };
}

/** Each tcp probe of a report by row and id, with its state and reason. */
function states(report: RunReport): Map<string, { state: string; reason: string }> {
  return new Map(
    report.results
      .filter((result: ProbeResult) => result.kind === 'tcp')
      .map((result: ProbeResult) => [`${result.row} ${result.id}`, { state: result.state, reason: result.reason }]),
  );
}

if (!needsLab(t)) {
  const lab = await SiteLab.create(t);
  const files: Record<string, string> = { 'site.yaml': siteFile() };
  const stateOnly = new Map<Role, number>();
  for (const role of ROLES) {
    const { text, stateOnly: count } = inScanMode(role);
    files[`${role}-syn.yaml`] = text;
    stateOnly.set(role, count);
  }
  const dir = t.testdir(files);

  /** `reachgate run PROFILE` on the role's own host, as JSON. */
  const runRole = async (role: Role, profile: string): Promise<RunReport> =>
    printedJson<RunReport>(
      await reachgate(['run', profile, '--site', join(dir, 'site.yaml'), '--format', 'json', '--agent', role], {
        netns: lab.hosts[role],
        timeoutMs: RUN_TIMEOUT_MS,
      }),
    );

  t.test('every profile sees the same state for every tcp probe in connect mode and in SYN mode', async (t) => {
    // One mode at a time (the roles in parallel), so that neither mode's traffic crowds the other's deadlines.
    const connect = await Promise.all(ROLES.map((role) => runRole(role, `tightgate/${role}`)));
    const syn = await Promise.all(ROLES.map((role) => runRole(role, join(dir, `${role}-syn.yaml`))));
    ROLES.forEach((role, index) => {
      const byConnect = states(connect[index]!);
      const bySyn = states(syn[index]!);
      t.same([...bySyn.keys()].sort(), [...byConnect.keys()].sort(), `${role}: the same tcp probes in both modes`);
      const differing = [...byConnect]
        .filter(([probe, { state }]) => bySyn.get(probe)?.state !== state)
        .map(([probe, seen]) => `${probe}: connect ${seen.reason}; syn ${bySyn.get(probe)?.reason}`);
      t.same(differing, [], `${role}: every tcp probe has the same state in both modes`);
      const synProbes = syn[index]!.results.filter((result) => result.evidence?.scan === 'syn').length;
      if (stateOnly.get(role)! > 0) t.ok(synProbes > 0, `${role}: ${synProbes} probes ran in SYN mode`);
      else t.equal(synProbes, 0, `${role}: no tcp probe of this profile can run in SYN mode`);
      t.equal(
        connect[index]!.results.filter((result) => result.evidence?.scan === 'syn').length,
        0,
        `${role}: the shipped profile connects`,
      );
    });
  });
}
