// The pool announces itself on the LAN over DNS-SD/mDNS (`_cmdx._tcp`, protocol/pool-record.ts) so the desktop
// app and `worker --discover` list it without anyone typing an address. Off with --no-advertise.
import os from 'node:os';
import { Bonjour, type ServiceConfig } from 'bonjour-service';
import { encodePoolTxt, POOL_SERVICE_TYPE, type PoolAdvert } from '../../protocol/pool-record';
import type { Logger } from '../middleware/errors';

export interface Advertisement {
  /** Says goodbye on the network (so browsers drop the pool at once) and closes the mDNS socket. */
  stop(): Promise<void>;
}

/**
 * The DNS-SD instance name: unique per machine and port, so two pools on one PC do not collide (the people-facing
 * name travels in the TXT record). No dots: they separate DNS labels.
 */
export function instanceName(port: number, hostname = os.hostname()): string {
  return `${hostname.replace(/[.\s]+/g, '-').slice(0, 40)}-${port}`;
}

export function advertisePool(advert: PoolAdvert, port: number, logger: Logger): Advertisement {
  const bonjour = new Bonjour({}, (err: Error) => logger.warn('mDNS advertisement failed', { error: err.message }));
  const config: ServiceConfig = { name: instanceName(port), type: POOL_SERVICE_TYPE, port, txt: encodePoolTxt(advert) };
  const service = bonjour.publish(config);
  service.on('error', (err: Error) => logger.warn('mDNS advertisement failed', { error: err.message }));
  logger.info('advertising the pool on the LAN', { service: `_${POOL_SERVICE_TYPE}._tcp`, name: advert.name, port });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        bonjour.unpublishAll(() => bonjour.destroy(() => resolve()));
      }),
  };
}
