import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackSite } from '../../src/demo/site.js';

/** What a loopback TCP port does with a connection: the first bytes it sends, or the error code. */
function knock(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(2000, () => socket.destroy(new Error('timeout')));
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString());
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

t.test('the loopback site has one agent, a viewer port that answers and a port nobody listens on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reachgate-demo-site-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const site = await loopbackSite(dir);
  t.teardown(() => site.destroy());
  const agents = site.agents.map(({ name, role, place }) => ({ name, role, place }));
  t.same(agents, [{ name: 'ws-01', role: 'workstation', place: null }]);
  t.same([site.coordinatorPlace, site.viewerPlace, site.listen, site.relay], [null, null, '127.0.0.1:0', undefined]);
  t.match(readFileSync(site.site, 'utf8'), /^site: demo-loopback\nhosts:\n  tightgate: \[127\.0\.0\.1\]\n/);
  const profile = readFileSync(site.agents[0]!.profile, 'utf8');
  const open = Number(/ports: (\d+)\n/.exec(profile)?.[1]);
  const closed = Number(/ports: "(\d+)"\n {4}expect: blocked/.exec(profile)?.[1]);
  t.equal(await knock(open), 'RFB 003.008\n', "the viewer row's port answers like a VNC server");
  t.equal(await knock(closed), 'ECONNREFUSED', "the blocked row's port refuses");
});
