// The label that pins a job to one PC ("This PC" in the desktop app). Every agent carries `host:<its name>`;
// the renderer adds the same label to a job, so both sides must derive it the same way from the name.
import { labelSchema } from './api';

export function hostLabel(name: string): string {
  const label = `host:${name.replace(/[^A-Za-z0-9._:-]/g, '-')}`.slice(0, 64);
  return labelSchema.safeParse(label).success ? label : 'host:unnamed';
}
