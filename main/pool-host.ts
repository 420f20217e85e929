// "Host the pool on this PC": the coordinator runs inside the app's main process, bound to the LAN.
//
// Why the main process and not a utilityProcess: the coordinator is I/O-bound Koa plus short SQLite statements (WAL),
// far below what would make the window stutter; running it in-process keeps one copy of better-sqlite3 (rebuilt for
// Electron by electron-builder), needs no second bundle entry or message protocol to hand back its URL and tokens, and
// the embedded agent talks to it over HTTP like every other worker does. The price is that a coordinator crash takes
// the app down: the coordinator turns request errors into JSON answers, and start() failures (port taken, data dir
// unusable) surface as a message in the window instead.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCoordinator, type Coordinator } from '../coordinator/app';
import type { Logger } from '../coordinator/middleware/errors';
import { API_PREFIX } from '../protocol/api';
import type { PoolInfo } from '../protocol/ipc';
import { transportFetch } from './agent/transport';

export interface PoolHostOptions {
  /** Holds the coordinator's store, blobs and tokens (userData/pool). */
  dataDir: string;
  /** 0.0.0.0 in the app (colleagues must reach it); tests bind 127.0.0.1. */
  host: string;
  port: number;
  /** The built renderer, so colleagues can use the pool from a browser too. */
  staticDir: string | null;
  /** The app's version, announced on the LAN with the pool. */
  version?: string;
  logger: Logger;
}

export interface HostedPool {
  /** The coordinator as this PC reaches it (loopback). */
  localUrl: string;
  adminToken: string;
  /** SHA-256 of the TLS certificate it serves (off loopback, always): this PC's clients pin it. */
  fingerprint: string | null;
  info: PoolInfo;
}

/** The addresses colleagues can type: one per LAN IPv4 address (IPv6 link-local ones are not typeable). */
export function lanUrls(
  port: number,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
  scheme: 'http' | 'https' = 'http',
): string[] {
  const urls: string[] = [];
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) urls.push(`${scheme}://${address.address}:${port}`);
    }
  }
  return urls;
}

export class PoolHost {
  private coordinator: Coordinator | null = null;

  constructor(private readonly options: PoolHostOptions) {}

  async start(): Promise<HostedPool> {
    const { dataDir, host, port, staticDir, version, logger } = this.options;
    // Announced on the LAN (never while bound to loopback), so colleagues' apps list it.
    const coordinator = createCoordinator({ dataDir, host, port, staticDir, logger, advertise: true, ...(version ? { version } : {}) });
    try {
      await coordinator.start();
    } catch (err) {
      await coordinator.stop().catch(() => undefined); // closes the store it may have opened
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new Error(`port ${port} is already in use on this PC: choose another port in Settings`, { cause: err });
      if (code === 'EACCES') throw new Error(`this PC does not allow the app to listen on port ${port}: choose a port above 1024`, { cause: err });
      throw err;
    }
    this.coordinator = coordinator;
    const boundPort = Number(new URL(coordinator.url).port);
    const submitToken = await this.colleaguesToken(coordinator);
    const scheme = coordinator.fingerprint ? 'https' : 'http';
    const urls = host === '0.0.0.0' || host === '::' ? lanUrls(boundPort, os.networkInterfaces(), scheme) : [coordinator.url];
    return {
      localUrl: coordinator.url,
      adminToken: coordinator.adminToken,
      fingerprint: coordinator.fingerprint,
      info: {
        urls: urls.length > 0 ? urls : [coordinator.url],
        joinToken: coordinator.joinToken,
        submitToken,
        fingerprint: coordinator.fingerprint,
      },
    };
  }

  async stop(): Promise<void> {
    const coordinator = this.coordinator;
    this.coordinator = null;
    await coordinator?.stop();
  }

  /** One submit token for colleagues, kept beside the pool's data so it stays the same across restarts. */
  private async colleaguesToken(coordinator: Coordinator): Promise<string> {
    const file = path.join(this.options.dataDir, 'colleagues.token');
    const kept = await fs.readFile(file, 'utf8').then((text) => text.trim(), () => '');
    if (kept) {
      // The store may have been reset since (a deleted data dir keeps no tokens): check it still opens the door.
      const pinned = transportFetch(coordinator.url, coordinator.fingerprint ? { fingerprint: coordinator.fingerprint } : {});
      const response = await pinned(`${coordinator.url}${API_PREFIX}/jobs?limit=1`, { headers: { authorization: `Bearer ${kept}` } });
      await response.body?.cancel();
      if (response.ok) return kept;
    }
    const token = await coordinator.createToken('colleagues', 'submit');
    await fs.writeFile(file, `${token}\n`, { mode: 0o600 });
    return token;
  }
}
