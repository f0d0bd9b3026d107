import t from 'tap';
import { formatEndpoint, parseTarget } from '../../src/net/target.js';
import { UsageError } from '../../src/core/usage-error.js';

t.test('a host with a port list and a range expands to distinct ports in order', async (t) => {
  t.same(parseTarget('tightgate:22,5900,8000-8002,22'), { host: 'tightgate', ports: [22, 5900, 8000, 8001, 8002] });
});

t.test('a host without a port has no ports', async (t) => {
  t.same(parseTarget('198.51.100.10'), { host: '198.51.100.10', ports: [] });
});

t.test('an IPv6 address takes ports only in brackets', async (t) => {
  t.same(parseTarget('[2001:db8::10]:22,443'), { host: '2001:db8::10', ports: [22, 443] });
  t.same(parseTarget('2001:db8::10'), { host: '2001:db8::10', ports: [] });
  t.throws(() => parseTarget('2001:db8::10:22x'), UsageError);
  t.throws(() => parseTarget('[tightgate]:22'), /not an IPv6 address/);
});

t.test('bad ports are usage errors that say what was wrong', async (t) => {
  t.throws(() => parseTarget('host:0'), /Port 0 .* out of range/);
  t.throws(() => parseTarget('host:65536'), /Port 65536 .* out of range/);
  t.throws(() => parseTarget('host:90-80'), /runs backwards/);
  t.throws(() => parseTarget('host:ssh'), /`ssh` .* is not a port number/);
  t.throws(() => parseTarget('host:'), /No port after the colon/);
  t.throws(() => parseTarget('host:22,,23'), /is not a port number/);
  t.throws(() => parseTarget(''), /empty/);
  t.throws(() => parseTarget('bad host:22'), /neither an IP address nor a host name/);
});

t.test('endpoints are written back the way a user types them', async (t) => {
  t.equal(formatEndpoint('198.51.100.10', 22), '198.51.100.10:22');
  t.equal(formatEndpoint('2001:db8::10', 22), '[2001:db8::10]:22');
});
