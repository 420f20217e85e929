// HTTPS by default off loopback: the coordinator serves the certificate it is given, or one it makes once and
// keeps in DIR/tls (key readable by its owner only). Clients pin the certificate's SHA-256 fingerprint, which
// the banner and every invite carry, so a self-signed certificate is as trustworthy as the channel the
// fingerprint came through.
import 'reflect-metadata';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { isLoopbackHost } from '../../protocol/addresses';

export interface TlsMaterial {
  cert: string | Buffer;
  key: string | Buffer;
}

const certFile = (dataDir: string) => join(dataDir, 'tls', 'cert.pem');
const keyFile = (dataDir: string) => join(dataDir, 'tls', 'key.pem');

/** `AB:CD:…` (as Node prints it), the form the banner, invites and `--fingerprint` use. */
export function fingerprintOf(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256;
}

/** The fingerprint of the certificate kept in the data dir, or null when there is none. */
export async function certificateFingerprint(dataDir: string): Promise<string | null> {
  try {
    return fingerprintOf(await readFile(certFile(dataDir)));
  } catch {
    return null;
  }
}

const pem = (label: string, der: ArrayBuffer) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END ${label}-----\n`;

/** The names this machine answers to: the certificate lists them, for browsers (clients pin instead). */
function localNames(): x509.JsonGeneralName[] {
  const names: x509.JsonGeneralName[] = [
    { type: 'dns', value: 'localhost' },
    { type: 'dns', value: os.hostname() },
  ];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const address of list ?? []) if (isIP(address.address) === 4) names.push({ type: 'ip', value: address.address });
  }
  return names;
}

/** The kept certificate, or a new self-signed one (ECDSA P-256, 10 years) made now and kept. */
export async function loadOrCreateCertificate(dataDir: string): Promise<TlsMaterial> {
  try {
    return { cert: await readFile(certFile(dataDir)), key: await readFile(keyFile(dataDir)) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  x509.cryptoProvider.set(webcrypto as never);
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const notBefore = new Date(Date.now() - 3600_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=cmd-executor coordinator on ${os.hostname().replace(/[,=+<>#;"\\]/g, '-')}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 10 * 365 * 86400_000),
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams['keys'],
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension(localNames()),
    ],
  });
  const cert = certificate.toString('pem');
  const key = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  await mkdir(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  await writeFile(keyFile(dataDir), key, { mode: 0o600 });
  await chmod(keyFile(dataDir), 0o600);
  await writeFile(certFile(dataDir), cert);
  return { cert, key };
}

/**
 * Whether the coordinator serves HTTPS: always with a given certificate; bound to anything but loopback, with its
 * own self-signed one unless plain HTTP was asked for.
 */
export function tlsMode(bindHost: string, tls: TlsMaterial | 'self-signed' | undefined, insecureHttp: boolean): 'given' | 'self-signed' | 'none' {
  if (tls && tls !== 'self-signed') return 'given';
  if (tls === 'self-signed' || (!insecureHttp && !isLoopbackHost(bindHost))) return 'self-signed';
  return 'none';
}
