"""Drive the emulated endpoint with pypsrp's Kerberos, from a ticket cache.

The ticket comes from KRB5CCNAME (the Go test runs kinit against its KDC),
so pypsrp gets no user name or password. Reads PEER_* from the environment,
runs Client.execute_ps and a RunspacePool pipeline with every message
sealed (encryption="always"), and prints one JSON line with what came back
and how the messages were protected, which the Go test checks.
"""
import json
import os
import sys

from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

env = os.environ
settings = dict(
    port=int(env["PEER_PORT"]),
    path="wsman",
    ssl=False,
    auth=env["PEER_AUTH"],
    encryption="always",
    negotiate_service="HTTP",
    negotiate_hostname_override=env["PEER_HOSTNAME"],
)


def protection(transport):
    """The sealing protocol (multipart content type) and the negotiated mechanism."""
    context = next(iter(transport.session.auth.contexts.values()))
    return {"encryption": transport.encryption.protocol, "mechanism": context.negotiated_protocol}


result = {}
try:
    client = Client("127.0.0.1", **settings)
    out, streams, had_errors = client.execute_ps("Write-Output " + env["PEER_TEXT"])
    result["execute_ps"] = {"output": out, "had_errors": had_errors, **protection(client.wsman.transport)}

    wsman = WSMan("127.0.0.1", **settings)
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_argument(env["PEER_TEXT"])
        result["output"] = [str(o) for o in ps.invoke()]
        result["had_errors"] = ps.had_errors
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Error").add_argument("boom " + env["PEER_TEXT"])
        ps.invoke()
        result["errors"] = [str(e) for e in ps.streams.error]
        result["pool"] = protection(wsman.transport)
except Exception as e:  # reported to the Go test, which fails with it
    result["exception"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(result))
sys.stdout.flush()
