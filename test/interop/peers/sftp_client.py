"""paramiko's or AsyncSSH's SFTP client against edgessh: 8 MiB put and get with checksums, stat, listdir,
rename, remove; a directory made, a file put in it, rmdir refused while it is not empty, then done.
Prints one line per step; the test compares them."""
import asyncio, hashlib, os, sys

port, key, which = sys.argv[1:4]
proxy = os.environ.get("EDGESSH_PROXY") or f"socat - TCP:127.0.0.1:{port}"
data = bytes((i * 7 + (i >> 13)) & 0xFF for i in range(8 * 1024 * 1024 + 5))
digest = hashlib.sha256(data).hexdigest()
up, down = f"/tmp/edgessh-sftp-{os.getpid()}.up", f"/tmp/edgessh-sftp-{os.getpid()}.down"
with open(up, "wb") as f:
    f.write(data)


def check_download():
    with open(down, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest() == digest


def paramiko_run():
    import paramiko
    from paramiko.proxy import ProxyCommand
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("edgessh-test", username="tester", key_filename=key, sock=ProxyCommand(proxy), look_for_keys=False, allow_agent=False, timeout=20)
    s = c.open_sftp()
    s.put(up, "data.bin")
    print("put", s.stat("data.bin").st_size == len(data))
    s.get("data.bin", down)
    print("get", check_download())
    print("listed", "data.bin" in s.listdir("."))
    s.rename("data.bin", "moved.bin")
    s.remove("moved.bin")
    print("removed", not {"data.bin", "moved.bin"} & set(s.listdir("/")))
    s.mkdir("sub")
    s.put(up, "sub/in.bin")
    print("in sub", s.listdir("sub") == ["in.bin"] and s.stat("sub/in.bin").st_size == len(data))
    try:
        s.rmdir("sub")
        print("rmdir ok while full")
    except IOError as e:
        print("rmdir refused", e.errno or str(e))
    s.remove("sub/in.bin")
    s.rmdir("sub")
    print("rmdir done", "sub" not in s.listdir("."))
    c.close()


async def asyncssh_run():
    import asyncssh
    async with asyncssh.connect("edgessh-test", username="tester", client_keys=[key], known_hosts=None, agent_path=None, config=None, proxy_command=proxy) as c:
        async with c.start_sftp_client() as s:
            await s.put(up, "data.bin")
            print("put", (await s.stat("data.bin")).size == len(data))
            await s.get("data.bin", down)
            print("get", check_download())
            print("listed", "data.bin" in await s.listdir("."))
            await s.rename("data.bin", "moved.bin")
            await s.remove("moved.bin")
            print("removed", not {"data.bin", "moved.bin"} & set(await s.listdir("/")))
            await s.mkdir("sub")
            await s.put(up, "sub/in.bin")
            print("in sub", await s.listdir("sub") == [".", "..", "in.bin"] and (await s.stat("sub/in.bin")).size == len(data))
            try:
                await s.rmdir("sub")
                print("rmdir ok while full")
            except asyncssh.SFTPError as e:
                print("rmdir refused", e.code)
            await s.remove("sub/in.bin")
            await s.rmdir("sub")
            print("rmdir done", "sub" not in await s.listdir("."))


try:
    if which == "paramiko":
        paramiko_run()
    else:
        asyncio.run(asyncssh_run())
finally:
    for p in (up, down):
        if os.path.exists(p):
            os.remove(p)
