// The Windows Job Object as data: the limit structure's values, its memory layout against the offsets of the
// Windows x64 headers (koffi lays it out the same way on any 64-bit OS), the Win32 declarations parsed by koffi, and
// the suspend rounds with a scripted process list. The bindings themselves run only on Windows (last block).
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import koffi from 'koffi';
import {
  IDLE_PRIORITY_CLASS,
  JOB_OBJECT_LIMIT,
  WindowsJob,
  extendedLimitInformation,
  freezeInRounds,
  jobObjectTypes,
  limitOfMessage,
  processIdsFromList,
  win32Declarations,
} from './windows-job';

const GiB = 1024 ** 3;
const ALWAYS = JOB_OBJECT_LIMIT.KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT.DIE_ON_UNHANDLED_EXCEPTION | JOB_OBJECT_LIMIT.PRIORITY_CLASS;

describe('extendedLimitInformation', () => {
  it('always kills on close, keeps idle priority and ends crashed processes, with no limit flag when none is given', () => {
    const info = extendedLimitInformation({});
    expect(info.BasicLimitInformation.LimitFlags).toBe(0x2420);
    expect(info.BasicLimitInformation.LimitFlags).toBe(ALWAYS);
    expect(info.BasicLimitInformation.PriorityClass).toBe(IDLE_PRIORITY_CLASS);
    expect(info.BasicLimitInformation.ActiveProcessLimit).toBe(0);
    expect(info.JobMemoryLimit).toBe(0);
    expect(info.ProcessMemoryLimit).toBe(0);
  });

  it('ORs in a flag for each limit given and puts its value in the matching field', () => {
    const all = extendedLimitInformation({ memoryBytes: 2 * GiB, processMemoryBytes: GiB / 2, processes: 64 });
    expect(all.BasicLimitInformation.LimitFlags).toBe(0x2728);
    expect(all.BasicLimitInformation.ActiveProcessLimit).toBe(64);
    expect(all.JobMemoryLimit).toBe(2 * GiB);
    expect(all.ProcessMemoryLimit).toBe(GiB / 2);

    expect(extendedLimitInformation({ memoryBytes: 512 * 1024 ** 2 }).BasicLimitInformation.LimitFlags).toBe(ALWAYS | JOB_OBJECT_LIMIT.JOB_MEMORY);
    expect(extendedLimitInformation({ processMemoryBytes: GiB }).BasicLimitInformation.LimitFlags).toBe(ALWAYS | JOB_OBJECT_LIMIT.PROCESS_MEMORY);
    expect(extendedLimitInformation({ processes: 1 }).BasicLimitInformation.LimitFlags).toBe(ALWAYS | JOB_OBJECT_LIMIT.ACTIVE_PROCESS);
  });

  it('refuses limits the kernel would read as "unlimited" or cut short', () => {
    for (const bad of [{ processes: 0 }, { processes: -1 }, { processes: 2 ** 32 }, { memoryBytes: 1.5 }, { processMemoryBytes: 0 }, { memoryBytes: Number.NaN }]) {
      expect(() => extendedLimitInformation(bad)).toThrow(RangeError);
    }
  });
});

describe.skipIf(koffi.sizeof('uintptr_t') !== 8)('the limit structure in memory (64-bit layout: skipped on a 32-bit Node)', () => {
  it('matches JOBOBJECT_EXTENDED_LIMIT_INFORMATION of the Windows x64 headers', () => {
    const { EXTENDED_LIMIT_INFORMATION, BASIC_UI_RESTRICTIONS } = jobObjectTypes(koffi);
    expect(koffi.sizeof(EXTENDED_LIMIT_INFORMATION)).toBe(144);
    expect(koffi.sizeof(BASIC_UI_RESTRICTIONS)).toBe(4);
    const buffer = Buffer.alloc(144);
    koffi.encode(buffer, EXTENDED_LIMIT_INFORMATION, extendedLimitInformation({ memoryBytes: 3 * GiB, processMemoryBytes: GiB, processes: 200 }));
    expect(buffer.readUInt32LE(16)).toBe(0x2728); // BasicLimitInformation.LimitFlags
    expect(buffer.readUInt32LE(40)).toBe(200); // BasicLimitInformation.ActiveProcessLimit
    expect(buffer.readUInt32LE(56)).toBe(IDLE_PRIORITY_CLASS); // BasicLimitInformation.PriorityClass
    expect(buffer.readBigUInt64LE(112)).toBe(BigInt(GiB)); // ProcessMemoryLimit
    expect(buffer.readBigUInt64LE(120)).toBe(BigInt(3 * GiB)); // JobMemoryLimit
    const port = Buffer.alloc(16);
    koffi.encode(port, jobObjectTypes(koffi).ASSOCIATE_COMPLETION_PORT, { CompletionKey: 0, CompletionPort: 0x1234n });
    expect(port.readBigUInt64LE(8)).toBe(0x1234n); // JOBOBJECT_ASSOCIATE_COMPLETION_PORT.CompletionPort
    const everythingElse = Buffer.concat([buffer.subarray(0, 16), buffer.subarray(20, 40), buffer.subarray(44, 56), buffer.subarray(60, 112), buffer.subarray(128)]);
    expect(everythingElse.equals(Buffer.alloc(everythingElse.length))).toBe(true);
  });
});

describe('win32Declarations', () => {
  it('declares every function the job needs, and koffi parses each one', () => {
    const declarations = win32Declarations(jobObjectTypes(koffi));
    expect(Object.keys(declarations.kernel32).sort()).toEqual([
      'AssignProcessToJobObject',
      'CloseHandle',
      'CreateIoCompletionPort',
      'CreateJobObjectW',
      'GetLastError',
      'GetQueuedCompletionStatus',
      'OpenProcess',
      'QueryInformationJobObject',
      'SetInformationJobObject',
      'TerminateJobObject',
    ]);
    expect(Object.keys(declarations.ntdll).sort()).toEqual(['NtResumeProcess', 'NtSuspendProcess']);
    for (const functions of Object.values(declarations)) {
      for (const [name, [result, args]] of Object.entries(functions)) {
        const proto = koffi.type(koffi.proto('__stdcall', name, result, [...args]));
        expect([name, proto.proto?.arguments.length]).toEqual([name, args.length]);
      }
    }
  });
});

describe('limitOfMessage', () => {
  it('names the limit of each JOB_OBJECT_MSG_* that reports one, and nothing for the others', () => {
    expect(limitOfMessage(3)).toBe('processes'); // ACTIVE_PROCESS_LIMIT
    expect(limitOfMessage(9)).toBe('processMemoryBytes'); // PROCESS_MEMORY_LIMIT
    expect(limitOfMessage(10)).toBe('memoryBytes'); // JOB_MEMORY_LIMIT
    for (const other of [1, 2, 4, 6, 7, 8, 11, 0]) expect(limitOfMessage(other)).toBeNull(); // new process, exit...
  });
});

describe('processIdsFromList', () => {
  it('reads JOBOBJECT_BASIC_PROCESS_ID_LIST on 64- and 32-bit Windows', () => {
    const wide = Buffer.alloc(8 + 3 * 8);
    wide.writeUInt32LE(2, 0);
    wide.writeUInt32LE(2, 4);
    wide.writeBigUInt64LE(4242n, 8);
    wide.writeBigUInt64LE(17n, 16);
    expect(processIdsFromList(wide, 8)).toEqual([4242, 17]);
    const narrow = Buffer.alloc(8 + 2 * 4);
    narrow.writeUInt32LE(2, 4);
    narrow.writeUInt32LE(8, 8);
    narrow.writeUInt32LE(12, 12);
    expect(processIdsFromList(narrow, 4)).toEqual([8, 12]);
  });

  it('never reads past the buffer, whatever the count says', () => {
    const lying = Buffer.alloc(8 + 8);
    lying.writeUInt32LE(1000, 4);
    lying.writeBigUInt64LE(5n, 8);
    expect(processIdsFromList(lying, 8)).toEqual([5]);
  });
});

describe('freezeInRounds', () => {
  it('also freezes what the job started while the previous round was freezing, and skips what exited', () => {
    // 10 starts 11 before it is frozen; 11 starts 12; 13 exits between the listing and the freeze.
    const running = new Set([10, 13]);
    const frozen = new Set<number>();
    const children: Record<number, number> = { 10: 11, 11: 12 };
    const listings: number[][] = [];
    const result = freezeInRounds(
      () => {
        const ids = [...running];
        listings.push(ids);
        return ids;
      },
      (pid) => {
        if (pid === 13) {
          running.delete(13);
          return null;
        }
        const child = children[pid];
        if (child !== undefined) running.add(child);
        frozen.add(pid);
        return `handle-${pid}`;
      },
    );
    expect(result).toEqual({ frozen: ['handle-10', 'handle-11', 'handle-12'], complete: true });
    expect(listings).toEqual([[10, 13], [10, 11], [10, 11, 12], [10, 11, 12]]);
    expect([...running].every((pid) => frozen.has(pid))).toBe(true);
  });

  it('gives up on a job that keeps starting processes, returning what it froze so it can be resumed', () => {
    let next = 100;
    const result = freezeInRounds(
      () => [next++],
      (pid) => pid,
    );
    expect(result.complete).toBe(false);
    expect(result.frozen).toEqual(Array.from({ length: 32 }, (_, i) => 100 + i));
  });
});

describe('loading', () => {
  it.skipIf(process.platform === 'win32')('imports without loading koffi, and refuses to create a job off Windows', async () => {
    const script = [
      "await import('./main/agent/sandbox/windows-job.ts');",
      "const { createRequire } = await import('node:module');",
      "const cache = createRequire(import.meta.url).cache;",
      "console.log(Object.keys(cache).filter((file) => file.includes('koffi')).length);",
    ].join('\n');
    const loaded = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../../..', import.meta.url)) }, (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(loaded.trim()).toBe('0');
    expect(() => WindowsJob.create({ processes: 4 })).toThrow(/only on Windows/);
  });
});

describe.skipIf(process.platform !== 'win32')('WindowsJob, for real (Windows only: skipped elsewhere)', () => {
  it('suspends, resumes, limits, and ends a real process tree', async () => {
    const child = spawn('cmd.exe', ['/d', '/c', 'ping -n 60 127.0.0.1 >nul'], { stdio: 'ignore', windowsHide: true });
    const job = WindowsJob.create({ processes: 4, memoryBytes: 256 * 1024 ** 2 });
    try {
      job.assign(child.pid!);
      const deadline = Date.now() + 10_000;
      while (job.processIds().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(job.processIds()).toContain(child.pid);
      expect(job.processIds().length).toBeGreaterThanOrEqual(2); // cmd.exe and ping
      job.suspend();
      job.resume();
      const exited = once(child, 'exit');
      job.terminate(7);
      expect((await exited)[0]).toBe(7);
      while (job.processIds().length > 0 && Date.now() < deadline + 10_000) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(job.processIds()).toEqual([]);
      expect(job.limitsReached()).toEqual([]);
    } finally {
      job.dispose();
    }
  });

  it('reports the process limit when the command cannot start its child', async () => {
    // Two children one after the other: even if the first started before the assign (see the module's comment),
    // the second is refused.
    const child = spawn('cmd.exe', ['/d', '/c', 'ping -n 2 127.0.0.1 >nul & ping -n 2 127.0.0.1 >nul'], { stdio: 'ignore', windowsHide: true });
    const job = WindowsJob.create({ processes: 1 });
    try {
      job.assign(child.pid!);
      await once(child, 'exit');
      expect(job.limitsReached()).toEqual(['processes']);
    } finally {
      job.dispose();
    }
  });

  it('ends everything in the job when it is closed', async () => {
    const child = spawn('cmd.exe', ['/d', '/c', 'ping -n 60 127.0.0.1 >nul'], { stdio: 'ignore', windowsHide: true });
    const job = WindowsJob.create({});
    job.assign(child.pid!);
    const exited = once(child, 'exit');
    job.dispose();
    expect((await exited)[0]).not.toBe(0);
  });
});
