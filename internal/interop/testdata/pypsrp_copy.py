"""Drive the emulated endpoint with pypsrp's Client.copy and Client.fetch.

Reads its settings from the environment (PEER_*): PEER_SRC is a local file
to copy to PEER_DEST on the host, PEER_FETCHED the local file to fetch it
back to, PEER_MISSING a remote path that does not exist and PEER_DIR a
remote directory. Prints one JSON line: the path copy returned, and the
error texts of fetching the missing path and the directory.
"""
import json
import os
import traceback

from pypsrp.client import Client

env = os.environ
result = {}
try:
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
    result["copied"] = client.copy(env["PEER_SRC"], env["PEER_DEST"])
    client.fetch(env["PEER_DEST"], env["PEER_FETCHED"])
    for key in ("PEER_MISSING", "PEER_DIR"):
        try:
            client.fetch(env[key], env["PEER_FETCHED"] + ".x")
            result[key] = ""
        except Exception as e:  # the error pypsrp raises, as the user sees it
            result[key] = str(e)
except Exception:
    result["exception"] = traceback.format_exc()
print(json.dumps(result))
