// Real ZIP archives for tests, including hostile ones. yazl refuses unsafe names, so hostile names are
// written as a harmless placeholder of the same length and patched in the bytes (the CRC covers data only).
import yazl from 'yazl';

export interface ZipEntry {
  name: string;
  data: string | Buffer;
  /** Unix mode; 0o120777 makes a symlink whose data is its target. */
  mode?: number;
  compress?: boolean;
}

export async function makeZip(entries: ZipEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const renames: [string, string][] = [];
  for (const [i, entry] of entries.entries()) {
    let name = entry.name;
    if (/(^|[\\/])\.\.([\\/]|$)|^[\\/]|^[A-Za-z]:/.test(name)) {
      const placeholder = `p${String(i).padStart(name.length - 1, '0')}`.slice(0, name.length);
      renames.push([placeholder, name]);
      name = placeholder;
    }
    zip.addBuffer(Buffer.from(entry.data), name, {
      ...(entry.mode !== undefined ? { mode: entry.mode } : {}),
      compress: entry.compress ?? true,
    });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  let bytes: Buffer = Buffer.concat(chunks);
  for (const [placeholder, real] of renames) bytes = replaceAll(bytes, Buffer.from(placeholder), Buffer.from(real));
  return bytes;
}

function replaceAll(haystack: Buffer, from: Buffer, to: Buffer): Buffer {
  const out = Buffer.from(haystack);
  let at = out.indexOf(from);
  while (at >= 0) {
    to.copy(out, at);
    at = out.indexOf(from, at + from.length);
  }
  return out;
}

export const hostileZips = {
  zipSlip: () => makeZip([{ name: '../../evil.txt', data: 'pwned' }]),
  absolutePath: () => makeZip([{ name: '/tmp/cmdx-evil.txt', data: 'pwned' }]),
  symlinkEscape: () => makeZip([{ name: 'link', data: '../../../etc', mode: 0o120777 }]),
  /** 64 MiB of zeros in a few dozen KiB. */
  bombBySize: () => makeZip([{ name: 'zeros.bin', data: Buffer.alloc(64 * 1024 * 1024) }]),
  bombByEntries: (count: number) =>
    makeZip(Array.from({ length: count }, (_, i) => ({ name: `f${i}.txt`, data: '', compress: false }))),
};
