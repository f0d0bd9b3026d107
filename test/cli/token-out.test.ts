import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_PROCESS, reachgate } from '../helpers/cli.js';
import { SqliteStore } from '../../src/coordinator/sqlite-store.js';

async function tokenCount(db: string): Promise<number> {
  const store = SqliteStore.open(db, { mustExist: true });
  try {
    return (await store.listTokens()).length;
  } finally {
    await store.close();
  }
}

t.test(
  'token create --out writes the token to a file of mode 600, refuses to overwrite it, and --force replaces it',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reachgate-token-out-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'reachgate.db');
    const file = join(dir, 'ws-01.token');
    const agentArgs = ['token', 'create', '--agent', 'ws-01', '--role', 'workstation', '--db', db];
    // A umask that lets everyone read what `> file` creates (the child inherits it): --out must not depend on it.
    process.umask(0o022);

    const created = await reachgate([...agentArgs, '--out', file]);
    t.equal(created.code, 0, created.stderr);
    t.equal(created.stdout, '', 'the token is not printed');
    const token = readFileSync(file, 'utf8');
    t.match(token, /^rg_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
    t.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only');
    t.match(created.stderr, `written to ${file} (mode 600)`);

    const again = await reachgate([...agentArgs, '--out', file], { via: IN_PROCESS });
    t.equal(again.code, 2, 'an existing file is refused');
    t.match(again.stderr, `the token file ${file} exists already; no token was created`);
    t.match(again.stderr, /--force/);
    t.equal(readFileSync(file, 'utf8'), token, 'the file is untouched');
    t.equal(await tokenCount(db), 1, 'and no token was made that nobody holds');

    writeFileSync(file, 'old\n', { mode: 0o644 });
    const forced = await reachgate([...agentArgs, '--out', file, '--force'], { via: IN_PROCESS });
    t.equal(forced.code, 0, forced.stderr);
    t.not(readFileSync(file, 'utf8'), 'old\n');
    t.match(readFileSync(file, 'utf8'), /^rg_/);
    t.equal(statSync(file).mode & 0o777, 0o600, 'a replaced file of mode 644 becomes 600');
    t.same(
      readdirSync(dir).filter((name) => name.endsWith('.tmp')),
      [],
      'no temp file left',
    );

    const nowhere = await reachgate([...agentArgs, '--out', join(dir, 'missing', 'x.token')], { via: IN_PROCESS });
    t.equal(nowhere.code, 2);
    t.match(nowhere.stderr, /cannot create the token file .*missing\/x\.token: ENOENT; no token was created/);
    t.notOk(existsSync(join(dir, 'missing')));
    t.equal(await tokenCount(db), 2);
  },
);
