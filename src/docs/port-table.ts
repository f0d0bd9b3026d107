import type { Feature } from '../profile/site.js';

/** One row of the reference port table: who must reach what, on which transport and ports. */
export interface PortTableRow {
  id: string;
  from: string;
  to: string;
  ports: { tcp?: number[]; udp?: number[] };
  /** Ports in the table's own words, where they depend on the site (a proxy's port, a configurable syslog port). */
  portsText: string;
  purpose: string;
  /** The site feature that makes the row optional; absent for a row every site uses. */
  feature?: Feature;
}

/** A rule of the port table that is not a row: what must hold, from where. */
export interface PortTableInvariant {
  id: string;
  from: string;
  mustHold: string;
}

/** The TightGate-Pro port table (the reference deployment's "network specifications and routes"), restated. */
export const PORT_TABLE_ROWS: readonly PortTableRow[] = [
  {
    id: 'web',
    from: 'tightgate',
    to: 'Internet, or the upstream proxy',
    ports: { tcp: [80, 443] },
    portsText: "TCP 80, 443, or the proxy's port",
    purpose: 'HTTP(S) browsing; with a proxy only the proxy must be reachable',
  },
  {
    id: 'updates',
    from: 'tightgate',
    to: 'vendor update servers',
    ports: { tcp: [22] },
    portsText: 'TCP 22',
    purpose: 'software updates',
  },
  {
    id: 'rtmp',
    from: 'tightgate',
    to: 'Internet',
    ports: { tcp: [1935] },
    portsText: 'TCP 1935',
    purpose: 'media streams that only play with direct access',
  },
  {
    id: 'ntp',
    from: 'tightgate',
    to: 'named time servers',
    ports: { udp: [123] },
    portsText: 'UDP 123',
    purpose: 'time',
    feature: 'ntp',
  },
  {
    id: 'dns',
    from: 'tightgate',
    to: 'named name servers',
    ports: { tcp: [53], udp: [53] },
    portsText: 'TCP + UDP 53',
    purpose: 'name resolution',
    feature: 'dns',
  },
  {
    id: 'email',
    from: 'tightgate',
    to: 'named mail servers',
    ports: { tcp: [25, 110, 995, 143, 993] },
    portsText: 'TCP 25; POP3 110, POP3S 995; IMAP 143, IMAPS 993',
    purpose: 'mail through tightgate',
    feature: 'email',
  },
  {
    id: 'directory',
    from: 'tightgate',
    to: 'named Active Directory servers',
    ports: { tcp: [88, 389, 636, 3268, 3269], udp: [88] },
    portsText: 'TCP + UDP 88 (Kerberos); TCP LDAP 389, LDAPS 636, global catalog 3268, 3269',
    purpose: 'directory authentication, global catalog lookup',
    feature: 'directory',
  },
  {
    id: 'file-servers',
    from: 'tightgate',
    to: 'named file servers',
    ports: { tcp: [21, 22] },
    portsText: 'TCP 21 (FTP), 22 (SFTP/SSH)',
    purpose: 'direct file server access',
    feature: 'file-servers',
  },
  {
    id: 'syslog',
    from: 'tightgate',
    to: 'named syslog servers',
    ports: { tcp: [514], udp: [514] },
    portsText: 'TCP + UDP 514, configurable (Syslog or RELP)',
    purpose: 'central logging',
    feature: 'syslog',
  },
  {
    id: 'terminal-servers',
    from: 'tightgate',
    to: 'named RDP / Citrix servers, both directions',
    ports: { tcp: [3389, 1494, 80, 443] },
    portsText: 'TCP 3389, 1494, 80, 443',
    purpose: 'RDP and Citrix sessions',
    feature: 'terminal-servers',
  },
  {
    id: 'viewer',
    from: 'workstation',
    to: 'tightgate',
    ports: { tcp: [5900] },
    portsText: 'TCP 5900',
    purpose: 'TightGate-Viewer, TLS-encrypted',
  },
  {
    id: 'sftp',
    from: 'workstation',
    to: 'tightgate',
    ports: { tcp: [22] },
    portsText: 'TCP 22',
    purpose: 'file transfer (SFTP); absent on CC 1.4',
    feature: 'sftp',
  },
  {
    id: 'cluster-dns',
    from: 'dns',
    to: 'tightgate cluster nodes',
    ports: { udp: [53] },
    portsText: 'UDP 53',
    purpose: 'only when tightgate runs as a cluster',
    feature: 'cluster',
  },
  {
    id: 'snmp',
    from: 'monitoring',
    to: 'tightgate',
    ports: { udp: [161] },
    portsText: 'UDP 161',
    purpose: 'SNMP requests',
    feature: 'snmp',
  },
  {
    id: 'nrpe',
    from: 'monitoring',
    to: 'tightgate',
    ports: { tcp: [5666], udp: [5666] },
    portsText: 'TCP + UDP 5666',
    purpose: 'NRPE / Nagios checks',
    feature: 'nrpe',
  },
];

/** The port table's invariants that are not rows. */
export const PORT_TABLE_INVARIANTS: readonly PortTableInvariant[] = [
  {
    id: 'no-direct-internet',
    from: 'workstation',
    mustHold: 'no TCP, UDP or ICMP path to the Internet (web ports, DNS, NTP, mail, SSH, RTMP, anything)',
  },
  {
    id: 'tightgate-only-intended',
    from: 'workstation',
    mustHold: 'every port of tightgate other than 5900 (and 22 where `sftp` is on) is blocked',
  },
  {
    id: 'closed-when-unused',
    from: 'every role',
    mustHold: 'each optional row whose feature the site does not use is blocked',
  },
];
