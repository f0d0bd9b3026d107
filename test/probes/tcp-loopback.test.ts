import t from 'tap';
import tcp from '../../probes/tcp.js';
import { loopbackSpec, probeInProcess, tcpListener, vacantTcpPort } from './in-process.js';

// The tcp probe's observe and judge logic against listeners on 127.0.0.1, port 0: no root, no lab.

t.test('a listener gives open with its round-trip time', async (t) => {
  const { port } = await tcpListener(t, () => {});
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port));
  t.match(result, { state: 'open', verdict: 'pass', attempts: 1, reason: /^connected in [\d.]+ m?s$/ });
  t.notOk(result.check);
  t.ok(result.rtt_ms !== undefined && result.rtt_ms >= 0);
});

t.test('a port that was just closed gives closed by a TCP reset', async (t) => {
  const port = await vacantTcpPort();
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port));
  t.match(result, {
    state: 'closed',
    verdict: 'fail',
    attempts: 1,
    reason: /^refused \(TCP reset\) after .*: nothing listens, or a filter answers with a reset$/,
  });
});

t.test('a closed port passes a blocked expectation', async (t) => {
  const port = await vacantTcpPort();
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, {}, { expect: 'blocked' }));
  t.match(result, { state: 'closed', verdict: 'pass' });
});

t.test('with three attempts, the first refusal ends the probe', async (t) => {
  const port = await vacantTcpPort();
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, {}, { attempts: 3, timeoutMs: 3000 }));
  t.match(result, { state: 'closed', attempts: 1 });
});

t.test('a banner that matches --expect-reply passes the check', async (t) => {
  const { port } = await tcpListener(t, (socket) => socket.write('SSH-2.0-loopback\r\n'));
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, { 'expect-reply': '^SSH-2\\.0' }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: 'reply matched /^SSH-2\\.0/: "SSH-2.0-loopback\\r\\n"' },
    reason: /^connected in .*; reply matched \/\^SSH-2\\\.0\/: "SSH-2\.0-loopback\\r\\n"$/,
    evidence: { reply: '"SSH-2.0-loopback\\r\\n"' },
  });
});

t.test('a banner that does not match fails the check on an open port', async (t) => {
  const { port } = await tcpListener(t, (socket) => socket.write('220 smtp.loopback ESMTP\r\n'));
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, { 'expect-reply': '^SSH-2\\.0' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'reply did not match /^SSH-2\\.0/: "220 smtp.loopback ESMTP\\r\\n"' },
    reason: /^connected in .*, but reply did not match /,
  });
});

t.test('--send writes the request and the reply is checked', async (t) => {
  t.plan(2);
  const { port } = await tcpListener(t, (socket) =>
    socket.once('data', (request) => {
      t.equal(request.toString('latin1'), 'PING\r\n');
      socket.write('+PONG\r\n');
    }),
  );
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, { send: 'PING\\r\\n', 'expect-reply': '^\\+PONG' }));
  t.match(result, {
    state: 'open',
    verdict: 'pass',
    check: { ok: true, detail: /^reply matched \/\^\\\+PONG\/: "\+PONG\\r\\n"$/ },
  });
});

t.test('a peer that closes without a reply fails the reply check', async (t) => {
  const { port } = await tcpListener(t, (socket) => socket.end());
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, { 'expect-reply': '^SSH' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'the peer closed without a reply (expected /^SSH/)' },
  });
});

t.test('a peer that stays silent fails the reply check at the deadline', async (t) => {
  const { port } = await tcpListener(t, () => {});
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, { 'expect-reply': '^SSH' }, { timeoutMs: 300 }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'no reply within 300 ms (expected /^SSH/)' },
  });
});

t.test('a service preset names what it expected in the check', async (t) => {
  const { port } = await tcpListener(t, (socket) => socket.write('220 ftp.loopback\r\n'));
  const result = await probeInProcess(tcp, loopbackSpec(tcp, port, { service: 'ssh' }));
  t.match(result, {
    state: 'open',
    verdict: 'fail',
    check: { ok: false, detail: 'reply did not match an SSH-2.0 banner: "220 ftp.loopback\\r\\n"' },
  });
});
