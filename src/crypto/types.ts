/**
 * The narrow interfaces between the transport and the algorithms (ARCHITECTURE.md: algorithms are data).
 * The transport only sees these; each wire name maps to one implementation in src/crypto/registry.ts.
 */

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** A synchronous hash function (noble is faster than Web Crypto below ~8 KiB, and kex hashes are small). */
export interface Hash {
  readonly name: HashName;
  readonly outputLength: number;
  digest(data: Uint8Array): Uint8Array;
}

// ── Key exchange ────────────────────────────────────────────────────────────────────────────────────

/**
 * A single-round key exchange (RFC 4253 §8 shape): the client sends its public value in message 30,
 * the server answers with its own in message 31. Covers finite-field DH (values are mpints), ECDH and
 * curve25519 (values are strings) and mlkem768x25519 (values are strings, K is a string).
 *
 * `publicValue` / `peerPublic` are the *contents* as they appear on the wire: for 'mpint' the mpint body
 * (two's complement big-endian, no length prefix), for 'string' the string body.
 * `K` is returned already encoded for the exchange hash and key derivation, length prefix included
 * (mpint encoding for DH/ECDH, string encoding for the ML-KEM hybrid — SPECS.md trap).
 * Invalid peer values throw SshError(KEY_EXCHANGE_FAILED, readable message).
 */
export interface KexMethod {
  readonly name: string;
  readonly hash: Hash;
  /** How public values travel in messages 30/31 (and 32/33 for group exchange). */
  readonly valueEncoding: 'mpint' | 'string';
  /** Group exchange: the transport negotiates (p, g) first, then calls `group(p, g)` (RFC 4419). */
  readonly groupExchange?: boolean;
  server(ctx?: KexContext): Promise<KexServerSide>;
  client(ctx?: KexContext): Promise<KexClientSide>;
}

/** One X25519 key pair: its public value, and the raw shared secret with a peer's 32-byte value. */
export interface X25519Pair {
  readonly publicKey: Uint8Array;
  shared(peer: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** Makes a fresh X25519 key pair for each key exchange (the default is Web Crypto's, else noble's). */
export type X25519Factory = () => X25519Pair | Promise<X25519Pair>;

/** What a key exchange may take from its runtime instead of the portable primitives. */
export interface KexContext {
  readonly x25519?: X25519Factory;
}

export interface KexServerSide {
  respond(peerPublic: Uint8Array): Promise<{ publicValue: Uint8Array; K: Uint8Array }>;
}

export interface KexClientSide {
  readonly publicValue: Uint8Array;
  finish(peerPublic: Uint8Array): Promise<Uint8Array>;
}

/** A finite-field group for diffie-hellman-group-exchange (RFC 4419). */
export interface DhGroup {
  readonly p: bigint;
  readonly g: bigint;
  readonly bits: number;
}

// ── Host keys and signatures ──────────────────────────────────────────────────────────────────────

/** A public key as SSH sees it (RFC 4253 §6.6). */
export interface PublicKey {
  /** Key type name: 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa', ... */
  readonly type: string;
  /** The public key blob (string type || key data), as sent in KEXDH_REPLY K_S and in userauth. */
  readonly blob: Uint8Array;
  /** Signature algorithms this key type can verify/produce (rsa: rsa-sha2-512, rsa-sha2-256, ssh-rsa). */
  readonly signatureAlgorithms: readonly string[];
  /** Verifies a signature blob (string algorithm || string signature) over data; false on any mismatch. */
  verify(signatureBlob: Uint8Array, data: Uint8Array, allowedAlgorithms?: readonly string[]): Promise<boolean>;
}

/** A private key that can sign: a host key, or a client's user key. */
export interface PrivateKey {
  readonly publicKey: PublicKey;
  readonly comment: string;
  /** Returns the signature blob (string algorithm || string signature) as SSH puts it on the wire. */
  sign(algorithm: string, data: Uint8Array): Promise<Uint8Array>;
}

// ── Packet protection (cipher + MAC for one direction) ──────────────────────────────────────────────

export interface CipherInfo {
  readonly name: string;
  readonly keyLength: number;
  readonly ivLength: number;
  readonly blockSize: number;
  /** An AEAD cipher carries its own tag; the negotiated MAC is ignored (OpenSSH PROTOCOL §1.6). */
  readonly aead: boolean;
}

export interface MacInfo {
  readonly name: string;
  readonly keyLength: number;
  readonly tagLength: number;
  /** encrypt-then-mac: the MAC covers seq || length || ciphertext; the length travels in the clear. */
  readonly etm: boolean;
}

/** Keys for one direction, derived per RFC 4253 §7.2. */
export interface DirectionKeys {
  readonly cipher: CipherInfo;
  readonly mac: MacInfo | null; // null for AEAD ciphers and for 'none'
  readonly iv: Uint8Array;
  readonly encKey: Uint8Array;
  readonly macKey: Uint8Array;
}

/**
 * Where a direction's cipher stands, to rebuild its sealer or opener after hibernation: the keys as
 * derived plus how far the cipher has advanced (GCM: packets, so the invocation counter; CTR: keystream
 * blocks; chacha20-poly1305: nothing, its nonce is the sequence number).
 */
export interface DirectionState {
  keys: DirectionKeys;
  position: number;
}

/**
 * Seals outgoing packets. Input is the plaintext packet `uint32 packet_length || byte padding_length ||
 * payload || padding` (RFC 4253 §6) already padded by the transport to `blockSize`, aligning either the
 * whole packet (`lengthInAlignment`) or everything after the length field (ETM / AEAD).
 * Output is the bytes for the wire: encrypted packet plus tag/MAC.
 */
export interface PacketSealer {
  readonly blockSize: number;
  readonly lengthInAlignment: boolean;
  readonly tagLength: number;
  seal(seq: number, packet: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /**
   * As seal, but `packet` is followed in its buffer by `tagLength` spare bytes (framePacket with room) and
   * is encrypted where it lies; returns the wire bytes over the same memory. Only where no copy is needed.
   */
  sealInPlace?(seq: number, packet: Uint8Array): Uint8Array;
  /**
   * As seal, but the wire bytes come back in pieces, to be sent in order (joining them would cost a fresh
   * buffer and a copy per packet). `packet` may be a frame from framePacket with room: it is read
   * before the returned promise settles, and nothing writes over a slab frame.
   */
  sealParts?(seq: number, packet: Uint8Array): Promise<Uint8Array[]>;
  /**
   * As seal, synchronously, into fresh memory: the wire bytes come back in pieces none of which views
   * `packet`, so the transport frames every packet in one reused buffer (no slab, no fresh frame).
   */
  sealDetached?(seq: number, packet: Uint8Array): Uint8Array[];
  /** The state to rebuild this sealer with `createSealer(keys, position)`; absent for 'none'. */
  save?(): DirectionState;
}

/**
 * Opens incoming packets in two steps: `readLength` sees the first `headLength` bytes and returns
 * packet_length (may decrypt; an opener may keep state between the two calls for the same packet);
 * `open` gets the whole wire packet (4 + packet_length + tagLength bytes) and returns the plaintext
 * after the length field (padding_length || payload || padding: the sealer's input less its first 4
 * bytes, so no cipher has to copy its plaintext behind the length), or null when the MAC/tag does not
 * verify (compared in constant time). Callers bound packet_length before buffering the rest.
 */
export interface PacketOpener {
  readonly headLength: number;
  readonly blockSize: number;
  readonly lengthInAlignment: boolean;
  readonly tagLength: number;
  readLength(seq: number, head: Uint8Array): number | Promise<number>;
  /**
   * True when packet_length travels unencrypted and readLength is a synchronous pure function of the
   * head (AES-GCM, encrypt-then-MAC): then later packets can be framed, and opened, before their turn.
   * Such an opener must leave `wire` unchanged (a packet opened ahead under old keys is read again).
   */
  readonly lengthInClear?: boolean;
  /** padding_length || payload || padding, or null when the tag or MAC is wrong. May decrypt `wire` in place (after checking it). */
  open(seq: number, wire: Uint8Array): Uint8Array | null | Promise<Uint8Array | null>;
  /** As PacketSealer.save; null between readLength and open when readLength moved the cipher on. */
  save?(): DirectionState | null;
  /**
   * True when open() is synchronous, never returns a view of `wire` and keeps no reference to it: the
   * transport may then hand it bytes joined in a buffer it reuses (ByteQueue.takeTransient).
   */
  readonly copiesOut?: boolean;
}

/**
 * Makes the sealer and opener for a direction's negotiated keys. The portable one (Web Crypto and our
 * JavaScript cores; src/crypto/protection.ts) runs everywhere; a runtime adapter may pass its own that
 * does the same work faster (src/io/node-crypto.ts: OpenSSL through node:crypto) and hand anything it
 * does not cover to the portable one. `position` resumes a saved direction (see DirectionState).
 */
export interface PacketProtection {
  createSealer(keys: DirectionKeys, position?: number): PacketSealer;
  createOpener(keys: DirectionKeys, position?: number): PacketOpener;
}

// ── Compression ───────────────────────────────────────────────────────────────────────────────────

/** zlib@openssh.com: one deflate stream per direction, each packet ended by a partial flush. */
export interface Compressor {
  compress(payload: Uint8Array): Uint8Array;
}

export interface Decompressor {
  /** Throws SshError(COMPRESSION_ERROR) on corrupt input or when the output would exceed maxOutput. */
  decompress(data: Uint8Array, maxOutput: number): Uint8Array;
}
