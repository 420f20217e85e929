// Job secrets are write-only: stored by the coordinator, handed to the worker holding the lease, and masked
// wherever output is carried (the agent masks before sending, the coordinator again when it stores), as CI
// runners do. Masking is literal and per chunk of output.
export const SECRET_MASK = '***';

/** Shorter values would mask ordinary output (and a 3-character secret is no secret). */
export const SECRET_MIN_LENGTH = 4;

/** `text` with every occurrence of each secret value replaced by the mask, longest values first. */
export function maskSecrets(text: string, values: readonly string[]): string {
  let masked = text;
  for (const value of [...values].sort((a, b) => b.length - a.length)) {
    if (value.length >= SECRET_MIN_LENGTH && masked.includes(value)) masked = masked.split(value).join(SECRET_MASK);
  }
  return masked;
}

/** `data` (output bytes of whole characters) masked as `maskSecrets` masks text; the same buffer when no secret occurs in it. */
export function maskSecretBytes(data: Buffer, values: readonly string[]): Buffer {
  const present = values.some((value) => value.length >= SECRET_MIN_LENGTH && data.includes(value));
  return present ? Buffer.from(maskSecrets(data.toString('utf8'), values)) : data;
}
