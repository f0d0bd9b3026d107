import type { Argv } from 'yargs';
import { UsageError } from '../core/usage-error.js';
import { openStore } from '../coordinator/open-store.js';
import type { TokenRecord } from '../coordinator/store.js';
import { createToken } from '../coordinator/tokens.js';

interface CreateArgs {
  db: string;
  agent?: string;
  role?: string;
  viewer: boolean;
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
              })
              .example(
                'reachgate token create --agent ws-01 --role workstation --db reachgate.db > ws-01.token',
                'an agent token into its token file',
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
          'reachgate token create --agent ws-01 --role workstation --db reachgate.db > ws-01.token',
          'an agent token, printed once',
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
  const store = await openStore(argv.db);
  try {
    const grant = argv.viewer
      ? { kind: 'viewer' as const }
      : { kind: 'agent' as const, agent: argv.agent!, role: argv.role! };
    const { token, record } = await createToken(store, grant);
    process.stdout.write(`${token}\n`);
    const who =
      record.kind === 'agent'
        ? `agent ${JSON.stringify(record.agent)} (role ${JSON.stringify(record.role)})`
        : 'a viewer';
    process.stderr.write(
      `reachgate: token ${record.id} created for ${who}; it is shown only this once, keep it now (the database holds only its hash)\n`,
    );
  } finally {
    await store.close();
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
