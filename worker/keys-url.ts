/**
 * AUTHORIZED_KEYS_URL: the Worker's AuthorizedKeysCommand. sshd setups often run `curl
 * https://github.com/%u.keys` as their command; a Worker has no processes, so it fetches the URL itself.
 *
 * - The template is an http(s) URL with %u (the user name, percent-encoded) and %% tokens; anything else is
 *   refused when the server starts (the session is refused with the reason, as for a missing HOST_KEY).
 * - Asked only when no AUTHORIZED_KEYS or USER_AUTHORIZED_KEYS line matched; the body is that user's
 *   authorized_keys, options included; any answer but 200 gives no keys.
 * - A user name templateSafeUserName refuses (empty, a leading `.` or `-`, `/`, whitespace, control
 *   characters) is never put into the URL.
 * - At most 64 KiB of body and 5 s; answers (and failures) are kept 60 s per isolate, at most 256 of them, so
 *   a login's key query and its signed attempt cost one fetch.
 * Whoever controls what the URL serves controls these logins: use https, from a host you trust.
 */
import { templateSafeUserName } from '../src/auth/authorized-keys.ts';
import { concatBytes } from '../src/wire/writer.ts';

export const KEYS_URL_TIMEOUT_MS = 5000;
export const KEYS_URL_BODY_MAX = 64 * 1024;
const CACHE_MS = 60_000;
const CACHE_MAX = 256;

/** Checks the template now; the returned function gives a user's authorized_keys text, or null. */
export function keysFromUrl(template: string, log: (line: string) => void): (username: string) => Promise<string | null> {
  const bad = /%(.?)/.exec(template.replace(/%[%u]/g, ''));
  if (bad) throw new Error(`AUTHORIZED_KEYS_URL: unknown token %${bad[1]} (known: %u, %%)`);
  let parsed: URL;
  try {
    parsed = new URL(template.replace(/%([%u])/g, (_, t: string) => (t === 'u' ? 'user' : '%25')));
  } catch {
    throw new Error(`AUTHORIZED_KEYS_URL is not a URL: ${template}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`AUTHORIZED_KEYS_URL must be http(s), not ${parsed.protocol}`);
  const cache = new Map<string, { until: number; text: Promise<string | null> }>();
  return (username) => {
    if (!templateSafeUserName(username)) {
      log(`AUTHORIZED_KEYS_URL not asked for user name ${JSON.stringify(username)}: not a name it may be given`);
      return Promise.resolve(null);
    }
    const url = template.replace(/%([%u])/g, (_, t: string) => (t === 'u' ? encodeURIComponent(username) : '%'));
    const now = Date.now();
    const hit = cache.get(url);
    if (hit && hit.until > now) return hit.text;
    if (cache.size >= CACHE_MAX) for (const [k, v] of cache) if (v.until <= now || cache.size >= CACHE_MAX) cache.delete(k);
    const text = fetchKeys(url).catch((e: unknown) => {
      log(`AUTHORIZED_KEYS_URL for ${username}: ${e instanceof Error ? e.message : String(e)}; no keys from it`);
      return null;
    });
    cache.set(url, { until: now + CACHE_MS, text });
    return text;
  };
}

async function fetchKeys(url: string): Promise<string | null> {
  const res = await fetch(url, { headers: { accept: 'text/plain', 'user-agent': 'edgessh' }, signal: AbortSignal.timeout(KEYS_URL_TIMEOUT_MS) });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}`);
  }
  const reader = res.body!.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > KEYS_URL_BODY_MAX) {
      await reader.cancel();
      throw new Error(`more than ${KEYS_URL_BODY_MAX} bytes`);
    }
    parts.push(value);
  }
  return new TextDecoder().decode(concatBytes(...parts));
}
