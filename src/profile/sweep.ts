import { parsePorts } from '../net/target.js';

/**
 * Well-known TCP ports above 1024 (databases, remote access, web alternatives, directory, messaging,
 * monitoring, management interfaces). Our own list, not nmap's: with ports 1-1024 it makes the
 * `common` sweep.
 */
const WELL_KNOWN_HIGH =
  '1080,1194,1241,1311,1352,1433,1434,1494,1521,1604,1701,1723,1755,1812,1813,1883,1900,1935,' +
  '2000,2049,2082,2083,2086,2087,2095,2096,2121,2181,2222,2375,2376,2379,2380,2483,2484,2598,3000,3128,3268,3269,' +
  '3306,3389,3478,3690,4000,4333,4443,4444,4505,4506,4567,4711,4712,4848,5000,5001,5060,5061,5222,5269,5353,5432,' +
  '5500,5555,5601,5631,5666,5672,5800,5801,5900-5910,5938,5984-5986,6000-6010,6379,6443,6514,6566,6667,6697,7000,' +
  '7001,7070,7077,7443,7474,7547,8000,8008,8009,8042,8069,8080-8090,8181,8200,8222,8243,8280,8281,8333,8443,8444,' +
  '8500,8530,8531,8600,8834,8880,8883,8888,8983,9000,9001,9042,9043,9060,9080,9090,9091,9100,9200,9300,9418,9443,' +
  '9999,10000,10050,10051,10250,11211,15672,16992,16993,20000,27017,27018,28017,32400,49152-49160,50000,50070';

/** TCP ports of the TightGate-Pro port table, always part of a sweep. */
export const PORT_TABLE_TCP = [
  21, 22, 25, 53, 80, 88, 110, 143, 389, 443, 514, 636, 993, 995, 1494, 1935, 2514, 3268, 3269, 3389, 5666, 5900,
];

/** The ports a `sweep` stands for: common (1-1024, well-known higher ports, the table's) or full (1-65535). */
export function sweepPorts(sweep: 'common' | 'full'): number[] {
  if (sweep === 'full') return parsePorts('1-65535');
  return [...new Set([...parsePorts('1-1024'), ...parsePorts(WELL_KNOWN_HIGH), ...PORT_TABLE_TCP])].sort(
    (a, b) => a - b,
  );
}
