// "Copy as CLI command" on a job's page: the submit command line that asks for the same job again, for a script
// or a colleague. The token is never in it: it reads $CMDX_TOKEN, as the CLI's --help suggests.
import type { ResolvedJobSpec } from '../../../protocol/api';

/** POSIX shell quoting: bare when safe, else single quotes with ' written as '\''. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Timeout and attempts are always written out: the pool's defaults may change, the job's values did not. */
export function submitCommandLine(server: string, spec: ResolvedJobSpec): string {
  const args = ['npm', 'run', 'submit', '--', '--server', server, '--token', '"$CMDX_TOKEN"'];
  const flag = (name: string, value: string) => args.push(`--${name}`, shellQuote(value));
  if (spec.name !== spec.commands[0]?.slice(0, 80)) flag('name', spec.name);
  for (const label of spec.labels) flag('label', label);
  flag('timeout', String(spec.timeoutSec));
  if (spec.priority !== 0) flag('priority', String(spec.priority));
  flag('max-attempts', String(spec.maxAttempts));
  if (spec.retries) flag('retries', String(spec.retries));
  for (const glob of spec.outputs) flag('output', glob);
  for (const [name, value] of Object.entries(spec.env)) flag('env', `${name}=${value}`);
  if (spec.shell) flag('shell', spec.shell);
  if (spec.continueOnError) args.push('--continue-on-error');
  if (spec.network) args.push('--network');
  if (spec.requireSandbox) args.push('--require-sandbox');
  args.push(...spec.commands.map(shellQuote));
  return args.join(' ');
}
