import { describe, expect, it } from 'vitest';
import type { ResolvedJobSpec } from '../../../protocol/api';
import { buildJobSpec, emptyJobForm, formFromSpec, type JobForm } from './job-form';

const form = (fields: Partial<JobForm>): JobForm => ({ ...emptyJobForm, ...fields });

describe('buildJobSpec', () => {
  it('takes one command per line and drops blank lines', () => {
    const result = buildJobSpec(form({ commands: 'make\n\n  ./test.sh --fast  \r\n' }), null);
    expect(result).toEqual({ ok: true, spec: { commands: ['make', './test.sh --fast'] } });
  });

  it('turns the optional fields into spec fields', () => {
    const result = buildJobSpec(
      form({ commands: 'x', name: ' nightly ', labels: 'linux, gpu  big', timeoutSec: '90', priority: '-5', outputs: 'dist/**, out.txt' }),
      null,
    );
    expect(result).toEqual({
      ok: true,
      spec: { commands: ['x'], name: 'nightly', labels: ['linux', 'gpu', 'big'], timeoutSec: 90, priority: -5, outputs: ['dist/**', 'out.txt'] },
    });
  });

  it('reads a matrix as name=values entries, and marks the field when one is not', () => {
    expect(buildJobSpec(form({ commands: 'x', matrix: 'n=1,2,3  os=linux,mac' }), null)).toEqual({
      ok: true,
      spec: { commands: ['x'], matrix: { n: ['1', '2', '3'], os: ['linux', 'mac'] } },
    });
    expect(buildJobSpec(form({ commands: 'x', matrix: 'n=1;os=a' }), null)).toMatchObject({ ok: true, spec: { matrix: { n: ['1'], os: ['a'] } } });
    expect(buildJobSpec(form({ commands: 'x', matrix: 'n' }), null)).toEqual({ ok: false, errors: { matrix: 'write each name as name=value1,value2 (got "n")' } });
    expect(buildJobSpec(form({ commands: 'x', matrix: 'n=1,1' }), null)).toEqual({ ok: false, errors: { matrix: 'a value is listed twice (n)' } });
  });

  it('pins "This PC" jobs to the local agent with its host label', () => {
    const result = buildJobSpec(form({ commands: 'x', target: 'local', labels: 'linux' }), 'alice-pc');
    expect(result.ok && result.spec.labels).toEqual(['linux', 'host:alice-pc']);
  });

  it('derives the host label from the agent name exactly as the agent does', () => {
    const result = buildJobSpec(form({ commands: 'x', target: 'local' }), "Bob's PC");
    expect(result.ok && result.spec.labels).toEqual(["host:Bob-s-PC"]);
  });

  it('refuses "This PC" when there is no local agent', () => {
    const result = buildJobSpec(form({ commands: 'x', target: 'local' }), null);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors.target).toMatch(/no running agent/);
  });

  it('puts each mistake beside its field, with the schema’s own words', () => {
    const result = buildJobSpec(form({ commands: '  ', timeoutSec: '1.5', labels: 'ok bad/label', outputs: '../secret' }), null);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.commands).toMatch(/at least one command/);
    expect(result.errors.timeoutSec).toBe('must be a whole number');
    expect(result.errors.labels).toMatch(/labels are 1-64 characters.*\(item 2\)/);
    expect(result.errors.outputs).toMatch(/may not contain \.\./);
  });

  it('refuses numbers out of range in our own words, not the validator’s', () => {
    const result = buildJobSpec(form({ commands: 'x', timeoutSec: '0', priority: '5000' }), null);
    expect(result).toEqual({ ok: false, errors: { timeoutSec: 'must be at least 1', priority: 'must be at most 1000' } });
  });
});

describe('formFromSpec (re-run)', () => {
  const resolved: ResolvedJobSpec = {
    commands: ['npm ci', 'npm test'],
    name: 'ci',
    shell: '/bin/bash',
    env: { CI: '1' },
    timeoutSec: 600,
    labels: ['linux'],
    priority: 0,
    maxAttempts: 2,
    retries: 1,
    outputs: ['coverage/**'],
    continueOnError: true,
    network: true,
    requireSandbox: false,
    limits: { memoryMiB: 512 },
  };

  it('gives a form that submits the same job again, fields without a control included', () => {
    const { form: again, carried } = formFromSpec(resolved);
    const result = buildJobSpec(again, null, carried);
    expect(result).toEqual({
      ok: true,
      spec: {
        commands: ['npm ci', 'npm test'],
        name: 'ci',
        shell: '/bin/bash',
        env: { CI: '1' },
        timeoutSec: 600,
        labels: ['linux'],
        maxAttempts: 2,
        retries: 1,
        outputs: ['coverage/**'],
        continueOnError: true,
        network: true,
        limits: { memoryMiB: 512 },
      },
    });
  });
});
