// Case 5: a 200 MiB ZIP uploaded with a job and downloaded by the worker that claims it, beside a plain
// loopback HTTP copy of the same file; the coordinator's RSS is sampled throughout and must stay flat.
import { join } from 'node:path';
import { API_PREFIX, type ClaimResponse, type RegisterWorkerResponse } from '../../protocol/api';
import { MiB, profileArgs, type BenchCase, type CaseContext, type CaseResult } from '../lib/case';
import { RssSampler, startCoordinator, startTsProcess } from '../lib/processes';
import { figure } from '../lib/report';
import { download, multipartAround, uploadFile, writeRandomZip } from '../lib/transfer';

/** Buffers and GC slack, not the file: a coordinator that held the ZIP whole would grow by all of it. */
const RSS_GROWTH_LIMIT_MIB = 64;

async function jsonCall<T>(url: string, token: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

async function run(ctx: CaseContext): Promise<CaseResult> {
  const dir = await ctx.tempDir('transfer');
  const zipFile = join(dir, 'bundle.zip');
  const size = await writeRandomZip(zipFile, (ctx.quick ? 50 : 200) * MiB);
  const mib = size / MiB;
  ctx.log(`made a ${mib.toFixed(0)} MiB ZIP`);

  const plain = startTsProcess('plain loopback server', 'load/plain-http.ts', { dir });
  let baseline;
  try {
    const url = (await plain.waitFor(/LISTENING (\S+)/, 30_000))[1]!;
    const up = await uploadFile(`${url}/upload`, { file: zipFile, size, headers: { 'content-type': 'application/octet-stream' } });
    const down = await download(`${url}/download`);
    if (down.body !== size) throw new Error(`the plain server sent back ${down.body} bytes of ${size}`);
    baseline = { uploadMiBs: mib / (up.ms / 1000), downloadMiBs: mib / (down.ms / 1000) };
  } finally {
    await plain.stop();
  }
  ctx.log(`plain loopback: upload ${baseline.uploadMiBs.toFixed(0)} MiB/s, download ${baseline.downloadMiBs.toFixed(0)} MiB/s`);

  const coordinator = await startCoordinator({ dataDir: join(dir, 'data'), nodeArgs: profileArgs(ctx, 'transfer-coordinator') });
  let measured;
  try {
    const registered = await jsonCall<RegisterWorkerResponse>(`${coordinator.url}${API_PREFIX}/workers`, coordinator.joinToken, { name: 'downloader', os: 'linux' });
    const roundTrip = async (file: string, bytes: number) => {
      const form = multipartAround({ spec: JSON.stringify({ commands: ['ls data'] }) }, 'bundle', 'bundle.zip');
      const up = await uploadFile(`${coordinator.url}${API_PREFIX}/jobs`, {
        file,
        size: bytes,
        headers: { authorization: `Bearer ${coordinator.adminToken}`, 'content-type': form.contentType },
        prefix: form.prefix,
        suffix: form.suffix,
      });
      if (up.status !== 201) throw new Error(`the upload answered ${up.status}: ${JSON.stringify(up.body)}`);
      const claim = await jsonCall<ClaimResponse>(`${coordinator.url}${API_PREFIX}/workers/${registered.worker.id}/claim`, registered.token, { waitMs: 0 });
      const down = await download(`${coordinator.url}${claim.bundleUrl}`, { authorization: `Bearer ${registered.token}` });
      if (down.status !== 200 || down.body !== bytes) throw new Error(`the worker got ${down.status} with ${down.body} bytes of ${bytes}`);
      await jsonCall(`${coordinator.url}${API_PREFIX}/leases/${claim.lease.id}/complete`, registered.token, { outcome: 'succeeded', exitCode: 0 });
      return { up, down };
    };
    // A small round first, so the figures leave out loading the upload code and warming up the JIT.
    const warmUpFile = join(dir, 'warm-up.zip');
    await roundTrip(warmUpFile, await writeRandomZip(warmUpFile, MiB));
    const rss = new RssSampler(coordinator.run.pid);
    const { up, down } = await roundTrip(zipFile, size);
    const memory = rss.stop();
    measured = {
      uploadMiBs: mib / (up.ms / 1000),
      downloadMiBs: mib / (down.ms / 1000),
      rssStartMiB: memory.start / MiB,
      rssPeakMiB: memory.peak / MiB,
      rssGrowthMiB: (memory.peak - memory.start) / MiB,
    };
  } finally {
    await coordinator.run.stop();
  }
  ctx.log(
    `coordinator: upload ${measured.uploadMiBs.toFixed(0)} MiB/s, download ${measured.downloadMiBs.toFixed(0)} MiB/s, ` +
      `RSS ${measured.rssStartMiB.toFixed(0)} → peak ${measured.rssPeakMiB.toFixed(0)} MiB`,
  );
  const zipLabel = `${mib.toFixed(0)} MiB ZIP`;
  return {
    figures: [
      figure(
        {
          case: '5. ZIP transfer',
          figure: `upload of a ${zipLabel} with a job (multipart, hashed, checked)`,
          value: measured.uploadMiBs,
          unit: 'MiB/s',
          reference: { label: 'plain loopback HTTP upload', value: baseline.uploadMiBs, unit: 'MiB/s' },
          target: '≥ 0.5× baseline',
        },
        (v, ref) => v >= 0.5 * ref,
      ),
      figure(
        {
          case: '5. ZIP transfer',
          figure: `worker's download of the ${zipLabel}`,
          value: measured.downloadMiBs,
          unit: 'MiB/s',
          reference: { label: 'plain loopback HTTP download', value: baseline.downloadMiBs, unit: 'MiB/s' },
          target: '≥ 0.5× baseline',
        },
        (v, ref) => v >= 0.5 * ref,
      ),
      figure(
        {
          case: '5. ZIP transfer',
          figure: `coordinator RSS growth (peak) during upload + download of the ${zipLabel}`,
          value: measured.rssGrowthMiB,
          unit: 'MiB',
          reference: { label: 'limit', value: RSS_GROWTH_LIMIT_MIB, unit: 'MiB' },
          target: `< ${RSS_GROWTH_LIMIT_MIB} MiB whatever the ZIP's size (streamed, never buffered whole)`,
        },
        (v, ref) => v < ref,
      ),
    ],
    details: { zipBytes: size, baseline, measured },
  };
}

export const transferCase: BenchCase = { id: '5', title: 'ZIP transfer (upload and worker download)', run };
