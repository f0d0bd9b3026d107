import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { openStore } from '../coordinator/open-store.js';
import type { Store, TokenRecord } from '../coordinator/store.js';
import { createToken } from '../coordinator/tokens.js';

interface CreateArgs {
  db: string;
  agent?: string;
  role?: string;
  viewer: boolean;
  out?: string;
  force: boolean;
}

interface ListArgs {
  db: string;
  json: boolean;
}

interface RevokeArgs {
  db: string;
  id: string;
}

const DB_OPTION = {
  type: 'string',
  demandOption: true,
  requiresArg: true,
  describe: "The coordinator's database: its SQLite file or postgres:// URL",
} as const;

/** Add `reachgate token create|list|revoke`. */
export function tokenCommand(parser: Argv): Argv {
  return parser.command(
    'token <action>',
    "Create, list and revoke the tokens agents and viewers use (stored hashed in the coordinator's database)",
    (command) =>
      command
        .command<CreateArgs>(
          'create',
          'Make a token and print it once: an agent token (posts reports as one agent and role) or a viewer token (reads)',
          (create) =>
            create
              .options({
                db: DB_OPTION,
                agent: { type: 'string', requiresArg: true, describe: 'The agent name the token may report as' },
                role: { type: 'string', requiresArg: true, describe: 'The role the token may report as' },
                viewer: {
                  type: 'boolean',
                  default: false,
                  describe: 'A viewer token: matrix, agents, reports, baseline, metrics, the HTML page',
                },
                out: {
                  type: 'string',
                  requiresArg: true,
                  describe: 'Write the token to this file, mode 600 (not to stdout); an existing file is kept',
                },
                force: { type: 'boolean', default: false, describe: 'With --out: replace an existing file' },
              })
              .example(
                'reachgate token create --agent ws-01 --role workstation --db reachgate.db --out ws-01.token',
                'an agent token into its token file, readable only by its owner',
              )
              .example('reachgate token create --viewer --db reachgate.db', 'a viewer token'),
          create,
        )
        .command<ListArgs>(
          'list',
          'List tokens: id, kind, agent, role, created, revoked (never the secrets)',
          (list) =>
            list
              .options({
                db: DB_OPTION,
                json: { type: 'boolean', default: false, describe: 'Print one JSON document' },
              })
              .example('reachgate token list --db reachgate.db', 'which tokens exist, and which are revoked'),
          list,
        )
        .command<RevokeArgs>(
          'revoke <id>',
          'Revoke a token by its id (from `token list`); the coordinator refuses it from the next request on',
          (revoke) =>
            revoke
              .positional('id', { type: 'string', demandOption: true, describe: 'The token id' })
              .options({ db: DB_OPTION })
              .example(
                'reachgate token revoke TOKEN-ID --db reachgate.db',
                'the agent or viewer with that token is refused from now on',
              ),
          revoke,
        )
        .demandCommand(1, 'Name a token action: create, list or revoke.')
        .example(
          'reachgate token create --agent ws-01 --role workstation --db reachgate.db --out ws-01.token',
          'an agent token, written once to a file of mode 600',
        )
        .example('reachgate token list --db reachgate.db', 'ids, agents and roles; never the secrets'),
  );
}

async function create(argv: CreateArgs): Promise<void> {
  const agentGrant = argv.agent !== undefined || argv.role !== undefined;
  if (argv.viewer === agentGrant) {
    throw new UsageError('give either `--agent NAME --role ROLE` (an agent token) or `--viewer` (a viewer token)');
  }
  if (agentGrant && (argv.agent === undefined || argv.role === undefined)) {
    throw new UsageError(
      'an agent token needs both `--agent NAME` and `--role ROLE`: the coordinator accepts reports only with that agent and role',
    );
  }
  if (argv.force && argv.out === undefined) throw new UsageError('`--force` goes with `--out FILE`: it replaces FILE');
  // The file is made (or refused) before the token exists: a token that cannot be kept is never created.
  const out = argv.out === undefined ? undefined : TokenFile.create(argv.out, argv.force);
  let store: Store | undefined;
  try {
    store = await openStore(argv.db);
    const grant = argv.viewer
      ? { kind: 'viewer' as const }
      : { kind: 'agent' as const, agent: argv.agent!, role: argv.role! };
    const { token, record } = await createToken(store, grant);
    if (out) {
      try {
        out.commit(`${token}\n`);
      } catch (error) {
        // A token nobody holds is only a risk: revoke it at once.
        await store.revokeToken(record.id, new Date());
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        throw new UsageError(`cannot write the token to ${out.path}: ${code}; token ${record.id} was revoked`);
      }
    } else process.stdout.write(`${token}\n`);
    const who =
      record.kind === 'agent'
        ? `agent ${JSON.stringify(record.agent)} (role ${JSON.stringify(record.role)})`
        : 'a viewer';
    process.stderr.write(
      out
        ? `reachgate: token ${record.id} created for ${who}; written to ${out.path} (mode 600), the only copy (the database holds only its hash)\n`
        : `reachgate: token ${record.id} created for ${who}; it is shown only this once, keep it now (the database holds only its hash)\n`,
    );
  } finally {
    out?.abandon();
    await store?.close();
  }
}

/** A token file being written: a fresh file of mode 600, put in place only once the token is in it. */
class TokenFile {
  readonly path: string;
  readonly #temp: string;
  readonly #replace: boolean;
  #fd: number | undefined;

  private constructor(path: string, temp: string, fd: number, replace: boolean) {
    this.path = path;
    this.#temp = temp;
    this.#fd = fd;
    this.#replace = replace;
  }

  /** Without `replace`, the file itself is created exclusively (an existing one is refused); with it, a temp file beside it. */
  static create(path: string, replace: boolean): TokenFile {
    const temp = replace ? join(dirname(path), `.${basename(path)}.${process.pid}.tmp`) : path;
    let fd: number;
    try {
      fd = openSync(temp, 'wx', 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      if (code === 'EEXIST' && !replace)
        throw new UsageError(
          `the token file ${path} exists already; no token was created`,
          'Pass --force to replace it, or choose another --out file.',
        );
      throw new UsageError(`cannot create the token file ${path}: ${code}; no token was created`);
    }
    try {
      // Whatever the umask: readable and writable by the owner only.
      fchmodSync(fd, 0o600);
    } catch (error) {
      closeSync(fd);
      unlinkSync(temp);
      throw error;
    }
    return new TokenFile(path, temp, fd, replace);
  }

  /** Write the token whole, sync it and (with replace) rename it over the old file. */
  commit(text: string): void {
    const fd = this.#fd!;
    const bytes = Buffer.from(text);
    for (let written = 0; written < bytes.length;) {
      const count = writeSync(fd, bytes, written);
      if (count <= 0) throw Object.assign(new Error('no bytes written'), { code: 'ENOSPC' });
      written += count;
    }
    fsyncSync(fd);
    closeSync(fd);
    this.#fd = undefined;
    if (!this.#replace) return;
    try {
      renameSync(this.#temp, this.path);
    } catch (error) {
      unlinkSync(this.#temp);
      throw error;
    }
  }

  /** After a failure before commit: remove the half-made file, so no empty token file is left behind. */
  abandon(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
    try {
      unlinkSync(this.#temp);
    } catch {
      // Gone already.
    }
  }
}

async function list(argv: ListArgs): Promise<void> {
  const store = await openStore(argv.db, { mustExist: true });
  try {
    const tokens = await store.listTokens();
    process.stdout.write(argv.json ? `${JSON.stringify({ tokens })}\n` : formatTokens(tokens));
  } finally {
    await store.close();
  }
}

async function revoke(argv: RevokeArgs): Promise<void> {
  const store = await openStore(argv.db, { mustExist: true });
  try {
    const known = await store.findToken(argv.id);
    if (!known)
      throw new UsageError(
        `no token with id ${JSON.stringify(argv.id)} in ${argv.db}`,
        'See the ids with `reachgate token list --db FILE`.',
      );
    if (known.revoked_at !== null) {
      process.stderr.write(`reachgate: token ${known.id} was already revoked at ${known.revoked_at}\n`);
      return;
    }
    await store.revokeToken(argv.id, new Date());
    process.stderr.write(`reachgate: token ${known.id} revoked; the coordinator refuses it from its next request on\n`);
  } finally {
    await store.close();
  }
}

function formatTokens(tokens: TokenRecord[]): string {
  if (tokens.length === 0) return 'no tokens\n';
  const header = ['ID', 'KIND', 'AGENT', 'ROLE', 'CREATED', 'REVOKED'];
  const rows = tokens.map((token) => [
    token.id,
    token.kind,
    token.agent ?? '-',
    token.role ?? '-',
    token.created_at,
    token.revoked_at ?? '-',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  return (
    [header, ...rows]
      .map((row) =>
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
