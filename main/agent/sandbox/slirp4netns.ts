// Network for a job that may use it, as rootless Podman gives it: the job gets a network namespace of its own
// (made by `unshare` around bwrap: bwrap's own would sit under the nested user namespace its --dev makes, where
// slirp4netns may not join it), and slirp4netns, outside it, carries its traffic in user mode through the host's
// sockets. --disable-host-loopback keeps the host's 127.0.0.1 out of reach (its own loopback is its own), and
// slirp4netns, which parses the job's packets, runs under a seccomp filter (its --enable-sandbox needs root in its
// own namespace, as under Podman: run by a plain user it fails with `setegid(0)`).
// bwrap holds the job (--block-fd) until slirp4netns says the network is up; slirp4netns ends with the sandbox,
// and with the agent too (its --exit-fd is a pipe from the agent, closed by the kernel if the agent dies).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import type { Hold } from './index';

const SLIRP4NETNS_CANDIDATES = ['/usr/bin/slirp4netns', '/usr/local/bin/slirp4netns', '/bin/slirp4netns'];
const UNSHARE = '/usr/bin/unshare';
/** The address slirp4netns forwards to the host's resolver (whatever it is, loopback included). */
export const SLIRP_DNS = '10.0.2.3';
/** bwrap's fds: it writes its --info-fd once it runs (in the new namespaces), then waits on --block-fd. */
const INFO_FD = 3;
const BLOCK_FD = 4;
/** Past this the network counts as failed (it takes tens of ms). */
const READY_TIMEOUT_MS = 10_000;

/** slirp4netns, where `unshare` (util-linux) is there too; null where either is missing. */
export function findSlirp4netns(): string | null {
  if (!existsSync(UNSHARE)) return null;
  return SLIRP4NETNS_CANDIDATES.find((file) => existsSync(file)) ?? null;
}

/** The command line that runs `bwrap args` in a new user and network namespace, holding the job until released. */
export function networkedCommand(bwrap: string, args: readonly string[]): { file: string; args: string[] } {
  return {
    file: UNSHARE,
    args: ['--user', '--map-current-user', '--net', '--', bwrap, '--info-fd', String(INFO_FD), '--block-fd', String(BLOCK_FD), ...args],
  };
}

function ended(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    stream.once('end', () => resolve(text));
    stream.once('close', () => resolve(text));
  });
}

/**
 * Connects the sandbox `child` (started from networkedCommand) to the network, then lets its job start; `gone`
 * is told when slirp4netns has exited (it is killed when `child` exits).
 */
async function connect(slirp4netns: string, child: ChildProcess, gone: (ended: Promise<void>) => void): Promise<void> {
  const info = await ended(child.stdio[INFO_FD] as NodeJS.ReadableStream);
  if (!info.trim() || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    throw new Error('the sandbox ended before its network was set up');
  }
  // The sandbox's first process, waiting on --block-fd: it has left the leader's session and would not die with it
  // before it is released, so a failure here kills it by its pid.
  const held = (JSON.parse(info) as { 'child-pid': number })['child-pid'];
  try {
    await startSlirp(slirp4netns, child, gone);
  } catch (err) {
    try {
      process.kill(held, 'SIGKILL');
    } catch {
      // already gone
    }
    throw err;
  }
  const block = child.stdio[BLOCK_FD] as NodeJS.WritableStream;
  block.end('1');
}

/** Starts slirp4netns on the network namespace of `child` and waits until it is up; it is killed when `child` exits. */
async function startSlirp(slirp4netns: string, child: ChildProcess, gone: (ended: Promise<void>) => void): Promise<void> {
  const slirp = spawn(
    slirp4netns,
    ['--configure', '--mtu=65520', '--disable-host-loopback', '--enable-seccomp', '--ready-fd=3', '--exit-fd=4', String(child.pid!), 'tap0'],
    { env: {}, stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  gone(new Promise((resolve) => slirp.once('close', () => resolve()).once('error', () => resolve())));
  const end = () => slirp.kill('SIGKILL');
  if (child.exitCode !== null || child.signalCode !== null) end();
  else child.once('exit', end);
  try {
    if (slirp.pid !== undefined) os.setPriority(slirp.pid, 19); // the job's traffic, at the job's priority
  } catch {
    // it already exited: the wait below says why
  }
  let stderr = '';
  slirp.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      (slirp.stdio[3] as NodeJS.ReadableStream).once('data', () => resolve());
      slirp.once('error', reject);
      slirp.once('close', () => reject(new Error(`slirp4netns: ${stderr.trim().split('\n').pop() || 'exited'}`)));
      timer = setTimeout(() => reject(new Error(`slirp4netns was not ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    });
  } catch (err) {
    end();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The hold of a networked launch: bwrap gets the info and block pipes; slirp4netns ends with it. */
export function networkHold(slirp4netns: string): Hold {
  let slirpGone: Promise<void> = Promise.resolve();
  return {
    pipes: 2,
    release: (child) => connect(slirp4netns, child, (ended) => (slirpGone = ended)),
    ended: () => slirpGone,
  };
}
