import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, waitForOutput, type LabOwner } from './lab.js';

/**
 * Addresses of the site lab: the TightGate-Pro deployment of the port table, all in documentation
 * ranges. One router joins five segments, each a bridge on the router: workstations 192.0.2.0/26,
 * management 192.0.2.64/26 (monitoring, dns), DMZ 198.51.100.0/26 (tightgate), internal services
 * 198.51.100.128/25 plus 198.51.100.112/28 for the NTP server, and the Internet 203.0.113.0/24.
 */
export const SITE = {
  gateway: {
    workstations: '192.0.2.1',
    management: '192.0.2.65',
    dmz: '198.51.100.1',
    services: '198.51.100.129',
    internet: '203.0.113.1',
  },
  workstation: '192.0.2.10',
  monitoring: '192.0.2.70',
  dns: '192.0.2.80',
  tightgate: '198.51.100.10',
  ntpServer: '198.51.100.123',
  nameServer: '198.51.100.153',
  mailServer: '198.51.100.225',
  canaries: ['203.0.113.80', '203.0.113.81'],
  /** The name the site's name server answers (settings.dns-query-name). */
  tightgateName: 'tightgate.lab.test',
} as const;

/** Namespace names of the site lab's hosts. */
export interface SiteHosts {
  router: string;
  workstation: string;
  tightgate: string;
  monitoring: string;
  dns: string;
  /** The internal services: NTP, DNS and mail servers, one address each. */
  services: string;
  /** The Internet canaries. */
  internet: string;
}

/** What the router lets through; {@link PORT_TABLE} is the accepted state, tests break it on purpose. */
export interface RouterPolicy {
  /** workstation -> tightgate TCP 5900 (row viewer). */
  viewer: boolean;
  /** workstation -> tightgate TCP 22 (row sftp). */
  sftp: boolean;
  /** TCP ports a faulty rule opens from the workstation straight to the Internet. */
  workstationToInternet: number[];
  /** tightgate -> NTP server UDP 123 (row ntp): accepted, or silently dropped. */
  ntp: 'accept' | 'drop';
  /** tightgate -> name server TCP and UDP 53 (row dns). */
  dns: boolean;
  /** tightgate -> mail server TCP 25, 110, 143, 993, 995 (row email). */
  email: boolean;
  /** monitoring -> tightgate UDP 161 (row snmp). */
  snmp: boolean;
  /** monitoring -> tightgate TCP 5666 (row nrpe). */
  nrpe: boolean;
  /** workstation, tightgate and dns -> monitoring on this TCP port, for a reachgate coordinator there; not in the port table. */
  coordinator?: number;
}

/** The port table as the site lab uses it: features ntp, dns, snmp, nrpe and sftp; email, directory and the rest closed. */
export const PORT_TABLE: Readonly<RouterPolicy> = {
  viewer: true,
  sftp: true,
  workstationToInternet: [],
  ntp: 'accept',
  dns: true,
  email: false,
  snmp: true,
  nrpe: true,
};

/**
 * The site file of the lab (YAML); `extra` features are added to the ones the router's port table serves. Its timeout
 * is the product's default, 2 s: at 1 s, rows whose answer takes the server's CPU (NRPE's TLS handshake; DNS over TCP
 * from the host that sweeps 1,204 ports in the same process) missed it on a loaded 2-core machine, several test
 * files at once beside other work (load 8-14).
 */
export function siteFile(extra: string[] = []): string {
  return `# The site lab of src/lab/site-lab.ts.
site: site-lab
edition: standard
features: [${['ntp', 'dns', 'snmp', 'nrpe', 'sftp', ...extra].join(', ')}]
sweep: common
hosts:
  tightgate: [${SITE.tightgate}]
  internet-canaries: [${SITE.canaries.join(', ')}]
  ntp-servers: [${SITE.ntpServer}]
  dns-servers: [${SITE.nameServer}]
  # Named while email is off, so its negative probes meet a real listener behind the filter.
  mail-servers: [${SITE.mailServer}]
settings:
  snmp-community: public
  dns-query-name: ${SITE.tightgateName}
  timeout: 2s
`;
}

/** A segment: a bridge on the router, the router's addresses on it (CIDR), the first one the hosts' default gateway. */
interface Segment {
  bridge: string;
  gateways: string[];
}

const SEGMENTS = {
  workstations: { bridge: 'ws', gateways: [`${SITE.gateway.workstations}/26`] },
  management: { bridge: 'mgmt', gateways: [`${SITE.gateway.management}/26`] },
  dmz: { bridge: 'dmz', gateways: [`${SITE.gateway.dmz}/26`] },
  // 198.51.100.123 lies below .128/25: a second subnet on the same segment.
  services: { bridge: 'svc', gateways: [`${SITE.gateway.services}/25`, '198.51.100.113/28'] },
  internet: { bridge: 'inet', gateways: [`${SITE.gateway.internet}/24`] },
} satisfies Record<string, Segment>;

const TABLE = 'porttable';
const READY_TRIES = 100;
const READY_INTERVAL_MS = 100;
/** Stand-in services end themselves after this, so a lost one cannot outlive a test run. */
const SERVICE_LIFETIME_MS = 600_000;

// A stand-in TCP service where a real daemon adds nothing (canaries, the viewer port, the mail
// server): every port greets with its banner, inside TLS where asked; "ready" once all listen.
const SERVICE = `
const net = require('node:net'), tls = require('node:tls'), fs = require('node:fs');
const { address, services, cert, key, lifetimeMs } = JSON.parse(process.argv[1]);
setTimeout(() => process.exit(0), lifetimeMs);
let listening = 0;
for (const service of services) {
  const serve = (socket) => { socket.on('error', () => {}); socket.write(service.banner); socket.resume(); };
  const server = service.tls ? tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, serve) : net.createServer(serve);
  server.on('error', (error) => { console.error(error.message); process.exit(1); });
  server.listen({ host: address, port: service.port }, () => { if (++listening === services.length) console.log('ready'); });
}
`;

interface StandIn {
  port: number;
  banner: string;
  tls?: boolean;
}

/** The router's nftables rules for a policy: the port table, row by row, with a mix of drop and reject. */
export function routerRules(policy: RouterPolicy): string {
  const tg = SITE.tightgate;
  const internet = '203.0.113.0/24';
  const when = (on: boolean, rule: string): string => (on ? rule : '');
  return `
table ip ${TABLE}
delete table ip ${TABLE}
table ip ${TABLE} {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ${when(
      policy.coordinator !== undefined,
      `ip saddr { ${SITE.workstation}, ${tg}, ${SITE.dns} } ip daddr ${SITE.monitoring} ` +
        `tcp dport ${policy.coordinator} accept comment "reachgate coordinator"`,
    )}
    iifname "${SEGMENTS.workstations.bridge}" ip saddr ${SITE.workstation} jump workstation
    iifname "${SEGMENTS.dmz.bridge}" ip saddr ${tg} jump tightgate
    iifname "${SEGMENTS.management.bridge}" ip saddr ${SITE.monitoring} jump monitoring
    iifname "${SEGMENTS.management.bridge}" ip saddr ${SITE.dns} jump dns
  }
  chain workstation {
    ${when(policy.viewer, `ip daddr ${tg} tcp dport 5900 accept comment "viewer"`)}
    ${when(policy.sftp, `ip daddr ${tg} tcp dport 22 accept comment "sftp"`)}
    ip daddr ${tg} tcp dport 1-1024 reject with tcp reset comment "tightgate-only-intended"
    ip daddr ${tg} reject with icmp type admin-prohibited comment "tightgate-only-intended"
    ${when(
      policy.workstationToInternet.length > 0,
      `ip daddr ${internet} tcp dport { ${policy.workstationToInternet.join(', ')} } ` +
        'accept comment "a faulty rule"',
    )}
    ip daddr ${internet} tcp dport { 22, 25, 80 } reject with icmp type admin-prohibited
    ip daddr ${internet} udp dport 53 reject with icmp type host-prohibited
    ip daddr ${internet} icmp type echo-request reject with icmp type net-prohibited
    drop comment "no-direct-internet: the rest silently"
  }
  chain tightgate {
    ip daddr ${internet} tcp dport { 22, 80, 443, 1935 } accept comment "web, updates, rtmp"
    ip daddr ${SITE.ntpServer} udp dport 123 ${policy.ntp} comment "ntp"
    ${when(policy.dns, `ip daddr ${SITE.nameServer} meta l4proto { tcp, udp } th dport 53 accept comment "dns"`)}
    ${when(policy.email, `ip daddr ${SITE.mailServer} tcp dport { 25, 110, 143, 993, 995 } accept comment "email"`)}
    ip daddr ${internet} meta l4proto udp drop comment "closed-when-unused, silently"
    reject with icmp type admin-prohibited comment "closed-when-unused"
  }
  chain monitoring {
    ${when(policy.snmp, `ip daddr ${tg} udp dport 161 accept comment "snmp"`)}
    ${when(policy.nrpe, `ip daddr ${tg} tcp dport 5666 accept comment "nrpe"`)}
    reject with icmp type admin-prohibited
  }
  chain dns {
    reject with icmp type admin-prohibited comment "cluster-dns: no cluster"
  }
}
`.replace(/^\s*\n/gm, '');
}

/**
 * The port table's deployment in network namespaces: a router with nftables joining workstation,
 * management (monitoring, dns), DMZ (tightgate), internal services and "Internet" segments, with
 * real daemons behind every row (sshd, snmpd, nrpe, chronyd, dnsmasq) and stand-ins for the rest.
 * Torn down like {@link Lab}: processes by PID, namespaces deleted, temp files removed.
 */
export class SiteLab extends Lab {
  /** Namespace names of the site's hosts. */
  readonly hosts: SiteHosts;
  private dir = '';

  protected constructor() {
    super();
    const id = this.id;
    this.hosts = {
      router: `${id}rt`,
      workstation: `${id}ws`,
      tightgate: `${id}tg`,
      monitoring: `${id}mon`,
      dns: `${id}dns`,
      services: `${id}svc`,
      internet: `${id}net`,
    };
  }

  /** Build the site with its daemons and the port table on the router; `owner` (a tap test) gets lab.destroy() as its teardown. */
  static override async create(owner?: LabOwner): Promise<SiteLab> {
    return Lab.built(new SiteLab(), owner);
  }

  /** Load the router's rules: the port table, with the given deviations from it. */
  async route(deviations: Partial<RouterPolicy> = {}): Promise<void> {
    await this.nft(this.hosts.router, routerRules({ ...PORT_TABLE, ...deviations }));
  }

  protected override async build(): Promise<void> {
    const { router } = this.hosts;
    this.dir = await mkdtemp(join(tmpdir(), 'reachgate-site-'));
    this.tempDirs.push(this.dir);
    // Daemons that drop privileges (nrpe as nagios) must reach their files.
    await chmod(this.dir, 0o755);
    for (const ns of Object.values(this.hosts)) await this.addNamespace(ns);
    // A sweep draws hundreds of rejects at once: the default rate limit would turn most into silence.
    await this.sysctl(
      router,
      'net.ipv4.ip_forward=1',
      'net.ipv4.icmp_ratelimit=0',
      'net.ipv4.icmp_msgs_per_sec=100000',
      'net.ipv4.icmp_msgs_burst=100000',
    );
    await this.ip(
      router,
      ...Object.values(SEGMENTS).flatMap((segment) => [
        `link add ${segment.bridge} type bridge`,
        ...segment.gateways.map((gateway) => `addr add ${gateway} dev ${segment.bridge}`),
        `link set ${segment.bridge} up`,
      ]),
    );
    await this.attach(SEGMENTS.workstations, 'ws', this.hosts.workstation, [`${SITE.workstation}/26`]);
    await this.attach(SEGMENTS.management, 'mon', this.hosts.monitoring, [`${SITE.monitoring}/26`]);
    await this.attach(SEGMENTS.management, 'dns', this.hosts.dns, [`${SITE.dns}/26`]);
    await this.attach(SEGMENTS.dmz, 'tg', this.hosts.tightgate, [`${SITE.tightgate}/26`]);
    await this.attach(SEGMENTS.services, 'svc', this.hosts.services, [
      `${SITE.ntpServer}/28`,
      `${SITE.nameServer}/25`,
      `${SITE.mailServer}/25`,
    ]);
    await this.attach(
      SEGMENTS.internet,
      'net',
      this.hosts.internet,
      SITE.canaries.map((canary) => `${canary}/24`),
    );
    await this.route();
    const cert = await this.certificate({
      cn: SITE.tightgateName,
      sans: [SITE.tightgateName, SITE.tightgate, 'mail.lab.test', SITE.mailServer],
    });
    await Promise.all([this.startTightgate(cert), this.startServices(cert), this.startInternet()]);
  }

  /** Plug a host into a segment: a veth from the segment's bridge to the host's eth0 with these addresses (CIDR), default route via the router. */
  private async attach(segment: Segment, name: string, ns: string, addresses: string[]): Promise<void> {
    const port = `${segment.bridge}-${name}`;
    await this.ip(
      this.hosts.router,
      `link add ${port} type veth peer name eth0 netns ${ns}`,
      `link set ${port} master ${segment.bridge}`,
      `link set ${port} up`,
    );
    await this.ip(
      ns,
      ...addresses.map((address) => `addr add ${address} dev eth0`),
      'link set eth0 up',
      `route add default via ${segment.gateways[0]!.replace(/\/\d+$/, '')}`,
    );
  }

  /** tightgate: the TLS viewer on 5900, sshd on 22, snmpd on 161/udp, nrpe on 5666. */
  private async startTightgate(cert: { certFile: string; keyFile: string }): Promise<void> {
    const ns = this.hosts.tightgate;
    const address = SITE.tightgate;
    const viewer = this.standIn(ns, address, [{ port: 5900, banner: 'RFB 003.008\n', tls: true }], cert);

    await this.exec(ns, 'mkdir', ['-p', '/run/sshd']);
    const hostKey = join(this.dir, 'ssh_host_ed25519_key');
    await this.exec(ns, 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    const sshdConfig = await this.file(
      'sshd_config',
      `ListenAddress ${address}:22\nUsePAM no\nPidFile ${this.dir}/sshd.pid\n`,
    );
    drain(await this.spawn(ns, '/usr/sbin/sshd', ['-D', '-e', '-f', sshdConfig, '-h', hostKey]));
    const sshd = this.listening(ns, 'tcp', 22, 'sshd');

    const snmpdConfig = await this.file('snmpd.conf', 'rocommunity public default\nengineID reachgate-site-lab\n');
    // -f: foreground; -Lo: log to stdout; -C: no system config; -M/-m: load no MIB files;
    // SNMP_PERSISTENT_DIR keeps its state out of /var/lib/snmp.
    const snmpdChild = await this.spawn(
      ns,
      'snmpd',
      [
        '-f',
        '-Lo',
        '-C',
        '-M',
        join(this.dir, 'no-mibs'),
        '-m',
        '',
        '-c',
        snmpdConfig,
        '-p',
        join(this.dir, 'snmpd.pid'),
        `udp:${address}:161`,
      ],
      {
        env: { SNMP_PERSISTENT_DIR: join(this.dir, 'snmp-state') },
      },
    );
    const snmpd = waitForOutput(snmpdChild, 'stdout', 'NET-SNMP version', 'snmpd');

    const nrpeConfig = await this.file(
      'nrpe.cfg',
      [
        `pid_file=${join(this.dir, 'nrpe.pid')}`,
        'server_port=5666',
        `server_address=${address}`,
        'nrpe_user=nagios',
        'nrpe_group=nagios',
        `allowed_hosts=${SITE.monitoring}`,
        'dont_blame_nrpe=0',
        'command_timeout=10',
        'connection_timeout=30',
        'disable_syslog=1',
        '',
      ].join('\n'),
    );
    drain(await this.spawn(ns, 'nrpe', ['-c', nrpeConfig, '-f']));
    const nrpe = this.listening(ns, 'tcp', 5666, 'nrpe');
    await Promise.all([viewer, sshd, snmpd, nrpe]);
  }

  /** Internal services: chronyd (NTP), dnsmasq (DNS) and a mail server stand-in, each on its own address. */
  private async startServices(cert: { certFile: string; keyFile: string }): Promise<void> {
    const ns = this.hosts.services;
    await Promise.all([
      this.chronyd(ns, 'ntp', SITE.ntpServer),
      this.dns(ns, SITE.nameServer, { [SITE.tightgateName]: [SITE.tightgate] }),
      this.standIn(
        ns,
        SITE.mailServer,
        [
          { port: 25, banner: '220 mail.lab.test ESMTP stand-in\r\n' },
          { port: 110, banner: '+OK POP3 stand-in\r\n' },
          { port: 143, banner: '* OK IMAP4rev1 stand-in\r\n' },
          { port: 993, banner: '* OK IMAP4rev1 stand-in\r\n', tls: true },
          { port: 995, banner: '+OK POP3 stand-in\r\n', tls: true },
        ],
        cert,
      ),
    ]);
  }

  /** The Internet canaries: TCP 22, 25, 80, 443, 1935, 3389, DNS (dnsmasq) and NTP (chronyd) on both; the kernel answers echo. */
  private async startInternet(): Promise<void> {
    const ns = this.hosts.internet;
    await Promise.all([
      this.standIn(ns, '0.0.0.0', [
        { port: 22, banner: 'SSH-2.0-canary\r\n' },
        { port: 25, banner: '220 canary ESMTP\r\n' },
        { port: 80, banner: '' },
        { port: 443, banner: '' },
        { port: 1935, banner: '' },
        { port: 3389, banner: '' },
      ]),
      ...SITE.canaries.map((canary) => this.dns(ns, canary, { 'canary.lab.test': [...SITE.canaries] })),
      this.chronyd(ns, 'canaries', null),
    ]);
  }

  /** Start the stand-in TCP service on `address` in `ns`; resolves once every port listens. */
  private async standIn(
    ns: string,
    address: string,
    services: StandIn[],
    cert?: { certFile: string; keyFile: string },
  ): Promise<void> {
    const spec = { address, services, cert: cert?.certFile, key: cert?.keyFile, lifetimeMs: SERVICE_LIFETIME_MS };
    const child = await this.spawn(ns, process.execPath, ['-e', SERVICE, JSON.stringify(spec)]);
    await waitForOutput(
      child,
      'stdout',
      'ready',
      `stand-in services on ${address} (${services.map((s) => s.port).join(', ')})`,
    );
  }

  /** Start chronyd serving its own clock at stratum 8 on `address` (every address when null). */
  private async chronyd(ns: string, name: string, address: string | null): Promise<void> {
    const config = await this.file(
      `chrony-${name}.conf`,
      [
        'port 123',
        ...(address ? [`bindaddress ${address}`] : []),
        'allow',
        'local stratum 8',
        `driftfile ${join(this.dir, `chrony-${name}.drift`)}`,
        `pidfile ${join(this.dir, `chronyd-${name}.pid`)}`,
        // No command port and no Unix command socket: it never touches /run/chrony.
        'cmdport 0',
        'bindcmdaddress /',
        '',
      ].join('\n'),
    );
    // -d: foreground, log to stderr; -x: never touch the system clock; -u root: keep the temp files readable.
    const child = await this.spawn(ns, 'chronyd', ['-d', '-x', '-u', 'root', '-f', config]);
    // chronyd opens its NTP sockets just before this warning.
    await waitForOutput(child, 'stderr', 'Running with root privileges', `chronyd (${name})`);
  }

  /** Resolves once something listens on `port` in `ns` (for daemons that print nothing when ready); bounded to 10 s. */
  private async listening(ns: string, protocol: 'tcp' | 'udp', port: number, what: string): Promise<void> {
    for (let tries = 0; tries < READY_TRIES; tries++) {
      const run = await this.exec(ns, 'ss', [protocol === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
      if (run.stdout.trim() !== '') return;
      await new Promise((resolve) => setTimeout(resolve, READY_INTERVAL_MS));
    }
    throw new Error(
      `${what} does not listen on ${protocol} ${port} after ${(READY_TRIES * READY_INTERVAL_MS) / 1000} s`,
    );
  }

  private async file(name: string, text: string): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, text, { mode: 0o644 });
    return path;
  }
}

/** Read and discard a daemon's output, so a full pipe never blocks it. */
function drain(child: ChildProcess): void {
  child.stdout?.resume();
  child.stderr?.resume();
}
