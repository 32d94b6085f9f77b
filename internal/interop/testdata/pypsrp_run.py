"""Drive the emulated endpoint with pypsrp, a third-party PSRP client.

Reads its settings from the environment (PEER_*), opens a runspace pool,
runs `Write-Output <text>` and `Write-Error <text>`, and prints one JSON line
with what came back, which the Go test checks.
"""
import json
import os
import sys

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

env = os.environ
wsman = WSMan(
    "127.0.0.1",
    port=int(env["PEER_PORT"]),
    path="wsman",
    ssl=env.get("PEER_SSL") == "1",
    cert_validation=False,
    auth=env["PEER_AUTH"],
    username=env.get("PEER_USER") or None,
    password=env.get("PEER_PASSWORD") or None,
    encryption=env.get("PEER_ENCRYPTION", "auto"),
    negotiate_service=env.get("PEER_SERVICE", "HTTP"),
    negotiate_hostname_override=env.get("PEER_HOSTNAME") or None,
    credssp_disable_tlsv1_2=False,
)
result = {}
try:
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_argument(env["PEER_TEXT"])
        result["output"] = [str(o) for o in ps.invoke()]
        result["had_errors"] = ps.had_errors
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Error").add_argument("boom " + env["PEER_TEXT"])
        ps.invoke()
        result["errors"] = [str(e) for e in ps.streams.error]
except Exception as e:  # reported to the Go test, which fails with it
    result["exception"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(result))
sys.stdout.flush()
