/**
 * Windows backend: one Job Object per job, reached through koffi (an FFI with prebuilt binaries, so no compiler on
 * the user's PC). The bindings run for real only on Windows; here (Linux CI) their declarations, the limit
 * structure's values and its memory layout are tested as data, and koffi is never loaded at import.
 *
 * Guarantees, for every process assigned to the job and everything those start afterwards (no breakaway allowed):
 * - kill on close: when the agent closes the job, or dies (even killed by the Task Manager), the kernel ends every
 *   process of the job, daemons and detached children included;
 * - limits: committed memory of the whole job and of each process, processes alive at once; the idle priority
 *   class for all of them (a job cannot raise it); a crash ends the process instead of waiting on an error dialog;
 * - no clipboard, no desktop switching, no system-wide settings, no handles of other processes' windows (UI limits);
 * - suspend and resume of the whole job (`NtSuspendProcess` on each member, in rounds until no new one appears);
 * - which limit a job hit: the kernel posts it to the job's completion port, read by `limitsReached()`.
 *
 * Does not guarantee:
 * - file system or network isolation: the job runs as the PC's owner and sees what they see (AppContainer process
 *   creation would add that; it is not built yet);
 * - what runs before `assign`: Node cannot start a process suspended, so a program the command starts within its
 *   first instants, before the agent assigns the command's process, is outside the job;
 * - open-file and file-size limits: Job Objects have none; the workspace disk cap is watched by the runner.
 */
import { createRequire } from 'node:module';
import type * as Koffi from 'koffi';

type KoffiModule = typeof Koffi;

/** Limits from the worker's policy (protocol/ holds the defaults); absent means unlimited. */
export interface JobObjectLimits {
  /** Committed memory of all the job's processes together, in bytes. */
  memoryBytes?: number;
  /** Committed memory of any one process, in bytes. */
  processMemoryBytes?: number;
  /** Processes alive at once. */
  processes?: number;
}

/** `JOB_OBJECT_LIMIT_*` flags of winnt.h that we set. */
export const JOB_OBJECT_LIMIT = {
  ACTIVE_PROCESS: 0x0000_0008,
  PRIORITY_CLASS: 0x0000_0020,
  PROCESS_MEMORY: 0x0000_0100,
  JOB_MEMORY: 0x0000_0200,
  DIE_ON_UNHANDLED_EXCEPTION: 0x0000_0400,
  KILL_ON_JOB_CLOSE: 0x0000_2000,
} as const;

export const IDLE_PRIORITY_CLASS = 0x0000_0040;

/** `JOB_OBJECT_UILIMIT_*`: handles, clipboard read and write, system parameters, display, atoms, desktop, exit. */
export const JOB_OBJECT_UILIMIT_ALL = 0x0000_00ff;

/** `JOBOBJECTINFOCLASS` values. */
const JobObjectInfoClass = {
  BasicProcessIdList: 3,
  BasicUIRestrictions: 4,
  AssociateCompletionPortInformation: 7,
  ExtendedLimitInformation: 9,
} as const;

/** `JOB_OBJECT_MSG_*` the kernel posts when a limit stops a process, by the limit it names. */
const LIMIT_MESSAGES: Readonly<Record<number, keyof JobObjectLimits>> = {
  3: 'processes', // JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT
  9: 'processMemoryBytes', // JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT
  10: 'memoryBytes', // JOB_OBJECT_MSG_JOB_MEMORY_LIMIT
};

/** Which of our limits a completion-port message reports, or null for the other messages (process start, exit...). */
export function limitOfMessage(messageId: number): keyof JobObjectLimits | null {
  return LIMIT_MESSAGES[messageId] ?? null;
}

/** `OpenProcess` access rights: assigning needs SET_QUOTA and TERMINATE; suspending needs SUSPEND_RESUME. */
const PROCESS_TERMINATE = 0x0001;
const PROCESS_SET_QUOTA = 0x0100;
const PROCESS_SUSPEND_RESUME = 0x0800;
const ERROR_MORE_DATA = 234;
/** `INVALID_HANDLE_VALUE`: CreateIoCompletionPort's "no file, just a port". */
const INVALID_HANDLE_VALUE = -1;

/** `JOBOBJECT_BASIC_LIMIT_INFORMATION`, field by field. */
export interface BasicLimitInformation {
  PerProcessUserTimeLimit: number;
  PerJobUserTimeLimit: number;
  LimitFlags: number;
  MinimumWorkingSetSize: number;
  MaximumWorkingSetSize: number;
  ActiveProcessLimit: number;
  Affinity: number;
  PriorityClass: number;
  SchedulingClass: number;
}

/** `JOBOBJECT_EXTENDED_LIMIT_INFORMATION`, field by field (what `SetInformationJobObject` receives). */
export interface ExtendedLimitInformation {
  BasicLimitInformation: BasicLimitInformation;
  IoInfo: Record<(typeof IO_COUNTERS_FIELDS)[number], number>;
  ProcessMemoryLimit: number;
  JobMemoryLimit: number;
  PeakProcessMemoryUsed: number;
  PeakJobMemoryUsed: number;
}

const IO_COUNTERS_FIELDS = [
  'ReadOperationCount',
  'WriteOperationCount',
  'OtherOperationCount',
  'ReadTransferCount',
  'WriteTransferCount',
  'OtherTransferCount',
] as const;

const DWORD_MAX = 0xffff_ffff;

function checkedLimit(name: keyof JobObjectLimits, value: number | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be a whole number from 1 to ${max}, not ${value}`);
  }
  return value;
}

/** The Job Object's limit structure for our limits: the pure part, tested as data. */
export function extendedLimitInformation(limits: JobObjectLimits): ExtendedLimitInformation {
  const memoryBytes = checkedLimit('memoryBytes', limits.memoryBytes, Number.MAX_SAFE_INTEGER);
  const processMemoryBytes = checkedLimit('processMemoryBytes', limits.processMemoryBytes, Number.MAX_SAFE_INTEGER);
  const processes = checkedLimit('processes', limits.processes, DWORD_MAX);
  let flags = JOB_OBJECT_LIMIT.KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT.DIE_ON_UNHANDLED_EXCEPTION | JOB_OBJECT_LIMIT.PRIORITY_CLASS;
  if (memoryBytes !== undefined) flags |= JOB_OBJECT_LIMIT.JOB_MEMORY;
  if (processMemoryBytes !== undefined) flags |= JOB_OBJECT_LIMIT.PROCESS_MEMORY;
  if (processes !== undefined) flags |= JOB_OBJECT_LIMIT.ACTIVE_PROCESS;
  return {
    BasicLimitInformation: {
      PerProcessUserTimeLimit: 0,
      PerJobUserTimeLimit: 0,
      LimitFlags: flags,
      MinimumWorkingSetSize: 0,
      MaximumWorkingSetSize: 0,
      ActiveProcessLimit: processes ?? 0,
      Affinity: 0,
      PriorityClass: IDLE_PRIORITY_CLASS,
      SchedulingClass: 0,
    },
    IoInfo: Object.fromEntries(IO_COUNTERS_FIELDS.map((field) => [field, 0])) as ExtendedLimitInformation['IoInfo'],
    ProcessMemoryLimit: processMemoryBytes ?? 0,
    JobMemoryLimit: memoryBytes ?? 0,
    PeakProcessMemoryUsed: 0,
    PeakJobMemoryUsed: 0,
  };
}

/**
 * The process ids in a `JOBOBJECT_BASIC_PROCESS_ID_LIST` buffer: two DWORD counts, then ULONG_PTR ids from offset 8
 * (pointer-aligned on both 32- and 64-bit Windows).
 */
export function processIdsFromList(buffer: Buffer, pointerSize: 4 | 8): number[] {
  const listed = buffer.readUInt32LE(4);
  const fits = Math.floor((buffer.length - 8) / pointerSize);
  return Array.from({ length: Math.min(listed, fits) }, (_, i) =>
    pointerSize === 8 ? Number(buffer.readBigUInt64LE(8 + i * 8)) : buffer.readUInt32LE(8 + i * 4),
  );
}

/** Past this many rounds a job that keeps starting processes while we freeze it is reported, not chased. */
const FREEZE_ROUNDS = 32;

/**
 * Freezes every process of a job, in rounds: a process started by one not frozen yet shows up in the next listing.
 * Complete when a round finds none it has not tried. `frozen` holds what `freeze` returned for each frozen process
 * (its handle, held until the resume so the pid cannot be reused meanwhile); a process that exited in between is
 * skipped. Incomplete means the job kept starting processes for FREEZE_ROUNDS rounds.
 */
export function freezeInRounds<Frozen>(
  listIds: () => readonly number[],
  freeze: (pid: number) => Frozen | null,
): { frozen: Frozen[]; complete: boolean } {
  const tried = new Set<number>();
  const frozen: Frozen[] = [];
  for (let round = 0; round < FREEZE_ROUNDS; round++) {
    const fresh = listIds().filter((pid) => !tried.has(pid));
    if (fresh.length === 0) return { frozen, complete: true };
    for (const pid of fresh) {
      tried.add(pid);
      const handle = freeze(pid);
      if (handle !== null) frozen.push(handle);
    }
  }
  return { frozen, complete: false };
}

/** The koffi types of the structures above, laid out as the Windows headers do (checked against them in the tests). */
export function jobObjectTypes(koffi: Pick<KoffiModule, 'pointer' | 'opaque' | 'struct' | 'out'>) {
  const HANDLE = koffi.pointer(koffi.opaque());
  const IO_COUNTERS = koffi.struct(Object.fromEntries(IO_COUNTERS_FIELDS.map((field) => [field, 'uint64_t'])));
  const BASIC_LIMIT_INFORMATION = koffi.struct({
    PerProcessUserTimeLimit: 'int64_t',
    PerJobUserTimeLimit: 'int64_t',
    LimitFlags: 'uint32_t',
    MinimumWorkingSetSize: 'size_t',
    MaximumWorkingSetSize: 'size_t',
    ActiveProcessLimit: 'uint32_t',
    Affinity: 'uintptr_t',
    PriorityClass: 'uint32_t',
    SchedulingClass: 'uint32_t',
  });
  const EXTENDED_LIMIT_INFORMATION = koffi.struct({
    BasicLimitInformation: BASIC_LIMIT_INFORMATION,
    IoInfo: IO_COUNTERS,
    ProcessMemoryLimit: 'size_t',
    JobMemoryLimit: 'size_t',
    PeakProcessMemoryUsed: 'size_t',
    PeakJobMemoryUsed: 'size_t',
  });
  const BASIC_UI_RESTRICTIONS = koffi.struct({ UIRestrictionsClass: 'uint32_t' });
  const ASSOCIATE_COMPLETION_PORT = koffi.struct({ CompletionKey: 'uintptr_t', CompletionPort: 'uintptr_t' });
  const OUT_UINT32 = koffi.out(koffi.pointer('uint32_t'));
  const OUT_UINTPTR = koffi.out(koffi.pointer('uintptr_t'));
  return { HANDLE, EXTENDED_LIMIT_INFORMATION, BASIC_UI_RESTRICTIONS, ASSOCIATE_COMPLETION_PORT, OUT_UINT32, OUT_UINTPTR };
}

type JobObjectTypes = ReturnType<typeof jobObjectTypes>;

/** One Win32 declaration in koffi's notation: result type and argument types. */
type TypeSpec = Parameters<KoffiModule['out']>[0];
type Declaration = readonly [result: TypeSpec, args: readonly TypeSpec[]];

/** Every function we call, by DLL: the tests have koffi parse each one (`koffi.proto`) on any OS. */
export function win32Declarations({ HANDLE, OUT_UINT32, OUT_UINTPTR }: Pick<JobObjectTypes, 'HANDLE' | 'OUT_UINT32' | 'OUT_UINTPTR'>) {
  return {
    kernel32: {
      CreateJobObjectW: [HANDLE, ['void *', 'const char16_t *']],
      SetInformationJobObject: ['bool', [HANDLE, 'int', 'void *', 'uint32_t']],
      QueryInformationJobObject: ['bool', [HANDLE, 'int', 'void *', 'uint32_t', 'uint32_t *']],
      AssignProcessToJobObject: ['bool', [HANDLE, HANDLE]],
      OpenProcess: [HANDLE, ['uint32_t', 'bool', 'uint32_t']],
      TerminateJobObject: ['bool', [HANDLE, 'uint32_t']],
      CloseHandle: ['bool', [HANDLE]],
      GetLastError: ['uint32_t', []],
      // The file handle is INVALID_HANDLE_VALUE (-1), hence an integer rather than a HANDLE.
      CreateIoCompletionPort: [HANDLE, ['intptr_t', HANDLE, 'uintptr_t', 'uint32_t']],
      GetQueuedCompletionStatus: ['bool', [HANDLE, OUT_UINT32, OUT_UINTPTR, OUT_UINTPTR, 'uint32_t']],
    },
    ntdll: {
      NtSuspendProcess: ['int32_t', [HANDLE]],
      NtResumeProcess: ['int32_t', [HANDLE]],
    },
  } as const satisfies Record<string, Partial<Record<keyof Win32, Declaration>>>;
}

type Declarations = ReturnType<typeof win32Declarations>;
type DeclaredName = { [Dll in keyof Declarations]: keyof Declarations[Dll] }[keyof Declarations];
type KoffiFunction = ReturnType<Koffi.LibraryHandle['func']>;

/** A kernel handle as koffi hands it over: opaque to us. */
type Handle = { readonly __brand: 'HANDLE' };

/** The typed face of the bindings: every call site is typechecked against these signatures. */
interface Win32 {
  CreateJobObjectW(attributes: null, name: null): Handle | null;
  SetInformationJobObject(job: Handle, infoClass: number, info: Buffer, length: number): boolean;
  QueryInformationJobObject(job: Handle, infoClass: number, info: Buffer, length: number, returned: null): boolean;
  AssignProcessToJobObject(job: Handle, process: Handle): boolean;
  OpenProcess(access: number, inheritHandle: boolean, pid: number): Handle | null;
  TerminateJobObject(job: Handle, exitCode: number): boolean;
  CloseHandle(handle: Handle): boolean;
  GetLastError(): number;
  CreateIoCompletionPort(file: number, existingPort: null, key: number, threads: number): Handle | null;
  /** Out parameters are one-element arrays koffi fills in. */
  GetQueuedCompletionStatus(port: Handle, message: [number], key: [number | bigint], overlapped: [number | bigint], timeoutMs: number): boolean;
  NtSuspendProcess(process: Handle): number;
  NtResumeProcess(process: Handle): number;
}

interface Bindings {
  koffi: KoffiModule;
  types: JobObjectTypes;
  win32: Win32;
}

let bindings: Bindings | undefined;

/** Loads koffi and binds kernel32/ntdll on first use, on Windows only. */
function win32Bindings(): Bindings {
  if (process.platform !== 'win32') throw new Error('Job Objects exist only on Windows');
  if (bindings) return bindings;
  const koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
  const types = jobObjectTypes(koffi);
  const functions: Partial<Record<DeclaredName, KoffiFunction>> = {};
  for (const [dll, declarations] of Object.entries(win32Declarations(types))) {
    const library = koffi.load(`${dll}.dll`);
    for (const [name, [result, args]] of Object.entries(declarations)) {
      functions[name as DeclaredName] = library.func('__stdcall', name, result, [...args]);
    }
  }
  // Every function of the typed face is declared (and nothing else is): checked here at compile time.
  const declared = functions as Record<DeclaredName, KoffiFunction> satisfies Record<keyof Win32, KoffiFunction>;
  bindings = { koffi, types, win32: declared as unknown as Win32 };
  return bindings;
}

/** A Job Object holding one job's processes. Only on Windows; `dispose` ends whatever of it still runs. */
export class WindowsJob {
  private frozen: Handle[] = [];
  private handle: Handle | null;
  private port: Handle | null = null;
  private readonly reached = new Set<keyof JobObjectLimits>();

  private constructor(
    private readonly api: Bindings,
    handle: Handle,
    private readonly processLimit: number | undefined,
  ) {
    this.handle = handle;
  }

  static create(limits: JobObjectLimits): WindowsJob {
    const values = extendedLimitInformation(limits);
    const api = win32Bindings();
    const { types, win32 } = api;
    const handle = win32.CreateJobObjectW(null, null); // unnamed and not inheritable: only the agent holds it
    if (handle === null) throw win32Error(api, 'CreateJobObjectW');
    const job = new WindowsJob(api, handle, limits.processes);
    try {
      job.setInformation(JobObjectInfoClass.ExtendedLimitInformation, types.EXTENDED_LIMIT_INFORMATION, values);
      job.setInformation(JobObjectInfoClass.BasicUIRestrictions, types.BASIC_UI_RESTRICTIONS, {
        UIRestrictionsClass: JOB_OBJECT_UILIMIT_ALL,
      });
      job.port = win32.CreateIoCompletionPort(INVALID_HANDLE_VALUE, null, 0, 1);
      if (job.port === null) throw win32Error(api, 'CreateIoCompletionPort');
      job.setInformation(JobObjectInfoClass.AssociateCompletionPortInformation, types.ASSOCIATE_COMPLETION_PORT, {
        CompletionKey: 0,
        CompletionPort: api.koffi.address(job.port),
      });
    } catch (error) {
      job.dispose();
      throw error;
    }
    return job;
  }

  private get open(): Handle {
    if (this.handle === null) throw new Error('the job object is closed');
    return this.handle;
  }

  private setInformation(infoClass: number, type: Koffi.TypeObject, value: unknown): void {
    const buffer = Buffer.alloc(this.api.koffi.sizeof(type));
    this.api.koffi.encode(buffer, type, value);
    if (!this.api.win32.SetInformationJobObject(this.open, infoClass, buffer, buffer.length)) {
      throw win32Error(this.api, 'SetInformationJobObject');
    }
  }

  /** Puts a running process (the job's command, right after its spawn) into the job. */
  assign(pid: number): void {
    const { win32 } = this.api;
    const target = win32.OpenProcess(PROCESS_SET_QUOTA | PROCESS_TERMINATE, false, pid);
    if (target === null) throw win32Error(this.api, `OpenProcess(${pid})`);
    try {
      if (!win32.AssignProcessToJobObject(this.open, target)) throw win32Error(this.api, 'AssignProcessToJobObject');
    } finally {
      win32.CloseHandle(target);
    }
  }

  /** The ids of the job's processes now. */
  processIds(): number[] {
    const pointerSize = this.api.koffi.sizeof('uintptr_t') as 4 | 8;
    for (let capacity = Math.max(64, this.processLimit ?? 0); ; capacity *= 4) {
      const buffer = Buffer.alloc(8 + capacity * pointerSize);
      if (this.api.win32.QueryInformationJobObject(this.open, JobObjectInfoClass.BasicProcessIdList, buffer, buffer.length, null)) {
        return processIdsFromList(buffer, pointerSize);
      }
      if (this.api.win32.GetLastError() !== ERROR_MORE_DATA) throw win32Error(this.api, 'QueryInformationJobObject');
    }
  }

  /** Freezes every process of the job where it stands. */
  suspend(): void {
    if (this.frozen.length > 0) return;
    const { win32 } = this.api;
    const freeze = (pid: number): Handle | null => {
      const target = win32.OpenProcess(PROCESS_SUSPEND_RESUME, false, pid);
      if (target === null) return null; // it exited since the listing
      if (win32.NtSuspendProcess(target) >= 0) return target; // NTSTATUS: negative is an error
      win32.CloseHandle(target);
      return null;
    };
    const { frozen, complete } = freezeInRounds(() => this.processIds(), freeze);
    this.frozen = frozen;
    if (!complete) {
      this.resume();
      throw new Error(`the job kept starting processes while being suspended; it runs on`);
    }
  }

  /** Lets every process frozen by `suspend` run again. */
  resume(): void {
    const { win32 } = this.api;
    for (const target of this.frozen) {
      win32.NtResumeProcess(target);
      win32.CloseHandle(target);
    }
    this.frozen = [];
  }

  /** The limits the job has hit so far (the kernel's messages, drained without waiting). */
  limitsReached(): (keyof JobObjectLimits)[] {
    const { win32 } = this.api;
    if (this.port !== null) {
      const message: [number] = [0];
      for (;;) {
        if (!win32.GetQueuedCompletionStatus(this.port, message, [0], [0], 0)) break; // empty (WAIT_TIMEOUT)
        const limit = limitOfMessage(message[0]);
        if (limit) this.reached.add(limit);
      }
    }
    return [...this.reached];
  }

  /** Ends every process of the job now, with this exit code. */
  terminate(exitCode: number): void {
    if (!this.api.win32.TerminateJobObject(this.open, exitCode)) throw win32Error(this.api, 'TerminateJobObject');
  }

  /** Closes the job; the kernel then ends whatever of it still runs (kill on close). */
  dispose(): void {
    this.resume();
    if (this.port !== null) this.api.win32.CloseHandle(this.port);
    this.port = null;
    if (this.handle === null) return;
    this.api.win32.CloseHandle(this.handle);
    this.handle = null;
  }
}

function win32Error(api: Bindings, call: string): Error {
  return new Error(`${call} failed (Windows error ${api.win32.GetLastError()})`);
}
