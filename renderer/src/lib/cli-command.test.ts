import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ResolvedJobSpec } from '../../../protocol/api';
import { shellQuote, submitCommandLine } from './cli-command';

const spec: ResolvedJobSpec = {
  commands: ['make test', "echo 'quoted' $HOME"],
  name: 'nightly',
  shell: null,
  env: { MODE: 'fast run' },
  timeoutSec: 600,
  labels: ['linux', 'gpu'],
  priority: 5,
  maxAttempts: 3,
  retries: 0,
  outputs: ['dist/**'],
  continueOnError: false,
  network: true,
  requireSandbox: false,
  limits: {},
};

describe('submitCommandLine', () => {
  it('writes the submit command for the same job, the token left to $CMDX_TOKEN', () => {
    expect(submitCommandLine('http://pool:8080', spec)).toBe(
      `npm run submit -- --server http://pool:8080 --token "$CMDX_TOKEN" --name nightly --label linux --label gpu --timeout 600 ` +
        `--priority 5 --max-attempts 3 --output 'dist/**' --env 'MODE=fast run' --network 'make test' 'echo '\\''quoted'\\'' $HOME'`,
    );
  });

  it('quotes so that a POSIX shell gives back each word exactly', () => {
    const words = ['plain', 'two words', "it's", '$HOME', 'a"b', '*', ''];
    const echoed = execFileSync('sh', ['-c', `printf '%s\\n' ${words.map(shellQuote).join(' ')}`], { encoding: 'utf8' });
    expect(echoed).toBe(words.map((w) => `${w}\n`).join(''));
  });
});
