import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { YamlSource } from './source.js';
import { checkSchema } from './schema-check.js';

/** Optional features of the port table, by their site keys. */
export const FEATURES = [
  'ntp',
  'dns',
  'email',
  'directory',
  'file-servers',
  'syslog',
  'terminal-servers',
  'sftp',
  'cluster',
  'snmp',
  'nrpe',
] as const;
export type Feature = (typeof FEATURES)[number];

/** Host variables a site can bind, and the feature that needs each one named. */
export const HOST_VARIABLES: Record<string, Feature | null> = {
  tightgate: null,
  'internet-canaries': null,
  proxy: null,
  'update-servers': null,
  'ntp-servers': 'ntp',
  'dns-servers': 'dns',
  'mail-servers': 'email',
  'directory-servers': 'directory',
  'file-servers': 'file-servers',
  'syslog-servers': 'syslog',
  'terminal-servers': 'terminal-servers',
  'cluster-nodes': 'cluster',
};

/** Site settings with their defaults. */
export interface SiteSettings {
  'proxy-port': number;
  'snmp-community': string;
  'kerberos-realm': string;
  'dns-query-name': string;
  'syslog-transport': 'udp' | 'tcp' | 'relp';
  'syslog-port': number;
  timeout: string;
}

/** Setting defaults, also used to validate a profile without a site. */
// The realm default only serves negative probes of an unused directory: any KDC answer proves the path open.
export const DEFAULT_SETTINGS: SiteSettings = {
  'kerberos-realm': 'REACHGATE.INVALID',
  'proxy-port': 3128,
  'snmp-community': 'public',
  'dns-query-name': '.',
  'syslog-transport': 'tcp',
  'syslog-port': 514,
  timeout: '2s',
};

/** A loaded, valid site file. */
export interface Site {
  name: string;
  file: string;
  hash: string;
  edition: 'standard' | 'cc-1.4';
  features: ReadonlySet<Feature>;
  sweep: 'common' | 'full';
  hosts: Readonly<Record<string, string[]>>;
  settings: SiteSettings;
}

/** Features an edition does not have. */
const EDITION_LACKS: Record<Site['edition'], Feature[]> = { standard: [], 'cc-1.4': ['sftp'] };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

interface RawSite {
  site: string;
  edition?: Site['edition'];
  features?: Feature[];
  sweep?: Site['sweep'];
  hosts: Record<string, string[]>;
  settings?: Partial<SiteSettings>;
}

/** Load a site file; every problem is recorded on the returned source, and the site is null when there was any. */
export async function loadSite(file: string): Promise<{ source: YamlSource; site: Site | null }> {
  const source = YamlSource.read(file);
  if (source.problems.length > 0) return { source, site: null };
  const raw = source.data() as RawSite;
  await checkSchema(source, raw, 'site');
  if (source.problems.length > 0) return { source, site: null };
  const edition = raw.edition ?? 'standard';
  const features = raw.features ?? [];
  features.forEach((feature, index) => {
    if (EDITION_LACKS[edition].includes(feature)) {
      source.report(
        ['features', index],
        `feature \`${feature}\` does not exist on edition ${edition}: remove it (on ${edition} the ${feature} path must be blocked)`,
      );
    }
    const variable = Object.entries(HOST_VARIABLES).find(([, needs]) => needs === feature)?.[0];
    if (variable && !raw.hosts[variable]) {
      source.report(
        ['features', index],
        `feature \`${feature}\` is in use, but \`hosts.${variable}\` names no server to probe`,
      );
    }
  });
  for (const [variable, hosts] of Object.entries(raw.hosts)) {
    hosts.forEach((host, index) => {
      if (!isIP(host) && !HOSTNAME.test(host))
        source.report(['hosts', variable, index], `\`${host}\` is neither an IP address nor a host name`);
    });
  }
  if (features.includes('directory') && !raw.settings?.['kerberos-realm']) {
    source.report(
      ['features', features.indexOf('directory')],
      'feature `directory` is in use, but `settings.kerberos-realm` is not set (the Kerberos probe needs the realm)',
    );
  }
  if (source.problems.length > 0) return { source, site: null };
  return {
    source,
    site: {
      name: raw.site,
      file,
      hash: createHash('sha256').update(source.text).digest('hex'),
      edition,
      features: new Set(features),
      sweep: raw.sweep ?? 'common',
      hosts: raw.hosts,
      settings: { ...DEFAULT_SETTINGS, ...raw.settings },
    },
  };
}
