import t from 'tap';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { LAB, Lab, needsLab } from '../lab/lab.js';
import { IN_PROCESS, namespaceCli, probeJson, reachgate } from '../helpers/cli.js';

// The --service presets of the tcp probe against the real daemons from Debian's packages, each
// started in the server namespace with a throw-away configuration; stand-ins only where Debian has
// no daemon (Citrix ICA, SMTP without a mail system) or the real one is a product (the TLS viewer).
const SERVER = LAB.server.v4;

t.test('bad --service usage exits 2 before anything is sent', async (t) => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'an unknown service',
      ['--service', 'gopher'],
      /Unknown `--service` `gopher`[\s\S]*Known services: ssh, ftp, smtp/,
    ],
    [
      'a preset with --expect-reply',
      ['--service', 'ssh', '--expect-reply', 'x'],
      /`--service ssh` sets the request and the expected reply; it cannot be combined with `--expect-reply`/,
    ],
    ['a preset with --send-hex', ['--service', 'ldap', '--send-hex', '00'], /cannot be combined with `--send-hex`/],
  ];
  // The first through the binary; the rest run the same command code in-process (test/helpers/cli-in-process.ts).
  for (const [what, args, message] of cases) {
    const run = await reachgate(
      ['probe', 'tcp', '198.51.100.10', ...args],
      what === cases[0]![0] ? {} : { via: IN_PROCESS },
    );
    t.equal(run.code, 2, `${what}: ${run.stderr}`);
    t.match(run.stderr, message, what);
    t.equal(run.stdout, '', `${what}: nothing probed`);
  }
});

t.test('service presets against real daemons', async (t) => {
  if (needsLab(t)) return;
  const lab = await Lab.create(t);
  const dir = await mkdtemp(join(tmpdir(), 'reachgate-services-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Daemons that drop privileges (dovecot's login processes, vsftpd) must reach their files.
  await chmod(dir, 0o755);
  const cert = await lab.certificate({ cn: 'services.test', sans: ['services.test', SERVER] });

  /** Start a daemon in the server namespace and wait until it listens on `port`. */
  const daemon = async (name: string, command: string, args: string[], port: number): Promise<void> => {
    const child = await lab.spawn(lab.ns.server, command, args);
    await listening(lab, child, name, port);
  };
  const file = async (name: string, text: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o600 });
    return path;
  };

  await lab.exec(lab.ns.server, 'mkdir', ['-p', '/run/sshd']);
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  await lab.exec(lab.ns.server, 'ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await daemon(
    'sshd',
    '/usr/sbin/sshd',
    [
      '-D',
      '-e',
      '-f',
      await file('sshd_config', `ListenAddress ${SERVER}:22\nUsePAM no\nPidFile ${dir}/sshd.pid\n`),
      '-h',
      hostKey,
    ],
    22,
  );

  await lab.exec(lab.ns.server, 'mkdir', ['-p', join(dir, 'ftp-empty')]);
  await daemon(
    'vsftpd',
    'vsftpd',
    [
      await file(
        'vsftpd.conf',
        [
          'listen=YES',
          'listen_ipv6=NO',
          `listen_address=${SERVER}`,
          'background=NO',
          'anonymous_enable=NO',
          'local_enable=YES',
          `secure_chroot_dir=${dir}/ftp-empty`,
          'pam_service_name=vsftpd',
          'xferlog_enable=NO',
          '',
        ].join('\n'),
      ),
    ],
    21,
  );

  await daemon(
    'dovecot',
    'dovecot',
    [
      '-F',
      '-c',
      await file(
        'dovecot.conf',
        `
    base_dir = ${dir}/dovecot-run
    state_dir = ${dir}/dovecot-state
    log_path = /dev/stderr
    protocols = imap pop3
    listen = ${SERVER}
    ssl = yes
    ssl_cert = <${cert.certFile}
    ssl_key = <${cert.keyFile}
    disable_plaintext_auth = no
    mail_location = maildir:${dir}/mail/%u
    passdb {
      driver = static
      args = nopassword=y
    }
    userdb {
      driver = static
      args = uid=nobody gid=nogroup home=${dir}/home/%u
    }
  `,
      ),
    ],
    995,
  );

  await daemon(
    'slapd',
    'slapd',
    [
      '-d',
      '0',
      '-h',
      `ldap://${SERVER}/ ldaps://${SERVER}/`,
      '-f',
      await file(
        'slapd.conf',
        [
          'include /etc/ldap/schema/core.schema',
          `pidfile ${dir}/slapd.pid`,
          `argsfile ${dir}/slapd.args`,
          `TLSCertificateFile ${cert.certFile}`,
          `TLSCertificateKeyFile ${cert.keyFile}`,
          '',
        ].join('\n'),
      ),
    ],
    636,
  );

  await daemon(
    'xrdp',
    'xrdp',
    [
      '--nodaemon',
      '--config',
      await file(
        'xrdp.ini',
        [
          '[Globals]',
          'ini_version=1',
          'fork=false',
          `port=tcp://${SERVER}:3389`,
          'security_layer=negotiate',
          'crypt_level=high',
          `certificate=${cert.certFile}`,
          `key_file=${cert.keyFile}`,
          'ssl_protocols=TLSv1.2, TLSv1.3',
          '[Logging]',
          `LogFile=${dir}/xrdp.log`,
          'LogLevel=INFO',
          'EnableSyslog=false',
          'EnableConsole=true',
          'ConsoleLevel=INFO',
          '',
        ].join('\n'),
      ),
    ],
    3389,
  );

  await daemon(
    'nginx (rtmp)',
    'nginx',
    [
      '-p',
      dir,
      '-e',
      'stderr',
      '-g',
      'daemon off;',
      '-c',
      await file(
        'nginx-rtmp.conf',
        `
    load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
    pid ${dir}/nginx-rtmp.pid;
    error_log stderr;
    events { worker_connections 64; }
    rtmp { server { listen ${SERVER}:1935; } }
  `,
      ),
    ],
    1935,
  );

  await lab.listen(lab.ns.server, {
    address: SERVER,
    ports: [5900],
    banner: 'RFB 003.008\n',
    tls: { cert: cert.certFile, key: cert.keyFile },
  });
  await lab.listen(lab.ns.server, {
    address: SERVER,
    ports: [25],
    banner: '220 mail.services.test ESMTP stand-in\r\n',
  });
  // Citrix's banner holds NUL bytes, which the command line of Lab.listen cannot carry.
  const ica = await lab.spawn(lab.ns.server, process.execPath, [
    '-e',
    `
    const net = require('node:net');
    setTimeout(() => process.exit(0), 120000);
    net.createServer((socket) => { socket.on('error', () => {}); socket.write(Buffer.from('7f7f49434100', 'hex')); socket.resume(); })
      .listen(1494, '${SERVER}', () => console.log('ready'));
  `,
  ]);
  await listening(lab, ica, 'ICA stand-in', 1494);

  const client = await namespaceCli(t, lab.ns.client);
  /** Probe from the client namespace and return the one result. */
  const probe = (args: string[]) => probeJson('tcp', args, { via: client });

  t.test('OpenSSH passes --service ssh on its standard port 22 when the target names none', async (t) => {
    const { code, result } = await probe([SERVER, '--service', 'ssh']);
    t.equal(code, 0);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 22 },
      check: { ok: true, detail: /^reply matched an SSH-2\.0 banner: "SSH-2\.0-OpenSSH_/ },
    });
  });

  t.test('vsftpd passes --service ftp with its 220 greeting', async (t) => {
    const { result } = await probe([SERVER, '--service', 'ftp']);
    t.match(result, { state: 'open', verdict: 'pass', target: { port: 21 }, evidence: { reply: /^"220 / } });
  });

  t.test('an SMTP stand-in passes --service smtp with its 220 greeting', async (t) => {
    const { result } = await probe([SERVER, '--service', 'smtp']);
    t.match(result, { state: 'open', verdict: 'pass', target: { port: 25 } });
  });

  t.test('dovecot passes --service imap and --service pop3', async (t) => {
    const imap = await probe([SERVER, '--service', 'imap']);
    t.match(imap.result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 143 },
      evidence: { reply: /^"\* OK .*Dovecot/ },
    });
    const pop3 = await probe([SERVER, '--service', 'pop3']);
    t.match(pop3.result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 110 },
      evidence: { reply: /^"\+OK Dovecot/ },
    });
  });

  t.test(
    'dovecot passes --service imaps and --service pop3s inside TLS, with the certificate as evidence',
    async (t) => {
      const imaps = await probe([SERVER, '--service', 'imaps', '--ca', cert.certFile]);
      t.match(imaps.result, {
        state: 'open',
        verdict: 'pass',
        target: { port: 993 },
        evidence: { tls: { subject: 'CN=services.test', verified: true }, reply: /^"\* OK / },
      });
      const pop3s = await probe([SERVER, '--service', 'pop3s']);
      t.match(pop3s.result, {
        state: 'open',
        verdict: 'pass',
        target: { port: 995 },
        evidence: { tls: { subject: 'CN=services.test' } },
      });
    },
  );

  t.test('slapd answers the anonymous rootDSE search of --service ldap, and of ldaps inside TLS', async (t) => {
    const ldap = await probe([SERVER, '--service', 'ldap']);
    t.match(ldap.result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 389 },
      check: { detail: /^reply matched an LDAP answer to an anonymous rootDSE search/ },
    });
    t.match(ldap.result.evidence, { reply: /supportedLDAPVersion/ });
    const ldaps = await probe([SERVER, '--service', 'ldaps']);
    t.match(ldaps.result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 636 },
      evidence: { tls: { subject: 'CN=services.test' } },
    });
  });

  t.test('xrdp answers the X.224 connection request of --service rdp with a connection confirm', async (t) => {
    const { result } = await probe([SERVER, '--service', 'rdp']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 3389 },
      check: { detail: /^reply matched an X\.224 Connection Confirm \(RDP\): "\\x03\\x00\\x00\\x13\\x0e\\xd0/ },
    });
  });

  t.test('nginx with the RTMP module answers the handshake of --service rtmp with version 3', async (t) => {
    const { result } = await probe([SERVER, '--service', 'rtmp']);
    t.match(result, { state: 'open', verdict: 'pass', target: { port: 1935 }, evidence: { reply: /^"\\x03/ } });
  });

  t.test('a Citrix ICA stand-in passes --service ica with the ICA banner', async (t) => {
    const { result } = await probe([SERVER, '--service', 'ica']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 1494 },
      evidence: { reply: '"\\x7f\\x7fICA\\x00"' },
    });
  });

  t.test('a TLS VNC stand-in passes --service vnc --tls with the RFB banner inside TLS', async (t) => {
    const { result } = await probe([SERVER, '--service', 'vnc', '--tls']);
    t.match(result, {
      state: 'open',
      verdict: 'pass',
      target: { port: 5900 },
      evidence: { tls: { subject: 'CN=services.test' }, reply: '"RFB 003.008\\n"' },
    });
  });

  t.test('the wrong service on a port fails the check and shows what answered', async (t) => {
    const { code, result } = await probe([`${SERVER}:22`, '--service', 'imap']);
    t.equal(code, 1);
    t.match(result, {
      state: 'open',
      verdict: 'fail',
      check: { ok: false, detail: /^reply did not match an IMAP \* OK greeting: "SSH-2\.0-OpenSSH_/ },
    });
  });

  t.test('a preset that sends a request fails on a service that does not speak its protocol', async (t) => {
    const { result } = await probe([`${SERVER}:21`, '--service', 'ldap']);
    t.match(result, { state: 'open', verdict: 'fail', check: { ok: false, detail: /did not match an LDAP answer/ } });
  });

  t.test("a port in the target wins over the preset's standard port", async (t) => {
    const { result } = await probe([`${SERVER}:2222`, '--service', 'ssh']);
    t.match(result, { state: 'closed', target: { port: 2222 } });
  });
});

/** Resolve once `port` listens in the server namespace; reject with the daemon's stderr if it exits or takes too long. */
async function listening(lab: Lab, child: ChildProcess, name: string, port: number): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  child.stdout?.resume();
  for (let tries = 0; tries < 100; tries++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${name} exited before it listened on ${port}: ${stderr.trim()}`);
    const { stdout } = await lab.exec(lab.ns.server, 'ss', ['-Htln', `sport = :${port}`]);
    if (stdout.trim() !== '') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not listen on ${port} within 10 s: ${stderr.trim()}`);
}
