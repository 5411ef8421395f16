/**
 * edgessh in Node: the adapters that need Node's built-ins (never imported by the runtime-neutral core).
 * `nodeProtection` seals and opens packets with OpenSSL; `listenTcp` / `attachSocket` serve over TCP;
 * `connectTcp` / `connectClientSocket` attach the client to a socket; `connectTcpForward` opens a
 * direct-tcpip channel's connection (ServerOptions.connectForward).
 */
export { nodeProtection, CHACHA_NODE_MIN } from './io/node-crypto.ts';
export { attachSocket, listenTcp, connectClientSocket, connectTcp, connectTcpForward } from './io/node-net.ts';
export { FolderStorage } from './io/node-storage.ts';
