"""AsyncSSH against edgessh: open_connection (a direct-tcpip channel) to a TCP echo server, 1 MiB through it
with a checksum and a half-close; then a refused target, reported as AsyncSSH's ChannelOpenError."""
import asyncio, hashlib, sys
import asyncssh

port, key, echo_port, refused_port = sys.argv[1:5]

async def main():
    async with asyncssh.connect("edgessh-test", username="tester", client_keys=[key], known_hosts=None, agent_path=None,
                                config=None, proxy_command=f"socat - TCP:127.0.0.1:{port}") as conn:
        reader, writer = await conn.open_connection("127.0.0.1", int(echo_port))
        data = bytes((i * 13 + (i >> 10)) & 0xFF for i in range(1024 * 1024))
        writer.write(data)
        writer.write_eof()
        got = await reader.read()
        print("echo", hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), len(got))
        try:
            await conn.open_connection("127.0.0.1", int(refused_port))
            print("refused False")
        except asyncssh.ChannelOpenError as e:
            print("refused", e.code, e.reason)

asyncio.run(main())
