// Finding pools on the LAN: the TXT record's encoding and the list logic directly, then two real coordinators
// announcing themselves over real mDNS, found by the app's code path and by `worker --discover`, inside a network
// namespace this test makes (its loopback with multicast on), so nothing is announced on the machine's real LAN.
import { execFile, spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Service } from 'bonjour-service';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../protocol/api';
import { decodePoolTxt, encodePoolTxt, poolLine, poolList, type DiscoveredPool, type PoolAdvert } from '../../protocol/pool-record';
import { makeTempDir } from '../../test/pool';
import { poolOf } from './discovery';

const FP = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
const advert: PoolAdvert = { name: 'Office pool', version: '1.2.3', protocolVersion: PROTOCOL_VERSION, fingerprint: FP, scheme: 'https' };
const service = (fields: Partial<Service>): Service => ({ port: 8443, addresses: [], txt: encodePoolTxt(advert), ...fields }) as Service;

describe('the pool TXT record', () => {
  it('round-trips, and a foreign or garbled record is not taken for a pool', () => {
    expect(decodePoolTxt(encodePoolTxt(advert))).toEqual(advert);
    expect(decodePoolTxt({ ...encodePoolTxt(advert), fp: FP.toLowerCase().replace(/:/g, '') })).toEqual(advert);
    expect(decodePoolTxt({ ...encodePoolTxt(advert), fp: '', scheme: 'http' })).toEqual({ ...advert, fingerprint: null, scheme: 'http' });
    expect(decodePoolTxt({ ...encodePoolTxt(advert), name: 'evil\u001b]8;;x\u0007\nname' })).toMatchObject({ name: 'evil]8;;xname' });
    expect(decodePoolTxt(undefined)).toEqual({ invalid: 'no TXT record' });
    expect(decodePoolTxt({ ...encodePoolTxt(advert), scheme: 'ftp' })).toMatchObject({ invalid: expect.stringContaining('scheme') });
    expect(decodePoolTxt({ ...encodePoolTxt(advert), fp: 'AB:CD' })).toMatchObject({ invalid: expect.stringContaining('fingerprint') });
    expect(decodePoolTxt({ ...encodePoolTxt(advert), fp: '' })).toMatchObject({ invalid: expect.stringContaining('HTTPS but') });
    expect(decodePoolTxt({ ...encodePoolTxt(advert), proto: 'x' })).toMatchObject({ invalid: expect.stringContaining('protocol') });
    expect(decodePoolTxt({ ...encodePoolTxt(advert), name: '\u0007' })).toEqual({ invalid: 'it has no name' });
  });

  it('an announced service becomes a pool at its IPv4 address, else where its answer came from', () => {
    expect(poolOf(service({ addresses: ['fe80::1', '192.168.1.20'] }))?.url).toBe('https://192.168.1.20:8443');
    expect(poolOf(service({ referer: { address: '10.0.0.5', family: 'IPv4', port: 5353, size: 1 } }))?.url).toBe('https://10.0.0.5:8443');
    expect(poolOf(service({ referer: { address: 'fd00::2', family: 'IPv6', port: 5353, size: 1 } }))?.url).toBe('https://[fd00::2]:8443');
    expect(poolOf(service({ addresses: ['192.168.1.20'], txt: { name: 'printer' } }))).toBeNull();
    expect(poolOf(service({}))).toBeNull();
  });

  it('lists each URL once (the latest answer), by name, and prints one line per pool', () => {
    const pool = (name: string, url: string, version = '1'): DiscoveredPool => ({ ...advert, name, url, version });
    const list = poolList([pool('b', 'https://10.0.0.2:1'), pool('a', 'https://10.0.0.9:1'), pool('b', 'https://10.0.0.2:1', '2')]);
    expect(list.map((p) => `${p.name} ${p.url} ${p.version}`)).toEqual(['a https://10.0.0.9:1 1', 'b https://10.0.0.2:1 2']);
    expect(poolLine(list[0]!, PROTOCOL_VERSION)).toBe(`a  https://10.0.0.9:1  fingerprint ${FP}  v1`);
    expect(poolLine({ ...list[0]!, protocolVersion: 99 }, PROTOCOL_VERSION)).toContain(`(protocol 99; this worker speaks ${PROTOCOL_VERSION})`);
  });
});

/** A network namespace with multicast on its loopback: the LAN of this test. Null when this machine cannot make one. */
const NETNS = 'ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo';
const netnsProblem = (() => {
  const probe = spawnSync('unshare', ['-rn', 'sh', '-c', NETNS], { encoding: 'utf8' });
  return probe.status === 0 ? null : (probe.stderr || probe.error?.message || 'unshare failed').trim().split('\n')[0];
})();

interface LanRun {
  coordinators: { port: number; fingerprint: string }[];
  found: DiscoveredPool[];
  answers: { name: string; fingerprint: string }[];
  cli: { status: number; stdout: string; stderr: string };
}

describe('on a LAN', () => {
  it.skipIf(netnsProblem !== null)(
    netnsProblem === null
      ? 'finds two announcing coordinators with their fingerprints, in the app and with worker --discover, and not one started without advertising'
      : `finds announcing coordinators — skipped: no network namespace with multicast here (unshare -rn: ${netnsProblem})`,
    async () => {
      const dir = await makeTempDir('cmdx-lan-');
      try {
        const { stdout } = await promisify(execFile)('unshare', ['-rn', 'sh', '-c', `${NETNS} && exec "$0" --import tsx test/lan-pools.ts "$1"`, process.execPath, dir], {
          encoding: 'utf8',
          timeout: 90_000,
        });
        const run = JSON.parse(stdout) as LanRun;
        const [a, b] = run.coordinators;
        expect(run.found.map((p) => [p.name, p.url, p.fingerprint, p.version, p.protocolVersion])).toEqual([
          ['pool-a', `https://127.0.0.1:${a!.port}`, a!.fingerprint, '9.8.7', PROTOCOL_VERSION],
          ['pool-b', `https://127.0.0.1:${b!.port}`, b!.fingerprint, '9.8.7', PROTOCOL_VERSION],
        ]);
        expect(run.answers.map((answer) => [answer.name, answer.fingerprint])).toEqual([['pool-a', a!.fingerprint], ['pool-b', b!.fingerprint]]);
        expect(run.cli.status).toBe(0);
        expect(run.cli.stdout.trimEnd().split('\n')).toEqual(run.found.map((pool) => poolLine(pool, PROTOCOL_VERSION)));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
