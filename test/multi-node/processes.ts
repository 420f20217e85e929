// Real `node coordinator` processes on one PostgreSQL database, as an operator starts them, optionally each under
// libfaketime with its wall clock off by some hours (a machine whose clock is skewed), plus what tests ask the
// database about them.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { makeTempDir } from '../pool';
import { waitFor } from '../wait';

const ENTRY = fileURLToPath(new URL('../../coordinator/index.js', import.meta.url));
/** The advisory lock key of the sweeping coordinator (coordinator/store/postgres.ts): small, so all in objid. */
const SWEEPER_LOCK = 0x636d6479;

export interface NodeProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
}

export interface NodeOptions {
  /** libfaketime's offset for this node's wall clock ('+2h', '-1h'); its monotonic clock is left true. */
  skew?: string;
  /** More command line flags. */
  args?: string[];
}

/** A pool of coordinator processes on one new database: one blob folder, the same admin and join token files. */
export class ProcessPool {
  readonly adminToken = 'cmdx_admin_nodestest000000000000000000000';
  readonly joinToken = 'cmdx_join_nodestest0000000000000000000000';
  private readonly nodes: NodeProcess[] = [];

  private constructor(
    readonly database: string,
    private readonly dir: string,
  ) {}

  static async create(database: string): Promise<ProcessPool> {
    const pool = new ProcessPool(database, await makeTempDir('cmdx-nodes-'));
    await writeFile(join(pool.dir, 'admin.token'), pool.adminToken);
    await writeFile(join(pool.dir, 'join.token'), pool.joinToken);
    return pool;
  }

  async start(name: string, options: NodeOptions = {}): Promise<NodeProcess> {
    const args = [
      ENTRY, '--port', '0', '--data-dir', join(this.dir, name), '--database', this.database, '--blob-dir', join(this.dir, 'blobs'),
      '--admin-token-file', join(this.dir, 'admin.token'), '--join-token-file', join(this.dir, 'join.token'), ...(options.args ?? []),
    ];
    // Each in a process group of its own: `faketime` runs node as its child, and kill -9 must reach both.
    const spawnOptions: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], detached: true };
    const child = options.skew
      ? spawn('faketime', ['-f', options.skew, process.execPath, ...args], { ...spawnOptions, env: { ...process.env, FAKETIME_DONT_FAKE_MONOTONIC: '1' } })
      : spawn(process.execPath, args, spawnOptions);
    let out = '';
    const node: NodeProcess = { name, url: '', child, output: () => out };
    this.nodes.push(node);
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const [, url] = await waitFor<string[]>(() => /serving (http:\/\/\S+)/.exec(out) ?? (child.exitCode !== null ? [] : undefined), {
      timeoutMs: 30_000,
      message: `${name} to serve`,
    });
    if (!url) throw new Error(`${name} exited: ${out}`);
    node.url = url;
    return node;
  }

  /** Waits until some coordinator holds the sweeper's lock on this database (the only one running, to know which). */
  async sweeperElected(): Promise<void> {
    const client = new pg.Client({ connectionString: this.database });
    await client.connect();
    try {
      await waitFor(
        async () => {
          const { rows } = await client.query(
            `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [SWEEPER_LOCK],
          );
          return rows.length > 0 || undefined;
        },
        { timeoutMs: 15_000, message: 'a coordinator to take the sweeper role' },
      );
    } finally {
      await client.end();
    }
  }

  /** Runs one statement on the pool's database. */
  async query(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    const client = new pg.Client({ connectionString: this.database });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as Record<string, unknown>[];
    } finally {
      await client.end();
    }
  }

  /** kill -9 of the node's process group (faketime and node under it); resolves once it is gone. */
  kill(node: NodeProcess): Promise<void> {
    const { child } = node;
    return new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      process.kill(-child.pid!, 'SIGKILL');
    });
  }

  /** Kills every process (kill -9: nothing of theirs is waited for) and removes their folders. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.kill(node)));
    await rm(this.dir, { recursive: true, force: true });
  }
}
