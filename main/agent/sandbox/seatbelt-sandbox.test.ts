// The macOS backend as data: what it would start for a job (sandbox-exec runs only on macOS).
import { describe, expect, it } from 'vitest';
import { DEFAULT_JOB_LIMITS } from '../../../protocol/limits';
import { SANDBOX_EXEC } from './seatbelt';
import { seatbeltSandbox } from './seatbelt-sandbox';

const folders = { workspace: '/Users/bob/.cmd-executor/worker/jobs/j1/workspace', home: '/Users/bob/.cmd-executor/worker/jobs/j1/home', tmp: '/Users/bob/.cmd-executor/worker/jobs/j1/tmp' };

describe('the Seatbelt backend', () => {
  it('starts each command under sandbox-exec with a profile that opens only the job folders, network as the job may', () => {
    const offline = seatbeltSandbox.launch('/bin/sh', ['-c', 'make'], { folders, network: false, limits: DEFAULT_JOB_LIMITS });
    expect(offline.file).toBe(SANDBOX_EXEC);
    expect(offline.args.slice(-4)).toEqual(['--', '/bin/sh', '-c', 'make']);
    expect(offline.cwd).toBe(folders.workspace);
    const profile = offline.args[offline.args.indexOf('-p') + 1]!;
    expect(profile).toContain('(deny default)');
    expect(profile).toContain(folders.workspace);
    expect(profile).not.toContain('/Users/bob/.cmd-executor/worker/state');
    const online = seatbeltSandbox.launch('/bin/sh', ['-c', 'make'], { folders, network: true, limits: DEFAULT_JOB_LIMITS });
    expect(online.args[online.args.indexOf('-p') + 1]).not.toBe(profile);
    // HOME must be writable: it lives in the temp folder the profile opens.
    expect(seatbeltSandbox.visibleFolders({ folders, network: false, limits: DEFAULT_JOB_LIMITS }).home).toBe(folders.tmp);
  });
});
