// What the agent's command lines share: one way to end (exit codes, messages without stack traces) and the
// package version they report. Light on purpose: a command line's --help loads this and its flags only; the
// rest (the HTTP client, the agent) is imported once the flags are read.
import { readFileSync } from 'node:fs';
import { parseServerList } from '../../../protocol/addresses';
import { UsageError, type FlagTable } from '../../../protocol/cli';

/** Usage errors and refused input: exit 2. */
export const EXIT_USAGE = 2;

/** Runs `main`, prints a failure as one line (never a stack) and exits with its code. */
export function runMain(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => exit(code),
    (err: unknown) => {
      if (err instanceof UsageError) {
        process.stderr.write(`error: ${err.message}\n`);
        exit(EXIT_USAGE);
      } else {
        process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
        exit(1);
      }
    },
  );
}

/** Exits once stdout and stderr have drained (process.exit alone may cut piped output short). */
function exit(code: number): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

export function packageVersion(): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version;
  } catch {
    return undefined;
  }
}

/** For token files: read whole, as text. */
export const readText = (file: string): string => readFileSync(file, 'utf8');

/** `--server URL1,URL2,…`: the nodes of one pool (each an http(s) URL), or a one-line usage error. */
export function parseServerUrls(raw: string | undefined, flag = '--server'): string[] {
  if (!raw) throw new UsageError(`${flag} is required: the coordinator's URL, e.g. http://pool-host:8080 (several nodes comma-separated)`);
  try {
    return parseServerList(raw);
  } catch (err) {
    throw new UsageError(`${flag}: ${(err as Error).message}`);
  }
}

/** How a command line reaches the coordinator over the network. */
export const transportFlags = {
  fingerprint: {
    type: 'string',
    env: 'CMDX_FINGERPRINT',
    placeholder: 'SHA256',
    description: "the coordinator's certificate fingerprint (printed by it and in invites): trust exactly that certificate",
  },
  ca: { type: 'string', env: 'CMDX_CA', placeholder: 'FILE', description: "a PEM file of the CA that signed the coordinator's certificate" },
  'insecure-http': {
    type: 'boolean',
    env: 'CMDX_INSECURE_HTTP',
    description: 'allow plain http:// to another machine (tokens and jobs cross the network readable)',
  },
} satisfies FlagTable;

/** The fetch to use for these nodes, or a one-line usage error (plain HTTP across the network, a bad fingerprint). */
export async function fetchFor(
  servers: readonly string[],
  flags: { fingerprint?: string | undefined; ca?: string | undefined; 'insecure-http'?: boolean | undefined },
): Promise<typeof fetch> {
  const { transportFetch, TransportError } = await import('../transport');
  try {
    return transportFetch(servers, {
      ...(flags.fingerprint ? { fingerprint: flags.fingerprint } : {}),
      ...(flags.ca ? { caFile: flags.ca } : {}),
      insecureHttp: flags['insecure-http'] ?? false,
    });
  } catch (err) {
    if (err instanceof TransportError) throw new UsageError(err.message);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`--ca ${flags.ca}: no such file`);
    throw err;
  }
}
