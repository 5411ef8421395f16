/** Message numbers (RFC 4250 §4.1) and disconnect reasons (RFC 4250 §4.2.2). */
import { putUint32 } from './writer.ts';

export const MSG = {
  DISCONNECT: 1,
  IGNORE: 2,
  UNIMPLEMENTED: 3,
  DEBUG: 4,
  SERVICE_REQUEST: 5,
  SERVICE_ACCEPT: 6,
  EXT_INFO: 7,
  NEWCOMPRESS: 8,
  KEXINIT: 20,
  NEWKEYS: 21,
  // 30-49: key-exchange-method specific; the meaning depends on the negotiated kex (SPECS.md trap).
  KEXDH_INIT: 30,
  KEXDH_REPLY: 31,
  KEX_DH_GEX_REQUEST_OLD: 30,
  KEX_DH_GEX_GROUP: 31,
  KEX_DH_GEX_INIT: 32,
  KEX_DH_GEX_REPLY: 33,
  KEX_DH_GEX_REQUEST: 34,
  USERAUTH_REQUEST: 50,
  USERAUTH_FAILURE: 51,
  USERAUTH_SUCCESS: 52,
  USERAUTH_BANNER: 53,
  USERAUTH_PK_OK: 60,
  USERAUTH_PASSWD_CHANGEREQ: 60,
  USERAUTH_INFO_REQUEST: 60,
  USERAUTH_INFO_RESPONSE: 61,
  GLOBAL_REQUEST: 80,
  REQUEST_SUCCESS: 81,
  REQUEST_FAILURE: 82,
  CHANNEL_OPEN: 90,
  CHANNEL_OPEN_CONFIRMATION: 91,
  CHANNEL_OPEN_FAILURE: 92,
  CHANNEL_WINDOW_ADJUST: 93,
  CHANNEL_DATA: 94,
  CHANNEL_EXTENDED_DATA: 95,
  CHANNEL_EOF: 96,
  CHANNEL_CLOSE: 97,
  CHANNEL_REQUEST: 98,
  CHANNEL_SUCCESS: 99,
  CHANNEL_FAILURE: 100,
} as const;

export const DISCONNECT = {
  HOST_NOT_ALLOWED_TO_CONNECT: 1,
  PROTOCOL_ERROR: 2,
  KEY_EXCHANGE_FAILED: 3,
  RESERVED: 4,
  MAC_ERROR: 5,
  COMPRESSION_ERROR: 6,
  SERVICE_NOT_AVAILABLE: 7,
  PROTOCOL_VERSION_NOT_SUPPORTED: 8,
  HOST_KEY_NOT_VERIFIABLE: 9,
  CONNECTION_LOST: 10,
  BY_APPLICATION: 11,
  TOO_MANY_CONNECTIONS: 12,
  AUTH_CANCELLED_BY_USER: 13,
  NO_MORE_AUTH_METHODS_AVAILABLE: 14,
  ILLEGAL_USER_NAME: 15,
} as const;

export type DisconnectReason = (typeof DISCONNECT)[keyof typeof DISCONNECT];

const disconnectNames = new Map<number, string>(Object.entries(DISCONNECT).map(([k, v]) => [v, k]));
export function disconnectName(code: number): string {
  return disconnectNames.get(code) ?? `UNKNOWN_${code}`;
}

/** Channel open failure reasons (RFC 4254 §5.1). */
export const OPEN_FAILURE = {
  ADMINISTRATIVELY_PROHIBITED: 1,
  CONNECT_FAILED: 2,
  UNKNOWN_CHANNEL_TYPE: 3,
  RESOURCE_SHORTAGE: 4,
} as const;

/** A protocol failure that ends the connection with a DISCONNECT of this reason. */
export class SshError extends Error {
  readonly reason: number;
  constructor(reason: number, message: string) {
    super(message);
    this.name = 'SshError';
    this.reason = reason;
  }
}

/**
 * The head of CHANNEL_DATA (or CHANNEL_EXTENDED_DATA with type 1, stderr) up to the data's length field;
 * the data itself follows as the second part of Transport.send, so it is copied once, into its frame.
 */
export function channelDataHead(recipient: number, length: number, stderr = false): Uint8Array {
  // Written byte by byte: a DataView would move this small array's memory off the heap, once per packet.
  const head = new Uint8Array(stderr ? 13 : 9);
  head[0] = stderr ? MSG.CHANNEL_EXTENDED_DATA : MSG.CHANNEL_DATA;
  putUint32(head, 1, recipient);
  if (stderr) putUint32(head, 5, 1);
  putUint32(head, head.length - 4, length);
  return head;
}
