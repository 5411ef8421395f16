/**
 * edgessh in Node: the adapters that need Node's built-ins (never imported by the runtime-neutral core).
 * `nodeProtection` seals and opens packets with OpenSSL, `nodeX25519` makes the key exchange's X25519 pairs
 * and `nodeSigningKey` a host key that signs with it (each several times cheaper than Node's Web Crypto); `listenTcp` / `attachSocket` serve over TCP;
 * `connectTcp` / `connectClientSocket` attach the client to a socket; `connectTcpForward` opens a
 * direct-tcpip channel's connection (ServerOptions.connectForward), `listenTcpForward` a remote forward's
 * listener (ServerOptions.listenForward).
 */
export { nodeProtection, nodeX25519, nodeSigningKey, CHACHA_NODE_MIN } from './io/node-crypto.ts';
export { attachSocket, listenTcp, connectClientSocket, connectTcp, connectTcpForward, listenTcpForward, tcpForwardListener, forwardBindAddress, type GatewayPorts } from './io/node-net.ts';
export { FolderStorage } from './io/node-storage.ts';
