// The desktop update feed end to end: `node coordinator publish-update DIR` (the real CLI) checks electron-builder's
// output, the real coordinator serves it, and electron-updater's own code reads it: its generic provider and
// channel-file parser, and its downloader with the sha512 check. Plus byte ranges on a real port.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancellationToken } from 'builder-util-runtime';
import { ElectronHttpExecutor } from 'electron-updater/out/electronHttpExecutor';
import { GenericProvider } from 'electron-updater/out/providers/GenericProvider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, startTestCoordinator, type TestCoordinator } from '../../test/pool';

const ENTRY = fileURLToPath(new URL('../index.js', import.meta.url));
const publish = (dir: string, dataDir: string) => {
  const run = spawnSync(process.execPath, [ENTRY, 'publish-update', dir, '--data-dir', dataDir], { encoding: 'utf8', timeout: 30_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};
const sha512 = (bytes: Buffer) => createHash('sha512').update(bytes).digest('base64');

/** electron-updater's downloader, on Node's http instead of Electron's net (the one part that needs Electron). */
class NodeHttpExecutor extends ElectronHttpExecutor {
  override createRequest(options: http.RequestOptions, callback: (response: http.IncomingMessage) => void) {
    return http.request(options, callback) as unknown as ReturnType<ElectronHttpExecutor['createRequest']>;
  }
}

/** A release folder as electron-builder writes it: channel files, installers, a block map. */
async function releaseDir(version: string) {
  const dir = await makeTempDir('cmdx-release-');
  const appImage = randomBytes(3 * 1024 * 1024 + 17);
  const setup = randomBytes(512 * 1024);
  await writeFile(join(dir, `cmd-executor-${version}.AppImage`), appImage);
  await writeFile(join(dir, `cmd-executor-${version}.AppImage.blockmap`), randomBytes(1024));
  await writeFile(join(dir, `cmd-executor-Setup-${version}.exe`), setup);
  await writeFile(join(dir, 'builder-debug.yml'), 'x: 1\n');
  const channel = (file: string, bytes: Buffer) =>
    `version: ${version}\nfiles:\n  - url: ${file}\n    sha512: ${sha512(bytes)}\n    size: ${bytes.length}\npath: ${file}\nsha512: ${sha512(bytes)}\nreleaseDate: '2026-11-29T12:00:00.000Z'\n`;
  await writeFile(join(dir, 'latest-linux.yml'), channel(`cmd-executor-${version}.AppImage`, appImage));
  await writeFile(join(dir, 'latest.yml'), channel(`cmd-executor-Setup-${version}.exe`, setup));
  return { dir, appImage, setup };
}

describe('the desktop update feed', () => {
  let pool: TestCoordinator;
  let release: Awaited<ReturnType<typeof releaseDir>>;
  let token: string;

  beforeAll(async () => {
    const dataDir = await makeTempDir();
    release = await releaseDir('1.4.0');
    const published = publish(release.dir, dataDir);
    expect(published.stderr).toBe('');
    expect(published.stdout).toMatch(/^published 1\.4\.0 \(latest-linux\.yml, latest\.yml; 3 file\(s\), sha512 checked\)/);
    pool = await startTestCoordinator({ dataDir });
    token = await pool.coordinator.createToken('anna', 'submit');
  });
  afterAll(() => pool.stop());

  const provider = (platform: 'linux' | 'win32') => {
    const executor = new NodeHttpExecutor();
    const feed = new GenericProvider(
      { provider: 'generic', url: `${pool.url}/updates/` },
      { channel: null, isAddNoCacheQuery: false } as unknown as ConstructorParameters<typeof GenericProvider>[1],
      { executor, platform, isUseMultipleRangeRequest: true },
    );
    feed.setRequestHeaders({ authorization: `Bearer ${token}` });
    return { feed, executor };
  };

  it("electron-updater's generic provider reads the channel file and downloads the installer, sha512 verified", async () => {
    const { feed, executor } = provider('linux');
    const info = await feed.getLatestVersion();
    expect(info.version).toBe('1.4.0');
    const [file] = feed.resolveFiles(info);
    expect(file!.url.href).toBe(`${pool.url}/updates/cmd-executor-1.4.0.AppImage`);
    const destination = join(await makeTempDir(), 'download.AppImage');
    await executor.download(file!.url, destination, {
      sha512: file!.info.sha512,
      headers: { authorization: `Bearer ${token}` },
      cancellationToken: new CancellationToken(),
    });
    expect((await readFile(destination)).equals(release.appImage)).toBe(true);
    // Windows reads its own channel file from the same feed.
    expect(provider('win32').feed.resolveFiles(await provider('win32').feed.getLatestVersion())[0]!.url.pathname).toBe(
      '/updates/cmd-executor-Setup-1.4.0.exe',
    );
  });

  it('a tampered installer is refused by the downloader (its sha512 check), and by publish-update first', async () => {
    const feedFile = join(pool.dataDir, 'updates', 'cmd-executor-1.4.0.AppImage');
    const original = await readFile(feedFile);
    const tampered = Buffer.from(original);
    tampered.writeUInt8(tampered.readUInt8(1000) ^ 0xff, 1000);
    await writeFile(feedFile, tampered);
    try {
      const { feed, executor } = provider('linux');
      const [file] = feed.resolveFiles(await feed.getLatestVersion());
      const download = executor.download(file!.url, join(await makeTempDir(), 'x'), {
        sha512: file!.info.sha512,
        headers: { authorization: `Bearer ${token}` },
        cancellationToken: new CancellationToken(),
      });
      await expect(download).rejects.toThrow(/sha512 checksum mismatch/);
    } finally {
      await writeFile(feedFile, original);
    }

    const bad = await releaseDir('1.5.0');
    await writeFile(join(bad.dir, 'cmd-executor-Setup-1.5.0.exe'), randomBytes(bad.setup.length));
    const refused = publish(bad.dir, await makeTempDir());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('cmd-executor: cmd-executor-Setup-1.5.0.exe does not match the sha512 in latest.yml: the folder holds another build, or the file is damaged\n');
    const empty = publish(await makeTempDir(), await makeTempDir());
    expect(empty.stderr).toMatch(/^cmd-executor: no latest\.yml, latest-linux\.yml or latest-mac\.yml in .*: give electron-builder's output folder \(dist\/\)\n$/);
  });

  it('serves byte ranges: one range, several (multipart/byteranges), and 416 past the end; members only', async () => {
    const url = `${pool.url}/updates/cmd-executor-1.4.0.AppImage`;
    const auth = { authorization: `Bearer ${token}` };
    const one = await fetch(url, { headers: { ...auth, range: 'bytes=100-199' } });
    expect(one.status).toBe(206);
    expect(one.headers.get('content-range')).toBe(`bytes 100-199/${release.appImage.length}`);
    expect(Buffer.from(await one.arrayBuffer()).equals(release.appImage.subarray(100, 200))).toBe(true);

    const resume = await fetch(url, { headers: { ...auth, range: `bytes=${release.appImage.length - 10}-` } });
    expect(Buffer.from(await resume.arrayBuffer()).equals(release.appImage.subarray(-10))).toBe(true);

    const several = await fetch(url, { headers: { ...auth, range: 'bytes=0-9, 2000000-2000009' } });
    expect(several.status).toBe(206);
    const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(several.headers.get('content-type')!)![1]!;
    const body = Buffer.from(await several.arrayBuffer()).toString('latin1');
    const parts = body.split(`--${boundary}`).slice(1, -1).map((part) => part.split('\r\n\r\n'));
    expect(parts.map(([head]) => /Content-Range: (.+)/.exec(head!)![1])).toEqual([
      `bytes 0-9/${release.appImage.length}`,
      `bytes 2000000-2000009/${release.appImage.length}`,
    ]);
    expect(parts.map(([, data]) => data!.slice(0, -2))).toEqual([
      release.appImage.subarray(0, 10).toString('latin1'),
      release.appImage.subarray(2000000, 2000010).toString('latin1'),
    ]);

    const past = await fetch(url, { headers: { ...auth, range: `bytes=${release.appImage.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${release.appImage.length}`);

    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(`${pool.url}/updates/builder-debug.yml`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${pool.url}/updates/..%2Fcoordinator.sqlite`, { headers: auth })).status).toBe(404);
  });
});
