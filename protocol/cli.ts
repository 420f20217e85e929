// Flag parsing shared by every command line of the project: each flag may also come from an env var,
// and `--help` is generated from the same table, so the two never disagree.

export interface FlagSpec {
  type: 'string' | 'number' | 'boolean' | 'list';
  env?: string;
  description: string;
  default?: string | number | boolean | string[];
  /** For `list`: may be given more than once and/or comma-separated. */
  placeholder?: string;
}
export type FlagTable = Record<string, FlagSpec>;

type FlagValue<S extends FlagSpec> = S['type'] extends 'number'
  ? number
  : S['type'] extends 'boolean'
    ? boolean
    : S['type'] extends 'list'
      ? string[]
      : string;

export type ParsedFlags<T extends FlagTable> = { [K in keyof T]: FlagValue<T[K]> | undefined };

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedCommandLine<T extends FlagTable> {
  flags: ParsedFlags<T>;
  positionals: string[];
  help: boolean;
}

const truthy = new Set(['1', 'true', 'yes', 'on']);
const falsy = new Set(['0', 'false', 'no', 'off', '']);

function convert(name: string, spec: FlagSpec, raw: string, from: string): string | number | boolean | string[] {
  switch (spec.type) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${from} ${name} expects a number, got "${raw}"`);
      return n;
    }
    case 'boolean': {
      const v = raw.toLowerCase();
      if (truthy.has(v)) return true;
      if (falsy.has(v)) return false;
      throw new UsageError(`${from} ${name} expects true or false, got "${raw}"`);
    }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      return raw;
  }
}

/** Parses `argv` (without node and script) against `table`; flags beat env vars beat defaults. */
export function parseCommandLine<T extends FlagTable>(
  table: T,
  argv: readonly string[],
  env: Record<string, string | undefined>,
): ParsedCommandLine<T> {
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const spec = table[name];
    if (!spec) throw new UsageError(`unknown flag --${name} (see --help)`);
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else if (spec.type === 'boolean') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`--${name} needs a value`);
      }
      raw = next;
      i++;
    }
    const value = convert(`--${name}`, spec, raw, 'flag');
    values[name] = spec.type === 'list' ? [...((values[name] as string[]) ?? []), ...(value as string[])] : value;
  }
  for (const [name, spec] of Object.entries(table)) {
    if (values[name] !== undefined) continue;
    const fromEnv = spec.env ? env[spec.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== '') values[name] = convert(spec.env!, spec, fromEnv, 'environment variable');
    else if (spec.default !== undefined) values[name] = spec.default;
  }
  return { flags: values as ParsedFlags<T>, positionals, help };
}

/** The `--help` text: usage line, then one line per flag with its env var and default. */
export function helpText(usage: string, table: FlagTable, footer = ''): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const value = spec.type === 'boolean' ? '' : ` ${spec.placeholder ?? spec.type.toUpperCase()}`;
    const left = `  --${name}${value}`;
    const extras = [
      spec.env ? `env ${spec.env}` : '',
      spec.default !== undefined && spec.default !== '' ? `default ${String(spec.default)}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    return `${left.padEnd(30)} ${spec.description}${extras ? ` (${extras})` : ''}`;
  });
  return [`Usage: ${usage}`, '', 'Options:', ...rows, '  --help'.padEnd(30) + ' show this help', footer]
    .filter((line, i, all) => !(line === '' && i === all.length - 1))
    .join('\n');
}

/**
 * A token from `--<flag>`, its env var, or the file named by `--<flag>-file` (or that flag's env var). Files and
 * env vars keep it out of `ps` and shell history; a token typed on the command line still works, with a warning.
 */
export function tokenFromFlags(
  argv: readonly string[],
  flag: string,
  value: string | undefined,
  file: string | undefined,
  io: { readText: (file: string) => string; warn: (message: string) => void },
): string | undefined {
  if (file) {
    let text: string;
    try {
      text = io.readText(file);
    } catch (err) {
      throw new UsageError(`--${flag}-file ${file}: ${(err as { code?: string }).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    const token = text.trim();
    if (!token) throw new UsageError(`--${flag}-file ${file} is empty`);
    return token;
  }
  if (value && argv.some((arg) => arg === `--${flag}` || arg.startsWith(`--${flag}=`))) {
    io.warn(`--${flag} on the command line is visible to other users of this machine (ps, shell history); use --${flag}-file or the env var`);
  }
  return value;
}
