/**
 * Packet protection through node:crypto (OpenSSL), for servers and clients running in Node: the same
 * wire format as the portable protection (src/crypto/protection.ts), synchronous and several times
 * faster there, because Node's Web Crypto runs each AES call on its thread pool (measured ~280 MB/s per
 * CPU against OpenSSL's 1.4 GB/s on one thread) and ChaCha20 in JavaScript is a third of OpenSSL's speed.
 *
 * - AES-GCM and AES-CTR (+ HMAC) are OpenSSL's throughout. A CTR direction keeps one OpenSSL cipher
 *   whose keystream runs on from packet to packet, as the SSH counter does.
 * - chacha20-poly1305@openssh.com (src/crypto/chacha-native.ts): OpenSSL's ChaCha20 for the packet, our Poly1305 (Node has no bare
 *   Poly1305) and our ChaCha20 for the packet's Poly1305 key and its 4-byte length. Packets below CHACHA_NODE_MIN
 *   bytes stay wholly in JavaScript, where a cipher object per packet would cost more than it saves.
 *
 * Not in the runtime-neutral core: the Node CLI (`edgessh serve`) and Node applications pass it as
 * `createServer({ protection: nodeProtection })`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  getCiphers,
  getHashes,
  sign,
  type KeyObject,
} from 'node:crypto';
import {
  GCM_FRAMING,
  GCM_OPENER_FRAMING,
  MACS,
  PORTABLE_PROTECTION,
  ctrFraming,
  ctrOpenerFraming,
  ctrCounterAt,
  equalConstantTime,
  gcmIvAt,
  incrementIv,
  seqWord,
} from '../crypto/protection.ts';
import { nativeChachaOpener, nativeChachaSealer, type NativeChacha } from '../crypto/chacha-native.ts';
import { concatBytes, putUint32 } from '../wire/writer.ts';
import { getUint32 } from '../wire/reader.ts';
import { privateJwk, privateParts, signingKey } from '../crypto/hostkey/index.ts';
import type { DirectionKeys, PacketOpener, PacketProtection, PacketSealer, PrivateKey, X25519Factory } from '../crypto/types.ts';

/** Below this many bytes after the length, chacha20-poly1305 packets are sealed and opened in JavaScript. */
export const CHACHA_NODE_MIN = 8192;

/** A Buffer's bytes as a plain Uint8Array view (the core never sees a Buffer). */
const bytes = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** seal() from sealDetached(): the pieces joined. */
const joined = (sealDetached: (seq: number, packet: Uint8Array) => Uint8Array[]) => (seq: number, packet: Uint8Array) =>
  concatBytes(...sealDetached(seq, packet));

// ── AES-GCM @openssh.com ───────────────────────────────────────────────────────────────────────────

const gcmAlgorithm = (keys: DirectionKeys) => `aes-${keys.encKey.length * 8}-gcm` as 'aes-128-gcm';

function gcmSealer(keys: DirectionKeys, position: number): PacketSealer {
  const algorithm = gcmAlgorithm(keys);
  const key = createSecretKey(keys.encKey);
  const iv = gcmIvAt(keys, position);
  let packets = position;
  // Every piece is fresh memory from OpenSSL (or a 4-byte copy), so the transport frames in a reused buffer.
  const sealDetached = (_seq: number, packet: Uint8Array): Uint8Array[] => {
    const c = createCipheriv(algorithm, key, incrementIv(iv));
    packets++;
    const head = packet.slice(0, 4);
    c.setAAD(head);
    const ct = c.update(packet.subarray(4));
    c.final();
    return [head, ct, c.getAuthTag()];
  };
  return {
    save: () => ({ keys, position: packets }),
    ...GCM_FRAMING,
    sealDetached,
    seal: joined(sealDetached),
  };
}

function gcmOpener(keys: DirectionKeys, position: number): PacketOpener {
  const algorithm = gcmAlgorithm(keys);
  const key = createSecretKey(keys.encKey);
  const iv = gcmIvAt(keys, position);
  let packets = position;
  return {
    save: () => ({ keys, position: packets }),
    ...GCM_OPENER_FRAMING,
    copiesOut: true,
    open(_seq, wire) {
      const d = createDecipheriv(algorithm, key, incrementIv(iv));
      packets++;
      const body = wire.length - 16;
      d.setAAD(wire.subarray(0, 4));
      d.setAuthTag(wire.subarray(body));
      const plain = d.update(wire.subarray(4, body));
      try {
        d.final(); // throws when the tag does not verify; the plaintext is dropped unseen
      } catch {
        return null;
      }
      return bytes(plain);
    },
  };
}

// ── AES-CTR with HMAC ──────────────────────────────────────────────────────────────────────────────

/** One OpenSSL CTR cipher per direction, its keystream running on across packets; counts blocks used. */
function ctrStream(keys: DirectionKeys, position: number) {
  const algorithm = `aes-${keys.encKey.length * 8}-ctr`;
  const cipher = createCipheriv(algorithm, createSecretKey(keys.encKey), ctrCounterAt(keys.iv, position));
  let blocks = position;
  return {
    position: () => blocks,
    /** SSH feeds CTR whole blocks only (the transport checks the alignment before a packet is opened). */
    xor(data: Uint8Array): Uint8Array {
      blocks += Math.ceil(data.length / 16);
      return cipher.update(data);
    },
  };
}

function nodeMac(keys: DirectionKeys) {
  const m = MACS[keys.mac!.name]!;
  const key: KeyObject = createSecretKey(keys.macKey);
  const seqBytes = new Uint8Array(4);
  return {
    tagLength: m.tagLength,
    etm: m.etm,
    /** HMAC(key, uint32 seq || a || b). */
    compute(seq: number, a: Uint8Array, b?: Uint8Array): Uint8Array {
      putUint32(seqBytes, 0, seq);
      const h = createHmac(m.hash, key).update(seqBytes).update(a);
      return b ? h.update(b).digest() : h.digest();
    },
  };
}

function ctrSealer(keys: DirectionKeys, position: number): PacketSealer {
  const ctr = ctrStream(keys, position);
  const mac = nodeMac(keys);
  const sealDetached = (seq: number, packet: Uint8Array): Uint8Array[] => {
    if (mac.etm) {
      const head = packet.slice(0, 4);
      const ct = ctr.xor(packet.subarray(4));
      return [head, ct, mac.compute(seq, head, ct)];
    }
    const tag = mac.compute(seq, packet); // over the plaintext
    return [ctr.xor(packet), tag];
  };
  return {
    save: () => ({ keys, position: ctr.position() }),
    ...ctrFraming(mac.etm, mac.tagLength),
    sealDetached,
    seal: joined(sealDetached),
  };
}

function ctrOpener(keys: DirectionKeys, position: number): PacketOpener {
  const ctr = ctrStream(keys, position);
  const mac = nodeMac(keys);
  let firstBlock: Uint8Array | null = null;
  return {
    save: () => (firstBlock ? null : { keys, position: ctr.position() }),
    ...ctrOpenerFraming(mac.etm, mac.tagLength),
    copiesOut: true,
    readLength(_seq, head) {
      if (mac.etm) return getUint32(head, 0);
      // The length is inside the first encrypted block: decrypt it now, keep it for open().
      firstBlock = ctr.xor(head.subarray(0, 16));
      return getUint32(firstBlock, 0);
    },
    open(seq, wire) {
      const body = wire.length - mac.tagLength;
      const tag = wire.subarray(body);
      if (mac.etm) {
        // The MAC is checked first; the keystream is only spent on a packet that verifies (a bad MAC ends
        // the connection, so the position lost with it does not matter).
        if (!equalConstantTime(mac.compute(seq, wire.subarray(0, body)), tag)) return null;
        return bytes(ctr.xor(wire.subarray(4, body)));
      }
      const out = new Uint8Array(body);
      out.set(firstBlock!);
      firstBlock = null;
      if (body > 16) out.set(ctr.xor(wire.subarray(16, body)), 16);
      return equalConstantTime(mac.compute(seq, out), tag) ? out.subarray(4) : null;
    },
  };
}

// ── chacha20-poly1305@openssh.com ──────────────────────────────────────────────────────────────────

/** OpenSSL's ChaCha20 from block 1 (block 0 is the packet's Poly1305 key, made in JavaScript by chachaParts). */
const OPENSSL_CHACHA: NativeChacha = {
  minBytes: CHACHA_NODE_MIN,
  keystream(k2) {
    const key = createSecretKey(k2);
    const iv = new Uint8Array(16); // OpenSSL's 'chacha20' IV: the 32-bit block counter (little-endian), then the nonce
    iv[0] = 1;
    return (seq, data) => {
      putUint32(iv, 12, seq);
      return createCipheriv('chacha20', key, iv).update(data);
    };
  },
};

// ── The protection ─────────────────────────────────────────────────────────────────────────────────

/**
 * The OpenSSL cipher (and, for CTR, the HMAC hash) this build of Node must have to take a direction;
 * anything it lacks (a FIPS build without ChaCha20, say) is left to the portable protection.
 */
const available = new Set([...getCiphers(), ...getHashes()]);
function nodeCan(keys: DirectionKeys): 'chacha' | 'gcm' | 'ctr' | null {
  const name = keys.cipher.name;
  const bits = keys.encKey.length * 8;
  if (name === 'chacha20-poly1305@openssh.com') return available.has('chacha20') ? 'chacha' : null;
  if (name.endsWith('-gcm@openssh.com')) return available.has(`aes-${bits}-gcm`) ? 'gcm' : null;
  if (name.endsWith('-ctr') && keys.mac) return available.has(`aes-${bits}-ctr`) && available.has(MACS[keys.mac.name]!.hash) ? 'ctr' : null;
  return null;
}

const NODE = {
  chacha: { sealer: (k: DirectionKeys) => nativeChachaSealer(k, OPENSSL_CHACHA), opener: (k: DirectionKeys) => nativeChachaOpener(k, OPENSSL_CHACHA) },
  gcm: { sealer: gcmSealer, opener: gcmOpener },
  ctr: { sealer: ctrSealer, opener: ctrOpener },
};

export const nodeProtection: PacketProtection = {
  createSealer(keys, position = 0) {
    const kind = nodeCan(keys);
    return kind ? NODE[kind].sealer(keys, position) : PORTABLE_PROTECTION.createSealer(keys, position);
  },
  createOpener(keys, position = 0) {
    const kind = nodeCan(keys);
    return kind ? NODE[kind].opener(keys, position) : PORTABLE_PROTECTION.createOpener(keys, position);
  },
};

// ── Key exchange and host key signatures ─────────────────────────────────────────────────────────────
// Node's Web Crypto runs each X25519 and signing call as a job on its thread pool: a curve25519 key
// exchange's four calls cost 0.43 ms of CPU that way against ~0.1 ms synchronously, an Ed25519 signature
// 0.09 against 0.04 (measured here). These do the same synchronously, with OpenSSL.

/**
 * X25519 key pairs made by OpenSSL, for `createServer({ x25519: nodeX25519 })`. Public values cross as JWK:
 * OpenSSL's DER import and export cost 86 and 73 µs a call here, JWK 11 and 2.
 */
export const nodeX25519: X25519Factory = () => {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    publicKey: bytes(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')),
    shared(peer) {
      const x = Buffer.from(peer.buffer, peer.byteOffset, peer.length).toString('base64url');
      return bytes(diffieHellman({ privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' }) }));
    },
  };
};

const NODE_HASH: Record<string, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

/**
 * The same key, signing with OpenSSL (Ed25519, ECDSA and RSA alike). A key whose private parts are not
 * at hand (made outside src/crypto/hostkey) is returned as it is.
 */
export function nodeSigningKey(key: PrivateKey): PrivateKey {
  let parts;
  try {
    parts = privateParts(key);
  } catch {
    return key;
  }
  const k = createPrivateKey({ key: privateJwk(parts) as import('node:crypto').JsonWebKey, format: 'jwk' });
  return signingKey(parts, key.comment, (hash, data) =>
    bytes(hash ? sign(NODE_HASH[hash]!, data, { key: k, dsaEncoding: 'ieee-p1363' }) : sign(null, data, k)),
  );
}
