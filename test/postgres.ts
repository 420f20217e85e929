// A throwaway PostgreSQL cluster for tests and the bench: Debian's binaries, a temp folder, a free port on
// 127.0.0.1, fsync off. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
// Also the vitest global setup of the `postgres` project: one cluster for the run, its admin URL provided to
// the test files, which make a database per coordinator (test/pool.ts).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** The newest installed PostgreSQL's bin folder, or null when none is installed. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : null;
}

export const NO_POSTGRES = 'skipped: no PostgreSQL binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface PostgresCluster {
  /** The superuser's URL to the `postgres` database. */
  url: string;
  /** The postmaster's process id: its children are the cluster's backends. */
  pid: number;
  /** A new empty database; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

/** A new empty database in the cluster `adminUrl` points to; returns its URL. */
export async function createDatabase(adminUrl: string, name = `t_${Math.random().toString(36).slice(2, 12)}`): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface PostgresClusterOptions {
  /** Loads pg_stat_statements (the bench counts statements per job with it). */
  countStatements?: boolean;
}

export async function startPostgres(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(NO_POSTGRES);
  const dir = await mkdtemp(join(os.tmpdir(), 'cmdx-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  // Run from the cluster's folder: the postgres user may not be allowed into the current one.
  const pgRun = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { cwd: dir }) : run(join(bin, tool), args, { cwd: dir });
  const data = join(dir, 'data');
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400${
    options.countStatements ? ' -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all' : ''
  }`;
  await pgRun('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', settings, '-w', '-t', '60', 'start']);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const pid = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  let stopped = false;
  return {
    url,
    pid,
    createDatabase: (name) => createDatabase(url, name),
    async stop() {
      if (stopped) return;
      stopped = true;
      await pgRun('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

/** Vitest global setup: one cluster for the whole run, stopped at its end. */
export default async function setup({ provide }: { provide: (key: 'postgresUrl', value: string) => void }): Promise<() => Promise<void>> {
  const cluster = await startPostgres();
  provide('postgresUrl', cluster.url);
  return () => cluster.stop();
}
