// Finds the pools on the LAN: browses DNS-SD `_cmdx._tcp` and keeps the ones whose TXT record is a pool's
// (protocol/pool-record.ts). Used by the desktop app (first run, Settings) and `npm run worker -- --discover`.
import { isIP } from 'node:net';
import { Bonjour, type Browser, type Service } from 'bonjour-service';
import { decodePoolTxt, POOL_SERVICE_TYPE, poolList, poolUrl, type DiscoveredPool } from '../../protocol/pool-record';

/** The address to reach an announced service at: an IPv4 address it announced, else the one its answer came from. */
function addressOf(service: Service): string | null {
  const announced = (service.addresses ?? []).filter((address) => isIP(address) === 4);
  return announced[0] ?? service.referer?.address ?? null;
}

/** The pool an announced service is, or null when it is not one (see decodePoolTxt). */
export function poolOf(service: Service): DiscoveredPool | null {
  const advert = decodePoolTxt(service.txt);
  const address = addressOf(service);
  if ('invalid' in advert || !address || !Number.isInteger(service.port) || service.port < 1) return null;
  return { ...advert, url: poolUrl(advert.scheme, address, service.port) };
}

/** Browses until stopped: `pools()` is what is on the LAN now (pools that say goodbye leave the list). */
export class PoolBrowser {
  private readonly bonjour: Bonjour;
  private readonly browser: Browser;

  constructor(onChange: (pools: DiscoveredPool[]) => void = () => {}, onError: (err: Error) => void = () => {}) {
    this.bonjour = new Bonjour({}, onError);
    this.browser = this.bonjour.find({ type: POOL_SERVICE_TYPE });
    const changed = () => onChange(this.pools());
    this.browser.on('up', changed);
    this.browser.on('down', changed);
    this.browser.on('txt-update', changed);
    this.browser.on('srv-update', changed);
  }

  pools(): DiscoveredPool[] {
    return poolList(this.browser.services.map(poolOf).filter((pool): pool is DiscoveredPool => pool !== null));
  }

  stop(): Promise<void> {
    this.browser.stop();
    return new Promise((resolve) => this.bonjour.destroy(() => resolve()));
  }
}

export interface DiscoverOptions {
  /** How long to listen for answers. */
  timeoutMs: number;
  /** Stop early once this holds (a test waiting for the pools it started). */
  enough?: (pools: DiscoveredPool[]) => boolean;
  /** The mDNS socket failed (no network, port 5353 refused): the list stays as it is. */
  onError?: (err: Error) => void;
}

/** The pools that answer within `timeoutMs`. */
export async function discoverPools({ timeoutMs, enough = () => false, onError }: DiscoverOptions): Promise<DiscoveredPool[]> {
  let finish = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const browser = new PoolBrowser((pools) => {
    if (enough(pools)) finish();
  }, onError);
  const timer = setTimeout(finish, timeoutMs);
  try {
    await done;
    return browser.pools();
  } finally {
    clearTimeout(timer);
    await browser.stop();
  }
}
