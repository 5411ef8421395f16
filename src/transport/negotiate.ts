/** KEXINIT encoding and algorithm negotiation (RFC 4253 §7.1). */
import { Reader } from '../wire/reader.ts';
import { Writer } from '../wire/writer.ts';
import { DISCONNECT, MSG, SshError } from '../wire/messages.ts';

export interface KexinitLists {
  kex: string[];
  hostKey: string[];
  cipherC2S: string[];
  cipherS2C: string[];
  macC2S: string[];
  macS2C: string[];
  compressionC2S: string[];
  compressionS2C: string[];
  languagesC2S: string[];
  languagesS2C: string[];
}

export interface Kexinit extends KexinitLists {
  cookie: Uint8Array;
  firstKexPacketFollows: boolean;
  reserved: number;
}

export interface Negotiated {
  kex: string;
  hostKey: string;
  cipherC2S: string;
  cipherS2C: string;
  macC2S: string | null;
  macS2C: string | null;
  compressionC2S: string;
  compressionS2C: string;
}

export function encodeKexinit(lists: KexinitLists, cookie: Uint8Array, firstKexPacketFollows = false): Uint8Array {
  const w = new Writer(1024).byte(MSG.KEXINIT).raw(cookie);
  w.nameList(lists.kex).nameList(lists.hostKey);
  w.nameList(lists.cipherC2S).nameList(lists.cipherS2C);
  w.nameList(lists.macC2S).nameList(lists.macS2C);
  w.nameList(lists.compressionC2S).nameList(lists.compressionS2C);
  w.nameList(lists.languagesC2S).nameList(lists.languagesS2C);
  return w.boolean(firstKexPacketFollows).uint32(0).finish();
}

export function decodeKexinit(payload: Uint8Array): Kexinit {
  const r = new Reader(payload, 1);
  const cookie = r.raw(16);
  const k: Kexinit = {
    cookie,
    kex: r.nameList(),
    hostKey: r.nameList(),
    cipherC2S: r.nameList(),
    cipherS2C: r.nameList(),
    macC2S: r.nameList(),
    macS2C: r.nameList(),
    compressionC2S: r.nameList(),
    compressionS2C: r.nameList(),
    languagesC2S: r.nameList(),
    languagesS2C: r.nameList(),
    firstKexPacketFollows: r.boolean(),
    reserved: r.uint32(),
  };
  // RFC 4253 §7.1 leaves room for extension data after `reserved`; tolerate it as OpenSSH does.
  return k;
}

/** Names in kex lists that signal features rather than name algorithms (never chosen). */
export const KEX_PSEUDO = new Set([
  'ext-info-c',
  'ext-info-s',
  'kex-strict-c-v00@openssh.com',
  'kex-strict-s-v00@openssh.com',
  'kexguess2@matt.ucc.asn.au',
]);

/** The client's preference wins: the first client algorithm the server also has (RFC 4253 §7.1). */
export function pick(client: readonly string[], server: readonly string[], skip?: Set<string>): string | null {
  for (const a of client) if (!skip?.has(a) && server.includes(a)) return a;
  return null;
}

export interface AlgorithmFacts {
  /** Key exchange methods that need a host key able to encrypt vs sign: all of ours need signing. */
  isAead(cipher: string): boolean;
}

export function negotiate(client: Kexinit, server: Kexinit, facts: AlgorithmFacts): Negotiated {
  const need = (v: string | null, what: string): string => {
    if (v === null) throw new SshError(DISCONNECT.KEY_EXCHANGE_FAILED, `no matching ${what} found`);
    return v;
  };
  const kex = need(pick(client.kex, server.kex, KEX_PSEUDO), 'key exchange method');
  const hostKey = need(pick(client.hostKey, server.hostKey), 'host key algorithm');
  const cipherC2S = need(pick(client.cipherC2S, server.cipherC2S), 'cipher (client to server)');
  const cipherS2C = need(pick(client.cipherS2C, server.cipherS2C), 'cipher (server to client)');
  // AEAD ciphers carry their own tag; the MAC list is then ignored (OpenSSH PROTOCOL §1.6).
  const macC2S = facts.isAead(cipherC2S) ? null : need(pick(client.macC2S, server.macC2S), 'MAC (client to server)');
  const macS2C = facts.isAead(cipherS2C) ? null : need(pick(client.macS2C, server.macS2C), 'MAC (server to client)');
  const compressionC2S = need(pick(client.compressionC2S, server.compressionC2S), 'compression (client to server)');
  const compressionS2C = need(pick(client.compressionS2C, server.compressionS2C), 'compression (server to client)');
  return { kex, hostKey, cipherC2S, cipherS2C, macC2S, macS2C, compressionC2S, compressionS2C };
}

/** Dropbear's extension: with it on both sides, a guess is right when it is what negotiation picked. */
export const KEXGUESS2 = 'kexguess2@matt.ucc.asn.au';

/**
 * Whether the sender's guessed kex packet fits (RFC 4253 §7). As OpenSSH and Dropbear do: the guess is
 * right when both sides list the same first kex method and the same first host key algorithm; with
 * kexguess2 on both sides, when the sender's first choices are what negotiation picked.
 */
export function guessWasRight(sender: Kexinit, other: Kexinit, chosen: Negotiated): boolean {
  if (sender.kex.includes(KEXGUESS2) && other.kex.includes(KEXGUESS2))
    return sender.kex[0] === chosen.kex && sender.hostKey[0] === chosen.hostKey;
  return sender.kex[0] === other.kex[0] && sender.hostKey[0] === other.hostKey[0];
}
