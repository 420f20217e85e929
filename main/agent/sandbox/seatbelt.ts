/**
 * macOS backend: a Seatbelt (`sandbox-exec`, SBPL) profile generated per job.
 *
 * Guarantees, once `sandbox-exec` runs the job under this profile (inherited by everything the job starts):
 * - deny by default: whatever no rule below allows is refused by the kernel, so nothing of the owner's home, the
 *   agent's state, its bundle cache, other jobs' workspaces or the coordinator's data dir is readable or writable
 *   unless the caller passes it in;
 * - the workspace and the job's tmp folder are read-write; the system (/usr, /bin, /sbin, /System, Apple's part of
 *   /Library, the Command Line Tools, Homebrew's software folders but not its `var`/`etc`) and the caller's
 *   `readOnlyPaths` are read-only; /private/etc only the few files programs read at start;
 * - the data volume's second name (/System/Volumes/Data/...) does not open a back door to the home folders;
 * - signals and process information reach only processes of the same sandbox (not the agent, not its command line);
 * - no network at all unless allowed; when allowed, outbound IP only (no listening, no Unix sockets such as
 *   ssh-agent's or Docker's), and never to `localhost` (SBPL's name for the loopback addresses);
 * - a path with `"` or `\` in it stays one string literal: it cannot add rules (see `sbplString`).
 *
 * Does not guarantee:
 * - limits (memory, processes, open files, file size): Seatbelt has none; the runner sets rlimits, and macOS does
 *   not enforce an address-space limit, so memory is capped only by what the runner watches;
 * - loopback privacy against the PC's own LAN address or 0.0.0.0: SBPL names hosts only as `*` or `localhost`,
 *   so with network allowed a service bound to all interfaces is reachable through the PC's LAN address;
 * - loopback for the job itself: with or without network it can neither listen nor reach its own local servers;
 * - tools that need per-user macOS services (Keychain, CFPreferences, the per-user /var/folders temp dirs) fail
 *   inside: that is the point, but e.g. Xcode builds that want them must be given what they need by the caller;
 * - anything on a Mac without `sandbox-exec` (it ships with every macOS so far, though Apple calls it deprecated).
 *
 * Seatbelt matches resolved paths, so callers pass real paths (`fs.realpath`); the firmlinked roots /tmp, /var and
 * /etc are rewritten to /private/... here because every Mac has them.
 */

export interface SeatbeltOptions {
  /** The job's working folder: read-write. */
  workspace: string;
  /** The job's private temporary folder (its TMPDIR): read-write. */
  tmpDir: string;
  /** Outbound IP connections, still never to the loopback addresses. */
  allowNetwork: boolean;
  /**
   * Toolchains and other folders the job may read and execute from, never write, even inside the workspace (a
   * read-only view of the bundle there stays read-only). One may not hold the workspace or the tmp dir.
   */
  readOnlyPaths?: readonly string[];
}

export const SANDBOX_EXEC = '/usr/bin/sandbox-exec';

/** Read-only, the whole subtree: the OS and the developer tools. */
const SYSTEM_SUBPATHS = [
  '/usr',
  '/bin',
  '/sbin',
  '/System',
  '/Library/Apple',
  '/Library/Frameworks',
  '/Library/Developer/CommandLineTools',
  '/private/var/db/timezone',
  '/private/var/db/dyld',
] as const;

/**
 * /usr/local is under /usr, and Homebrew's prefix lives there on Intel Macs and at /opt/homebrew on Apple silicon:
 * its software folders are read-only, its `var` (databases, e.g. PostgreSQL's data) and `etc` are the owner's.
 */
const HOMEBREW_PREFIXES = ['/usr/local', '/opt/homebrew'] as const;
const HOMEBREW_SOFTWARE = ['bin', 'sbin', 'lib', 'libexec', 'include', 'share', 'opt', 'Cellar', 'Frameworks'] as const;

/** Single files read at start: user database, time zone, shells, certificates, the selected /bin/sh, xcode-select. */
const SYSTEM_FILES = [
  '/private/etc/passwd',
  '/private/etc/group',
  '/private/etc/localtime',
  '/private/etc/protocols',
  '/private/etc/services',
  '/private/etc/shells',
  '/private/etc/hosts',
  '/private/etc/zshenv',
  '/private/etc/zprofile',
  '/private/etc/profile',
  '/private/etc/bashrc',
  '/private/var/select/sh',
  '/private/var/db/xcode_select_link',
] as const;

/** sysctl names programs read to size thread pools and print versions; not kern.procargs (other processes' argv). */
const SYSCTL_NAMES = [
  'kern.argmax',
  'kern.hostname',
  'kern.maxfilesperproc',
  'kern.maxproc',
  'kern.osproductversion',
  'kern.osrelease',
  'kern.ostype',
  'kern.osversion',
  'kern.version',
  'kern.usrstack64',
  'kern.secure_kernel',
  'sysctl.proc_cputype',
  'vm.loadavg',
] as const;
const SYSCTL_PREFIXES = ['hw.', 'machdep.cpu.'] as const;

/** Name lookups the job needs anyway (getpwuid: whoami, ssh, Python's expanduser). */
const BASE_MACH_SERVICES = ['com.apple.system.opendirectoryd.libinfo'] as const;
/** DNS configuration and certificate trust, only with network (not SecurityServer: it fronts the Keychain). */
const NETWORK_MACH_SERVICES = [
  'com.apple.SystemConfiguration.DNSConfiguration',
  'com.apple.SystemConfiguration.configd',
  'com.apple.networkd',
  'com.apple.trustd',
  'com.apple.trustd.agent',
  'com.apple.ocspd',
] as const;
const NETWORK_FILES = ['/private/etc/resolv.conf', '/private/var/run/resolv.conf'] as const;
/** Name resolution goes through mDNSResponder's Unix socket. */
const DNS_SOCKET = '/private/var/run/mDNSResponder';

/** macOS keeps these three roots as symlinks into /private; Seatbelt sees the resolved path. */
const FIRMLINKED_ROOTS = ['/tmp', '/var', '/etc'] as const;

/**
 * An SBPL (Scheme) string literal holding `value` exactly: backslash and double quote escaped, control characters
 * refused (no path needs them, and they are where Scheme readers disagree).
 */
export function sbplString(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`a sandbox path may not hold control characters: ${JSON.stringify(value)}`);
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The path as Seatbelt will see it: absolute, no `.`/`..`/empty segments, firmlinked roots resolved. */
export function seatbeltPath(path: string): string {
  if (!path.startsWith('/')) throw new Error(`a sandbox path must be absolute: ${JSON.stringify(path)}`);
  const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if (trimmed !== '/' && trimmed.split('/').slice(1).some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new Error(`a sandbox path must be normalized (no empty, "." or ".." segments): ${JSON.stringify(path)}`);
  }
  const root = FIRMLINKED_ROOTS.find((r) => trimmed === r || trimmed.startsWith(`${r}/`));
  return root ? `/private${trimmed}` : trimmed;
}

const filters = (kind: 'subpath' | 'literal' | 'path-ancestors', paths: readonly string[]) =>
  paths.map((p) => `  (${kind} ${sbplString(p)})`);

function rule(action: 'allow' | 'deny', operations: string, ...filterLines: string[][]): string {
  const lines = filterLines.flat();
  return lines.length === 0 ? `(${action} ${operations})` : `(${action} ${operations}\n${lines.join('\n')})`;
}

/**
 * The profile for one job. Rules are ordered because in SBPL the last matching rule wins: system reads first, then
 * the data volume's back door closed, then the job's own folders, then the network denials that must override.
 */
export function seatbeltProfile(options: SeatbeltOptions): string {
  const readWrite = [...new Set([options.workspace, options.tmpDir].map(seatbeltPath))];
  const readOnly = [...new Set((options.readOnlyPaths ?? []).map(seatbeltPath))];
  if (readWrite.includes('/') || readOnly.includes('/')) throw new Error('a sandbox path may not be the root folder');
  const within = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}/`);
  for (const folder of readWrite) {
    const holder = readOnly.find((p) => within(folder, p));
    if (holder) throw new Error(`the read-only path ${holder} holds the job's read-write folder ${folder}`);
  }
  const homebrew = HOMEBREW_PREFIXES.flatMap((prefix) => HOMEBREW_SOFTWARE.map((dir) => `${prefix}/${dir}`));

  const sections = [
    '(version 1)',
    '(deny default)',
    '; processes: the job may start programs; signals and process info stay inside this sandbox',
    '(allow process-fork)',
    '(allow process-exec)',
    '(allow signal (target same-sandbox))',
    '(allow process-info* (target same-sandbox))',
    '(allow mach-host*)',
    '(allow ipc-posix-sem)',
    rule('allow', 'sysctl-read', SYSCTL_NAMES.map((n) => `  (sysctl-name ${sbplString(n)})`), SYSCTL_PREFIXES.map((p) => `  (sysctl-name-prefix ${sbplString(p)})`)),
    rule('allow', 'mach-lookup', BASE_MACH_SERVICES.map((n) => `  (global-name ${sbplString(n)})`)),
    '; the system, read-only',
    rule('allow', 'file-read* file-map-executable', filters('subpath', SYSTEM_SUBPATHS)),
    rule('deny', 'file-read* file-write* file-map-executable', filters('subpath', HOMEBREW_PREFIXES)),
    rule('allow', 'file-read* file-map-executable', filters('subpath', homebrew)),
    rule('allow', 'file-read*', filters('literal', ['/', ...SYSTEM_FILES])),
    rule('allow', 'file-read-metadata', filters('literal', ['/private', '/private/etc', '/private/var', ...FIRMLINKED_ROOTS])),
    '; /System/Volumes/Data is a second name for the whole data volume, home folders included',
    rule('deny', 'file-read* file-write* file-map-executable', filters('subpath', ['/System/Volumes/Data'])),
    '; devices',
    rule('allow', 'file-read* file-write-data', filters('literal', ['/dev/null', '/dev/zero'])),
    rule('allow', 'file-read*', filters('literal', ['/dev/random', '/dev/urandom', '/dev/stdin', '/dev/stdout', '/dev/stderr'])),
    rule('allow', 'file-read* file-write-data', filters('subpath', ['/dev/fd'])),
    rule('allow', 'file-read* file-write-data file-ioctl', filters('literal', ['/dev/dtracehelper'])),
    '; the job\'s own folders (after the denials above, so they win where they overlap)',
    ...(readOnly.length > 0 ? [rule('allow', 'file-read* file-map-executable', filters('subpath', readOnly))] : []),
    rule('allow', 'file-read* file-write* file-map-executable', filters('subpath', readWrite)),
    ...(readOnly.length > 0 ? [rule('deny', 'file-write*', filters('subpath', readOnly))] : []),
    '; stat() of the folders above them (realpath() walks each one), without listing them',
    rule('allow', 'file-read-metadata', filters('path-ancestors', [...homebrew, ...readOnly, ...readWrite])),
    ...(options.allowNetwork ? networkRules() : ['; network: none (deny default)']),
  ];
  return `${sections.join('\n')}\n`;
}

function networkRules(): string[] {
  return [
    '; network: outbound IP only, DNS through mDNSResponder, never the loopback addresses',
    '(allow network-outbound (remote ip "*:*"))',
    rule('allow', 'network-outbound', filters('literal', [DNS_SOCKET])),
    '(allow system-socket (require-all (socket-domain AF_SYSTEM) (socket-protocol 2)))',
    rule('allow', 'mach-lookup', NETWORK_MACH_SERVICES.map((n) => `  (global-name ${sbplString(n)})`)),
    rule('allow', 'file-read*', filters('literal', NETWORK_FILES), filters('subpath', ['/private/etc/ssl'])),
    '(deny network-outbound (remote ip "localhost:*"))',
    '(deny network-inbound network-bind)',
  ];
}

/** The argv that runs `argv` under `profile`; the profile holds paths only, never a secret, so argv may carry it. */
export function seatbeltCommand(profile: string, argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('seatbeltCommand needs a program to run');
  return [SANDBOX_EXEC, '-p', profile, '--', ...argv];
}
