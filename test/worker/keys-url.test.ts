// AUTHORIZED_KEYS_URL (worker/keys-url.ts) inside workerd, with fetch stubbed: the template checked at start,
// names kept out of the URL, what a user gets for each kind of answer, and one fetch per user a minute.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KEYS_URL_BODY_MAX, keysFromUrl } from '../../worker/keys-url.ts';

afterEach(() => vi.unstubAllGlobals());

describe('AUTHORIZED_KEYS_URL', () => {
  it('refuses a template with an unknown token, or that is not an http(s) URL', () => {
    expect(() => keysFromUrl('https://keys.example/%h', () => {})).toThrow(/unknown token %h/);
    expect(() => keysFromUrl('file:///etc/%u', () => {})).toThrow(/must be http\(s\)/);
    expect(() => keysFromUrl('not a url %u', () => {})).toThrow(/not a URL/);
  });

  it('fetches the user name percent-encoded, keeps the answer, and gives nothing for a non-200, a body too large or a failure', async () => {
    const urls: string[] = [];
    const answers: Record<string, () => Response> = {
      'https://keys.example/alice%2Bops.keys?x=%41': () => new Response('ssh-ed25519 AAAA alice\n'),
      'https://keys.example/bob.keys?x=%41': () => new Response('Not Found', { status: 404 }),
      'https://keys.example/carol.keys?x=%41': () => new Response('#'.repeat(KEYS_URL_BODY_MAX + 1)),
    };
    vi.stubGlobal('fetch', async (url: string) => {
      urls.push(url);
      const a = answers[url];
      if (!a) throw new TypeError('network connection lost');
      return a();
    });
    const log: string[] = [];
    const keys = keysFromUrl('https://keys.example/%u.keys?x=%%41', (l) => log.push(l));
    expect(await keys('alice+ops')).toBe('ssh-ed25519 AAAA alice\n');
    expect(await keys('alice+ops')).toBe('ssh-ed25519 AAAA alice\n');
    expect(urls).toEqual(['https://keys.example/alice%2Bops.keys?x=%41']);
    expect(await keys('bob')).toBeNull();
    expect(await keys('carol')).toBeNull();
    expect(await keys('dave')).toBeNull();
    expect(log).toEqual([
      'AUTHORIZED_KEYS_URL for bob: HTTP 404; no keys from it',
      `AUTHORIZED_KEYS_URL for carol: more than ${KEYS_URL_BODY_MAX} bytes; no keys from it`,
      'AUTHORIZED_KEYS_URL for dave: network connection lost; no keys from it',
    ]);
    // Names that could change the URL's meaning are not put into it at all.
    for (const name of ['..', '.hidden', '-x', 'a/b', 'a b', '']) expect(await keys(name), name).toBeNull();
    expect(urls).toHaveLength(4);
    expect(log.at(-1)).toBe('AUTHORIZED_KEYS_URL not asked for user name "": not a name it may be given');
  });
});
