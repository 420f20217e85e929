// The macOS backend: each command starts under sandbox-exec with the Seatbelt profile seatbelt.ts generates for
// its job (deny by default; the job's own folders read-write; the system read-only; network per policy). The job
// keeps the owner's uid and process group (Seatbelt has no PID namespace), so the agent signals and measures it
// by its process group as without a sandbox. Runs only on macOS: chooseSandbox probes it before use.
import type { Sandbox } from './index';
import { SANDBOX_EXEC, seatbeltCommand, seatbeltProfile } from './seatbelt';

export const seatbeltSandbox: Sandbox = {
  kind: 'seatbelt',
  // The profile opens two folders to writes: HOME lives in the job's temp folder.
  visibleFolders: (job) => ({ workspace: job.folders.workspace, home: job.folders.tmp, tmp: job.folders.tmp }),
  launch: (file, args, job) => {
    const profile = seatbeltProfile({ workspace: job.folders.workspace, tmpDir: job.folders.tmp, allowNetwork: job.network });
    const [command, ...rest] = seatbeltCommand(profile, [file, ...args]);
    return { file: command!, args: rest, cwd: job.folders.workspace, contained: false };
  },
};

export const seatbeltAvailable = (exists: (file: string) => boolean) => exists(SANDBOX_EXEC);
