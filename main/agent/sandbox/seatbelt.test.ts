// The Seatbelt profile as data: read back with a small SBPL reader and judged with SBPL's rule (the last matching
// rule wins), so each test asks what the kernel would decide for one operation on one path. A real run under
// sandbox-exec happens only where it exists (macOS).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SANDBOX_EXEC, sbplString, seatbeltCommand, seatbeltPath, seatbeltProfile, type SeatbeltOptions } from './seatbelt';

type Sexp = string | { str: string } | Sexp[];

/** Reads SBPL: lists, symbols, "strings" with backslash escapes, #"regex" literals, ; comments. */
function readSbpl(text: string): Sexp[] {
  let at = 0;
  const skip = () => {
    for (;;) {
      while (at < text.length && /\s/.test(text[at]!)) at++;
      if (text[at] !== ';') return;
      while (at < text.length && text[at] !== '\n') at++;
    }
  };
  const readString = (): { str: string } => {
    at++; // opening quote
    let value = '';
    for (;;) {
      const c = text[at++];
      if (c === undefined) throw new Error('unterminated string');
      if (c === '"') return { str: value };
      if (c === '\\') {
        const next = text[at++];
        if (next === undefined) throw new Error('unterminated escape');
        value += next;
      } else value += c;
    }
  };
  const read = (): Sexp => {
    skip();
    const c = text[at];
    if (c === '(') {
      at++;
      const list: Sexp[] = [];
      for (;;) {
        skip();
        if (text[at] === ')') {
          at++;
          return list;
        }
        if (at >= text.length) throw new Error('unbalanced parentheses');
        list.push(read());
      }
    }
    if (c === ')') throw new Error(`unexpected ) at ${at}`);
    if (c === '"') return readString();
    if (c === '#' && text[at + 1] === '"') {
      at++;
      return readString();
    }
    const start = at;
    while (at < text.length && !/[\s()";]/.test(text[at]!)) at++;
    return text.slice(start, at);
  };
  const forms: Sexp[] = [];
  for (skip(); at < text.length; skip()) forms.push(read());
  return forms;
}

type Request = { operation: string; path?: string; remoteHost?: 'localhost' | 'example.com' };

function filterMatches(filter: Sexp, request: Request): boolean {
  if (!Array.isArray(filter)) return false;
  const [kind, ...args] = filter;
  const arg = args[0];
  const value = typeof arg === 'object' && !Array.isArray(arg) ? arg.str : undefined;
  const p = request.path;
  if (kind === 'require-all') return args.every((f) => filterMatches(f, request));
  if (kind === 'require-any') return args.some((f) => filterMatches(f, request));
  if (p !== undefined && value !== undefined) {
    if (kind === 'literal') return p === value;
    if (kind === 'subpath') return p === value || p.startsWith(`${value}/`);
    if (kind === 'path-ancestors') return value === p || value.startsWith(p === '/' ? '/' : `${p}/`);
  }
  if (kind === 'remote' && arg === 'ip' && request.remoteHost) {
    const address = args[1];
    const host = typeof address === 'object' && !Array.isArray(address) ? address.str.split(':')[0] : undefined;
    return host === '*' || host === request.remoteHost;
  }
  return false;
}

const operationMatches = (pattern: string, operation: string) =>
  pattern === operation || (pattern.endsWith('*') && operation.startsWith(pattern.slice(0, -1)));

/** What Seatbelt decides for the request: the last rule naming the operation whose filters (any of them) match. */
function decide(profile: string, request: Request): 'allow' | 'deny' {
  let decision: 'allow' | 'deny' = 'allow';
  for (const form of readSbpl(profile)) {
    if (!Array.isArray(form) || (form[0] !== 'allow' && form[0] !== 'deny')) continue;
    const action = form[0];
    const operations = form.slice(1).filter((x): x is string => typeof x === 'string');
    const filters = form.slice(1).filter((x) => Array.isArray(x));
    if (operations.includes('default')) decision = action;
    else if (operations.some((o) => operationMatches(o, request.operation)) && (filters.length === 0 || filters.some((f) => filterMatches(f, request)))) {
      decision = action;
    }
  }
  return decision;
}

const WORKSPACE = '/Users/owner/Library/Application Support/cmd-executor/agent/work/job-1';
const TMP = '/private/var/folders/xy/T/cmd-executor-job-1';
const base: SeatbeltOptions = { workspace: WORKSPACE, tmpDir: TMP, allowNetwork: false };
const read = (profile: string, p: string) => decide(profile, { operation: 'file-read-data', path: p });
const write = (profile: string, p: string) => decide(profile, { operation: 'file-write-data', path: p });
const connect = (profile: string, remoteHost: Request['remoteHost']) => decide(profile, { operation: 'network-outbound', remoteHost });

describe('seatbeltProfile', () => {
  it('denies by default and opens the workspace and tmp dir read-write', () => {
    const profile = seatbeltProfile(base);
    expect(readSbpl(profile).slice(0, 2)).toEqual([['version', '1'], ['deny', 'default']]);
    for (const folder of [WORKSPACE, TMP]) {
      expect(read(profile, `${folder}/src/main.c`)).toBe('allow');
      expect(write(profile, `${folder}/out/a.o`)).toBe('allow');
      expect(decide(profile, { operation: 'file-map-executable', path: `${folder}/build/libx.dylib` })).toBe('allow');
    }
    expect(decide(profile, { operation: 'process-exec', path: '/usr/bin/make' })).toBe('allow');
    expect(decide(profile, { operation: 'process-fork' })).toBe('allow');
  });

  it("keeps the owner's home, the agent's state and cache, other jobs and the coordinator's data out", () => {
    const profile = seatbeltProfile(base);
    for (const secret of [
      '/Users/owner/.ssh/id_ed25519',
      '/Users/owner/.aws/credentials',
      '/Users/owner/.bashrc',
      '/Users/owner/Library/Application Support/cmd-executor/settings.json',
      '/Users/owner/Library/Application Support/cmd-executor/agent/state/worker.json',
      '/Users/owner/Library/Application Support/cmd-executor/agent/cache/bundle.zip',
      '/Users/owner/Library/Application Support/cmd-executor/agent/work/job-2/secret.txt',
      '/Users/owner/Library/Application Support/cmd-executor/coordinator/admin.token',
      // the same files through the data volume's other name
      '/System/Volumes/Data/Users/owner/.ssh/id_ed25519',
      // the owner's per-user temp dir and Homebrew's databases
      '/private/var/folders/xy/T/other-app/cache.db',
      '/usr/local/var/postgres/base/1/1259',
      '/opt/homebrew/var/postgresql@16/PG_VERSION',
      '/opt/homebrew/etc/my.cnf',
    ]) {
      expect([secret, read(profile, secret)]).toEqual([secret, 'deny']);
      expect([secret, write(profile, secret)]).toEqual([secret, 'deny']);
    }
    // A sibling whose name only starts like the workspace is not inside it.
    expect(read(profile, `${WORKSPACE}-evil/x`)).toBe('deny');
  });

  it('reads the system without writing it, and stats the folders above the workspace without listing them', () => {
    const profile = seatbeltProfile(base);
    for (const file of ['/usr/bin/make', '/bin/sh', '/System/Library/Frameworks/Foundation.framework/Foundation', '/usr/local/bin/node', '/opt/homebrew/Cellar/python/3.13/bin/python3', '/private/etc/passwd', '/']) {
      expect([file, read(profile, file)]).toEqual([file, 'allow']);
      expect([file, write(profile, file)]).toEqual([file, 'deny']);
    }
    expect(read(profile, '/private/etc/master.passwd')).toBe('deny');
    expect(write(profile, '/dev/null')).toBe('allow');
    expect(decide(profile, { operation: 'file-read-metadata', path: '/Users/owner' })).toBe('allow');
    expect(read(profile, '/Users/owner')).toBe('deny');
    expect(decide(profile, { operation: 'file-read-metadata', path: '/opt/homebrew' })).toBe('allow');
    expect(decide(profile, { operation: 'file-read-metadata', path: '/opt/homebrew/var' })).toBe('deny');
  });

  it('opens readOnlyPaths for reading and executing only', () => {
    const profile = seatbeltProfile({ ...base, readOnlyPaths: ['/Applications/Xcode.app/Contents/Developer'] });
    const clang = '/Applications/Xcode.app/Contents/Developer/usr/bin/clang';
    expect(read(profile, clang)).toBe('allow');
    expect(decide(profile, { operation: 'file-map-executable', path: clang })).toBe('allow');
    expect(write(profile, clang)).toBe('deny');
    expect(read(seatbeltProfile(base), clang)).toBe('deny');
  });

  it('keeps a read-only path inside the workspace read-only, and refuses one that holds the workspace', () => {
    const bundle = `${WORKSPACE}/bundle`;
    const profile = seatbeltProfile({ ...base, readOnlyPaths: [bundle] });
    expect(read(profile, `${bundle}/run.sh`)).toBe('allow');
    expect(write(profile, `${bundle}/run.sh`)).toBe('deny');
    expect(decide(profile, { operation: 'file-write-unlink', path: `${bundle}/run.sh` })).toBe('deny');
    expect(write(profile, `${WORKSPACE}/out.txt`)).toBe('allow');
    expect(() => seatbeltProfile({ ...base, readOnlyPaths: ['/Users/owner'] })).toThrow(/holds the job's read-write folder/);
    expect(() => seatbeltProfile({ ...base, readOnlyPaths: [TMP] })).toThrow(/holds the job's read-write folder/);
  });

  it('has no network without permission, and never the loopback with it', () => {
    const offline = seatbeltProfile(base);
    const online = seatbeltProfile({ ...base, allowNetwork: true });
    expect(connect(offline, 'example.com')).toBe('deny');
    expect(connect(offline, 'localhost')).toBe('deny');
    expect(decide(offline, { operation: 'network-outbound', path: '/private/var/run/mDNSResponder' })).toBe('deny');
    expect(connect(online, 'example.com')).toBe('allow');
    expect(connect(online, 'localhost')).toBe('deny');
    expect(decide(online, { operation: 'network-outbound', path: '/private/var/run/mDNSResponder' })).toBe('allow');
    // Unix sockets such as ssh-agent's or Docker's stay closed even online; nothing listens.
    expect(decide(online, { operation: 'network-outbound', path: '/private/tmp/com.apple.launchd.x/Listeners' })).toBe('deny');
    expect(decide(online, { operation: 'network-outbound', path: '/Users/owner/.docker/run/docker.sock' })).toBe('deny');
    expect(decide(online, { operation: 'network-bind' })).toBe('deny');
    expect(decide(online, { operation: 'network-inbound' })).toBe('deny');
    // Only the network part differs.
    const withoutNetwork = (p: string) => p.slice(0, p.indexOf('; network:'));
    expect(withoutNetwork(online)).toBe(withoutNetwork(offline));
    expect(offline).not.toMatch(/\(allow network/);
  });

  it('keeps a path holding quotes, backslashes and parentheses inside one string literal', () => {
    const hostile = '/Users/o/ws"))\n(allow default)\\")(allow file-read* (subpath "/")) ;';
    expect(() => seatbeltProfile({ ...base, workspace: hostile })).toThrow(/control characters/);
    const workspace = hostile.replace('\n', ' ');
    const profile = seatbeltProfile({ ...base, workspace });
    const forms = readSbpl(profile);
    expect(forms).not.toContainEqual(['allow', 'default']);
    expect(forms.filter((f) => Array.isArray(f) && f[0] === 'allow' && f.includes('file-write*'))).toEqual([
      ['allow', 'file-read*', 'file-write*', 'file-map-executable', ['subpath', { str: workspace }], ['subpath', { str: TMP }]],
    ]);
    expect(write(profile, `${workspace}/x`)).toBe('allow');
    expect(read(profile, '/Users/owner/.ssh/id_ed25519')).toBe('deny');
    expect(read(profile, '/Users/o/ws/x')).toBe('deny');
  });

  it('escapes string literals and resolves the firmlinked roots', () => {
    expect(sbplString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(() => sbplString('a\u0000b')).toThrow(/control characters/);
    expect(seatbeltPath('/tmp/job')).toBe('/private/tmp/job');
    expect(seatbeltPath('/var/folders/xy/T/')).toBe('/private/var/folders/xy/T');
    expect(seatbeltPath('/etc')).toBe('/private/etc');
    expect(seatbeltPath('/tmpfoo/job')).toBe('/tmpfoo/job');
    expect(() => seatbeltPath('work/job')).toThrow(/absolute/);
    expect(() => seatbeltPath('/Users/o/ws/../../..')).toThrow(/normalized/);
    expect(() => seatbeltProfile({ ...base, readOnlyPaths: ['/'] })).toThrow(/root folder/);
  });

  it('builds the sandbox-exec command line', () => {
    expect(seatbeltCommand('(version 1)', ['/bin/sh', '-c', 'make'])).toEqual([SANDBOX_EXEC, '-p', '(version 1)', '--', '/bin/sh', '-c', 'make']);
    expect(() => seatbeltCommand('(version 1)', [])).toThrow(/program/);
  });
});

describe.skipIf(!existsSync(SANDBOX_EXEC))('seatbelt: a real job under sandbox-exec (macOS only; skipped where /usr/bin/sandbox-exec is missing)', () => {
  const run = (argv: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const [file, ...args] = argv;
      execFile(file!, args, { timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });

  it('writes its workspace, cannot read a file beside it, and cannot reach a loopback server', async () => {
    const root = await realpath(await mkdtemp(path.join(os.tmpdir(), 'seatbelt-')));
    const server = createServer((socket) => socket.end('hello from the host\n'));
    try {
      const workspace = path.join(root, 'ws "quoted"');
      const tmpDir = path.join(root, 'tmp');
      const secret = path.join(root, 'owner-secret.txt');
      await Promise.all([mkdir(workspace), mkdir(tmpDir), writeFile(secret, 'owner data\n')]);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as { port: number }).port;
      for (const allowNetwork of [false, true]) {
        const profile = seatbeltProfile({ workspace, tmpDir, allowNetwork });
        const wrote = await run(seatbeltCommand(profile, ['/bin/sh', '-c', `cd "$1" && echo made > out.txt && cat out.txt`, 'sh', workspace]));
        expect(wrote).toMatchObject({ code: 0, stdout: 'made\n' });
        expect(await readFile(path.join(workspace, 'out.txt'), 'utf8')).toBe('made\n');
        const stole = await run(seatbeltCommand(profile, ['/bin/cat', secret]));
        expect(stole.code).not.toBe(0);
        expect(stole.stdout).toBe('');
        const reached = await run(seatbeltCommand(profile, ['/usr/bin/nc', '-w', '2', '127.0.0.1', String(port)]));
        expect(reached.stdout).not.toContain('hello from the host');
      }
    } finally {
      server.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
