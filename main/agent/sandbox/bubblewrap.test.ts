// The bwrap command line as data: what the job is shown, and what it is not.
import { describe, expect, it } from 'vitest';
import { DEFAULT_JOB_LIMITS } from '../../../protocol/api';
import { bubblewrapArgs } from './bubblewrap';

const folders = { workspace: '/w/jobs/j.1/workspace', home: '/w/jobs/j.1/home', tmp: '/w/jobs/j.1/tmp' };
const args = (network: boolean, limits = DEFAULT_JOB_LIMITS) =>
  bubblewrapArgs({ folders, network, limits }, '/bin/sh', ['-c', 'make'], ['--ro-bind', '/usr', '/usr'], '/w/state/sandbox');
const pairs = (list: string[], flag: string) => list.flatMap((arg, i) => (arg === flag ? [`${list[i + 1]} ${list[i + 2]}`] : []));

describe('bubblewrapArgs', () => {
  it('gives the job new namespaces, no network unless allowed, and kills it with the agent', () => {
    const off = args(false);
    for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--die-with-parent', '--new-session']) {
      expect(off).toContain(flag);
    }
    expect(args(true)).not.toContain('--unshare-net');
  });

  it('binds only its own three folders read-write, and /etc files read-only (resolv.conf only with network)', () => {
    expect(pairs(args(false), '--bind')).toEqual([`${folders.workspace} /workspace`, `${folders.home} /home/job`, `${folders.tmp} /tmp`]);
    expect(pairs(args(false), '--ro-bind')).toEqual(['/usr /usr', '/w/state/sandbox/passwd /etc/passwd', '/w/state/sandbox/group /etc/group']);
    expect(pairs(args(false), '--ro-bind-try').every((pair) => /^\/etc\/\S+ \/etc\/\S+$/.test(pair))).toBe(true);
    expect(args(false)).not.toContain('/etc/resolv.conf');
    expect(args(true)).toContain('/etc/resolv.conf');
  });

  it('sets the rlimits inside the sandbox, no file past the disk cap, then runs the command', () => {
    const list = args(false, { ...DEFAULT_JOB_LIMITS, processes: 64, openFiles: 256, fileSizeMiB: 100, diskMiB: 10 });
    const tail = list.slice(list.indexOf('/usr/bin/prlimit'));
    expect(tail).toEqual(['/usr/bin/prlimit', '--nproc=64', '--nofile=256', `--fsize=${10 * 1024 * 1024}`, '--core=0', '--', '/bin/sh', '-c', 'make']);
  });
});
