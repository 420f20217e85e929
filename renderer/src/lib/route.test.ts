import { describe, expect, it } from 'vitest';
import { parseRoute, routeHash, takeTokenFromHash, type Route } from './route';

describe('parseRoute', () => {
  it('maps hashes to views, with the submit view as the landing page', () => {
    expect(parseRoute('')).toEqual({ view: 'submit' });
    expect(parseRoute('#/')).toEqual({ view: 'submit' });
    expect(parseRoute('#/nonsense')).toEqual({ view: 'submit' });
    expect(parseRoute('#/jobs')).toEqual({ view: 'jobs' });
    expect(parseRoute('#/jobs/')).toEqual({ view: 'jobs' });
    expect(parseRoute('#/jobs/job_12ab')).toEqual({ view: 'job', jobId: 'job_12ab' });
    expect(parseRoute('#/workers')).toEqual({ view: 'workers' });
    expect(parseRoute('#/settings')).toEqual({ view: 'settings' });
  });

  it('round-trips every route through its hash', () => {
    const routes: Route[] = [
      { view: 'submit' },
      { view: 'jobs' },
      { view: 'job', jobId: 'job with/odd chars' },
      { view: 'workers' },
      { view: 'settings' },
    ];
    for (const route of routes) expect(parseRoute(routeHash(route))).toEqual(route);
  });
});

describe('takeTokenFromHash', () => {
  it('takes the token of a sign-in link and leaves the landing route', () => {
    expect(takeTokenFromHash('#token=abc123')).toEqual({ token: 'abc123', hash: '#/' });
  });

  it('keeps the route and other parameters of a deep link', () => {
    expect(takeTokenFromHash('#/jobs/job_1?token=t%2Fx&tab=log')).toEqual({ token: 't/x', hash: '#/jobs/job_1?tab=log' });
    expect(takeTokenFromHash('#/workers?token=zz')).toEqual({ token: 'zz', hash: '#/workers' });
  });

  it('leaves a hash without a token alone', () => {
    expect(takeTokenFromHash('#/jobs/job_1')).toEqual({ token: null, hash: '#/jobs/job_1' });
    expect(takeTokenFromHash('')).toEqual({ token: null, hash: '' });
    expect(takeTokenFromHash('#token=')).toEqual({ token: null, hash: '#token=' });
  });
});
