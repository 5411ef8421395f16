"""AsyncSSH against edgessh: login (key or password), exec, and an 8 MiB upload with checksum."""
import asyncio, hashlib, os, sys
import asyncssh

port, user, mode, secret = sys.argv[1:5]

async def main():
    # EDGESSH_KNOWN_HOSTS: check the host key (an @cert-authority line checks a host certificate).
    kw = dict(username=user, known_hosts=os.environ.get("EDGESSH_KNOWN_HOSTS"), agent_path=None, config=None,
              proxy_command=os.environ.get("EDGESSH_PROXY") or f"socat - TCP:127.0.0.1:{port}")
    if mode == "key":
        kw["client_keys"] = [secret]
    else:
        kw["password"] = secret
        kw["client_keys"] = None
    async with asyncssh.connect("edgessh-test", **kw) as conn:
        r = await conn.run("echo hi")
        print(r.stdout.strip(), r.exit_status)
        data = bytes((i * 31) & 0xFF for i in range(8 * 1024 * 1024))
        r = await conn.run("sha256sum", input=data, encoding=None)
        print(r.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest())

asyncio.run(main())
