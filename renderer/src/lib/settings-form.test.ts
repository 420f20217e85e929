import { describe, expect, it } from 'vitest';
import { settingsSchema } from '../../../protocol/ipc';
import { draftOf, patchOf } from './settings-form';

describe('settings form', () => {
  const defaults = settingsSchema.parse({});

  it('saves what it shows: an untouched draft is the current settings', () => {
    const result = patchOf(draftOf(defaults));
    expect(result).toEqual({
      patch: {
        coordinatorUrls: [],
        coordinatorFingerprint: '',
        hostPool: false,
        hostPort: defaults.hostPort,
        contributeWhenIdle: false,
        idleMinutes: defaults.idleMinutes,
        onlyOnAC: true,
        maxOthersCpuPercent: defaults.maxOthersCpuPercent,
        alwaysContribute: false,
        contributeHours: '',
        slots: 1,
        labels: [],
        workerName: '',
        allowNetwork: false,
        trustedSubmitters: [],
      },
    });
  });

  it('shows the saved coordinators one per line', () => {
    expect(draftOf({ ...defaults, coordinatorUrls: ['https://pool-a:8443', 'https://pool-b:8443'] }).coordinatorUrls).toBe('https://pool-a:8443\nhttps://pool-b:8443');
  });

  it('turns typed numbers and label lists into values', () => {
    const draft = {
      ...draftOf(defaults),
      idleMinutes: ' 15 ',
      labels: 'linux, big ram',
      trustedSubmitters: 'alice, bob',
      coordinatorUrls: 'http://pool-a:8787\nhttp://pool-b:8787,  http://pool-c:8787\n',
    };
    const result = patchOf(draft);
    expect('patch' in result && result.patch).toMatchObject({
      idleMinutes: 15,
      labels: ['linux', 'big', 'ram'],
      trustedSubmitters: ['alice', 'bob'],
      coordinatorUrls: ['http://pool-a:8787', 'http://pool-b:8787', 'http://pool-c:8787'],
    });
  });

  it('explains each bad field', () => {
    const result = patchOf({ ...draftOf(defaults), slots: 'two', coordinatorUrls: 'http://pool-a:8787\nftp://x', idleMinutes: '0', contributeHours: 'weekdays 6pm-8am' });
    expect('errors' in result).toBe(true);
    if (!('errors' in result)) return;
    expect(result.errors.slots).toBe('must be a whole number');
    expect(result.errors.coordinatorUrls).toMatch(/^"ftp:\/\/x" must be an http:\/\/ or https:\/\//);
    expect(result.errors.idleMinutes).toBeTruthy();
    expect(result.errors.contributeHours).toBe('"weekdays 6pm-8am": "6pm" is not a time of day: write HH:MM on a 24-hour clock, like 08:00 or 18:30');
  });
});
