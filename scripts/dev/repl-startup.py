# Time from exec to the REPL's first prompt on a pseudo-terminal: python3 scripts/dev/repl-startup.py BINARY
import os, pty, time, sys, select, statistics
binary = sys.argv[1]
times = []
for i in range(30):
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["KAIROS_HISTORY_FILE"] = "/tmp/startup-hist"
        os.execv(binary, [binary])
    buf = b""
    while b"krs>" not in buf:
        r, _, _ = select.select([fd], [], [], 5)
        if not r: break
        buf += os.read(fd, 4096)
    times.append((time.perf_counter() - t0) * 1000)
    os.write(fd, b":quit\r")
    os.waitpid(pid, 0)
    os.close(fd)
times.sort()
print(f"startup to first prompt over {len(times)} runs: median {statistics.median(times):.1f} ms, min {times[0]:.1f} ms, max {times[-1]:.1f} ms")
