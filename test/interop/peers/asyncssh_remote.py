"""AsyncSSH against edgessh: forward_remote_port (tcpip-forward, `ssh -R`) with port 0 to a TCP echo server.
A connection to the port the server chose carries 1 MiB through AsyncSSH to the echo server and back; then
the listener is closed (cancel-tcpip-forward) and the port refuses connections."""
import asyncio, hashlib, sys
import asyncssh

port, key, echo_port = sys.argv[1:4]

async def main():
    async with asyncssh.connect("edgessh-test", username="tester", client_keys=[key], known_hosts=None, agent_path=None,
                                config=None, proxy_command=f"socat - TCP:127.0.0.1:{port}") as conn:
        listener = await conn.forward_remote_port("localhost", 0, "127.0.0.1", int(echo_port))
        bound = listener.get_port()
        print("allocated", bound > 1023)
        reader, writer = await asyncio.open_connection("127.0.0.1", bound)
        data = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(1024 * 1024))
        writer.write(data)
        writer.write_eof()
        got = await reader.read()
        print("echo", hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest(), len(got))
        writer.close()
        listener.close()
        await listener.wait_closed()
        await asyncio.sleep(0.2)
        try:
            await asyncio.open_connection("127.0.0.1", bound)
            print("closed False")
        except OSError:
            print("closed True")

asyncio.run(main())
