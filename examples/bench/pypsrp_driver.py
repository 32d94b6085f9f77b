"""Runs one benchmark scenario with pypsrp; the Go bench program starts it.

It speaks the bench's handshake: it prints "mark" and waits for a line on
stdin before and after the measured part, then prints
"result {json}" with wall_ns, cpu_ns (getrusage of this process) and objects.
"""
import argparse
import json
import resource
import sys
import time
from urllib.parse import urlsplit

from pypsrp.client import Client
from pypsrp.complex_objects import PSInvocationState
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan


def mark():
    print("mark", flush=True)
    sys.stdin.readline()


def cpu_ns():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def wsman_args(args):
    u = urlsplit(args.url)
    return dict(
        server=u.hostname, port=u.port, path=u.path.lstrip("/"), ssl=False,
        auth=args.auth, username=args.user, password=args.password,
        encryption="never" if args.auth == "basic" else "auto",
        cert_validation=False)


def wsman(args):
    return WSMan(**wsman_args(args))


def copy(args):
    # Client.copy opens and closes a pool of its own.
    Client(**wsman_args(args)).copy(args.file, args.dest)
    return 1


def invoke(pool, script):
    ps = PowerShell(pool)
    ps.add_script(script)
    return len(ps.invoke())


def stream(pool, script):
    # Output is taken off after every Receive, so it is not collected.
    ps = PowerShell(pool)
    ps.add_script(script)
    ps.begin_invoke()
    n = 0
    while ps.state == PSInvocationState.RUNNING:
        ps.poll_invoke()
        n += len(ps.output)
        del ps.output[:]
    return n + len(ps.output)


def peak_rss():
    # VmHWM: the peak of this process's own memory (see peakRSS in Go).
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(fn):
    mark()
    start, cpu = time.perf_counter_ns(), cpu_ns()
    n = fn()
    res = {"wall_ns": time.perf_counter_ns() - start, "cpu_ns": cpu_ns() - cpu, "objects": n,
           "max_rss": peak_rss()}
    mark()
    return res


def main():
    p = argparse.ArgumentParser()
    for f in ("scenario", "url", "auth", "user", "password", "script"):
        p.add_argument("--" + f, required=True)
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--file", default="")
    p.add_argument("--dest", default="")
    args = p.parse_args()

    if args.scenario == "open-invoke-close":
        def run():
            with RunspacePool(wsman(args)) as pool:
                return invoke(pool, args.script)
        res = measured(run)
    elif args.scenario == "copy":
        res = measured(lambda: copy(args))
    else:
        with RunspacePool(wsman(args)) as pool:
            if args.scenario == "invoke-open-pool":
                res = measured(lambda: sum(invoke(pool, args.script) for _ in range(args.n)))
            elif args.scenario == "pipeline":
                res = measured(lambda: invoke(pool, args.script))
            elif args.scenario == "stream":
                res = measured(lambda: stream(pool, args.script))
            else:
                sys.exit("unknown scenario " + args.scenario)
    print("result " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
