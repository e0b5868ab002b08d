"""What the dev load scripts (ws-stream-memory, sse-load.py) share: a key, a `kairos serve` on
a free port, and a process's peak memory."""
import re
import subprocess


def create_key(binary, db, *options):
    """`kairos keys create --db DB OPTIONS…`: the key, alone on the last line of its output."""
    out = subprocess.run([binary, "keys", "create", "--db", db, *options], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def start_server(binary, db, *options):
    """`kairos serve --db DB --port 0 OPTIONS…`: the process and the port it listens on."""
    server = subprocess.Popen([binary, "serve", "--db", db, "--port", "0", "--log-level", "warning", *options],
                              stdout=subprocess.PIPE, text=True)
    try:
        return server, int(re.search(r"http://127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1))
    except Exception:
        server.terminate()
        server.wait(timeout=10)
        raise


def peak_rss_kib(pid):
    """The process's peak resident memory (VmHWM), KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
