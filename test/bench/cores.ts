// The two JavaScript cores of chacha20-poly1305@openssh.com on their own, over 32 KiB buffers: what a seal
// plus an open (each runs both once) can reach at best. Run by bench section 2 in Node and in workerd.
import { chacha20Xor, keyWords } from '../../src/crypto/chacha20.ts';
import { poly1305Tag } from '../../src/crypto/poly1305.ts';

export function coreRounds(core: 'chacha20' | 'poly1305'): (bytes: number) => void {
  const buf = crypto.getRandomValues(new Uint8Array(32 * 1024));
  const key = crypto.getRandomValues(new Uint8Array(32));
  const words = keyWords(key);
  return (bytes) => {
    for (let done = 0; done < bytes; done += buf.length) {
      if (core === 'chacha20') chacha20Xor(words, 0, 0, done, 1, buf, buf);
      else poly1305Tag(key, buf);
    }
  };
}
