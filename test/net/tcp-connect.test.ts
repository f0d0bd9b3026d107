import t from 'tap';
import type { ProbeContext, ResolvedProbeSpec } from '../../src/core/probe-kind.js';
import { connectToTarget } from '../../src/net/tcp-connect.js';
import { tcpListener, vacantTcpPort } from '../probes/in-process.js';

// connectToTarget against listeners on 127.0.0.1: what every TCP kind gets when it opens a connection.

function spec(port: number, attempts = 1): ResolvedProbeSpec {
  return {
    id: `tcp:127.0.0.1:${port}`,
    kind: 'tcp',
    target: { host: '127.0.0.1', address: '127.0.0.1', port, protocol: 'tcp' },
    expect: 'reachable',
    options: {},
    timeoutMs: 1000,
    attempts,
  };
}

function context(signal: AbortSignal = AbortSignal.timeout(1000)): ProbeContext {
  return { signal, icmp: null, icmpNote: undefined };
}

t.test('a listener gives a connected socket with its round-trip time and the attempts started', async (t) => {
  t.plan(2);
  const { port } = await tcpListener(t, () => {});
  const connection = await connectToTarget(spec(port, 3), context());
  t.match(connection, { kind: 'connected', attempts: 1 });
  if (connection.kind === 'connected') {
    t.ok(connection.rttMs >= 0);
    connection.socket.destroy();
  }
});

t.test('a refusal is the observation of a closed port', async (t) => {
  const port = await vacantTcpPort();
  const connection = await connectToTarget(spec(port), context());
  t.match(connection, {
    kind: 'unanswered',
    observation: { state: 'closed', attempts: 1, reason: /^refused \(TCP reset\)/ },
  });
});

t.test('a deadline already passed with several attempts ends at once as silence, one attempt started', async (t) => {
  const { port } = await tcpListener(t, () => {});
  const connection = await connectToTarget(spec(port, 3), context(AbortSignal.abort()));
  t.same(connection, {
    kind: 'unanswered',
    observation: { state: 'filtered', reason: 'no answer within 1 s (1 attempt): silently dropped', attempts: 1 },
  });
});

t.test('another endpoint than the target is connected to under the same deadline', async (t) => {
  const { port } = await tcpListener(t, () => {});
  const vacant = await vacantTcpPort();
  const connection = await connectToTarget(spec(vacant), context(), { endpoint: { address: '127.0.0.1', port } });
  t.match(connection, { kind: 'connected' });
  if (connection.kind === 'connected') connection.socket.destroy();
});
