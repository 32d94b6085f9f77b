"""Drive the emulated endpoint with pypsrp's everyday calls.

Reads its settings from the environment (PEER_*) and prints one JSON line
with what came back, which the Go test checks:

- Client.execute_ps (Invoke-Expression -Command <script> | Out-String -Stream);
- RunspacePool + PowerShell: output objects, the error stream, the other
  streams, a failed pipeline;
- RunspacePool.disconnect and connect by the same client (Reconnect), and
  RunspacePool.get_runspace_pools + connect by a new client (Connect), with
  a command that ran while disconnected.
"""
import json
import os
import sys
import time
import traceback

from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

env = os.environ


def wsman():
    return WSMan(
        "127.0.0.1",
        port=int(env["PEER_PORT"]),
        path="wsman",
        ssl=env.get("PEER_SSL") == "1",
        cert_validation=False,
        auth=env["PEER_AUTH"],
        username=env["PEER_USER"],
        password=env["PEER_PASSWORD"],
        encryption=env.get("PEER_ENCRYPTION", "auto"),
    )


def execute_ps(result):
    client = Client(
        "127.0.0.1",
        port=int(env["PEER_PORT"]),
        path="wsman",
        ssl=env.get("PEER_SSL") == "1",
        cert_validation=False,
        auth=env["PEER_AUTH"],
        username=env["PEER_USER"],
        password=env["PEER_PASSWORD"],
    )
    out, streams, had_errors = client.execute_ps("Get-Date")
    result["date"] = out
    result["date_had_errors"] = had_errors
    out, streams, had_errors = client.execute_ps("1..3; Write-Error 'went wrong'; Write-Warning careful")
    result["script"] = {
        "output": out,
        "had_errors": had_errors,
        "errors": [str(e) for e in streams.error],
        "warnings": [w.message for w in streams.warning],
    }


def pool_and_powershell(result):
    with RunspacePool(wsman()) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Process").add_parameter("Count", 3)
        procs = ps.invoke()
        result["procs"] = [[p.adapted_properties["Name"], p.adapted_properties["Id"]] for p in procs]

        ps = PowerShell(pool)
        ps.add_script("1..100000 | Select-Object -First 4")
        result["first"] = ps.invoke()

        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_argument("out")
        ps.add_statement().add_cmdlet("Write-Error").add_argument("err")
        ps.add_statement().add_cmdlet("Write-Warning").add_argument("warn")
        ps.add_statement().add_cmdlet("Write-Verbose").add_argument("verb")
        ps.add_statement().add_cmdlet("Write-Debug").add_argument("dbg")
        ps.add_statement().add_cmdlet("Write-Information").add_argument("info")
        ps.add_statement().add_cmdlet("Write-Progress").add_parameter("Activity", "act")
        output = ps.invoke()
        s = ps.streams
        result["streams"] = {
            "output": output,
            "had_errors": ps.had_errors,
            "error": [str(e) for e in s.error],
            "warning": [r.message for r in s.warning],
            "verbose": [r.message for r in s.verbose],
            "debug": [r.message for r in s.debug],
            "information": [str(r.message_data) for r in s.information],
            "progress": [r.activity for r in s.progress],
        }

        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Nothing")
        ps.invoke()
        result["failed"] = {"state": int(ps.state), "had_errors": ps.had_errors, "error": [str(e) for e in ps.streams.error]}

        # Input flows through the pipeline.
        ps = PowerShell(pool)
        ps.add_cmdlet("Select-Object").add_parameter("Skip", 1)
        result["input"] = ps.invoke(["a", "b", "c"])


def disconnect_connect(result):
    pool = RunspacePool(wsman())
    pool.open()
    # Same client: Disconnect, then Reconnect.
    pool.disconnect()
    pool.connect()
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_argument("after reconnect")
    result["reconnect"] = ps.invoke()
    ps.close()  # Signal terminate: the endpoint forgets the command

    # A command that runs while the pool is disconnected, picked up by a
    # new client.
    ps = PowerShell(pool)
    ps.add_cmdlet("Invoke-Expression").add_parameter("Command", "Start-Sleep -Milliseconds 300; Write-Output 'while away'")
    ps.begin_invoke()
    pool.disconnect()

    pools = [p for p in RunspacePool.get_runspace_pools(wsman()) if p.id.lower() == str(pool.id).lower()]
    result["found_pool"] = len(pools)
    other = pools[0]
    other.connect()
    pipes = other.create_disconnected_power_shells()
    result["disconnected_pipelines"] = len(pipes)
    mine = [p for p in pipes if p.id.lower() == str(ps.id).lower()]
    result["connected_output"] = mine[0].connect()
    ps = PowerShell(other)
    ps.add_cmdlet("Write-Output").add_argument("new client")
    result["new_client"] = ps.invoke()
    other.close()


result = {"seconds": {}}
try:
    for step in (execute_ps, pool_and_powershell, disconnect_connect):
        started = time.monotonic()
        step(result)
        result["seconds"][step.__name__] = round(time.monotonic() - started, 3)
except Exception as e:  # reported to the Go test, which fails with it
    result["exception"] = "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
print(json.dumps(result, default=str))
sys.stdout.flush()
