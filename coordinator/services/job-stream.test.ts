// Output frames quote text faster than JSON.stringify when it is plain lines: the same JSON either way.
import { describe, expect, it } from 'vitest';
import { jsonString } from './job-stream';

describe('jsonString', () => {
  it('quotes text exactly as JSON.stringify does', () => {
    const texts = [
      '',
      'plain line\n'.repeat(50),
      'a "quoted" word\n',
      'back\\slash\n',
      'tab\there\r\n',
      '\u0000\u001f\u007f',
      'progress 10%\rprogress 20%\r',
      'emoji 🎉 and accents éü\n',
      'lone \ud800 surrogate',
      'separators \u2028\u2029\n',
      '\x1b[31mred\x1b[0m\n',
    ];
    for (const text of texts) {
      expect(jsonString(text), JSON.stringify(text)).toBe(JSON.stringify(text));
      expect(JSON.parse(jsonString(text))).toBe(text);
    }
  });
});
