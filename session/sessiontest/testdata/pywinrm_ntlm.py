"""Drive the emulated endpoint with pywinrm (NTLM, message encryption).

Usage: pywinrm_ntlm.py URL USER PASSWORD
Prints one JSON object: the config Get's AllowUnencrypted and Negotiate
values, and the shell created, received from and deleted over a sealed
connection; or {"error": ...} on failure.
"""
import base64
import json
import sys
import uuid

import xmltodict
from winrm.protocol import Protocol

CONFIG = "http://schemas.microsoft.com/wbem/wsman/1/config"
PWSH = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"


def send(p, action, uri, body, shell_id=None):
    env = p._get_soap_header(action=action, resource_uri=uri, shell_id=shell_id)
    env["env:Body"] = body
    return xmltodict.parse(p.send_message(xmltodict.unparse({"env:Envelope": env})))


def main():
    url, user, password = sys.argv[1:4]
    p = Protocol(url, transport="ntlm", username=user, password=password,
                 message_encryption="always", server_cert_validation="ignore")
    out = {}
    cfg = send(p, TRANSFER + "Get", CONFIG, {})
    service = cfg["s:Envelope"]["s:Body"]["cfg:Config"]["cfg:Service"]
    out["allow_unencrypted"] = service["cfg:AllowUnencrypted"]
    out["negotiate"] = service["cfg:Auth"]["cfg:Negotiate"]

    shell_id = str(uuid.uuid4()).upper()
    created = send(p, TRANSFER + "Create", PWSH, {
        "rsp:Shell": {
            "@ShellId": shell_id,
            "rsp:InputStreams": "stdin pr",
            "rsp:OutputStreams": "stdout",
            "creationXml": {"@xmlns": "http://schemas.microsoft.com/powershell",
                            "#text": base64.b64encode(b"pool").decode()},
        }})
    out["shell_id"] = created["s:Envelope"]["s:Body"]["rsp:Shell"]["rsp:ShellId"]
    received = send(p, SHELL + "Receive", PWSH,
                    {"rsp:Receive": {"rsp:DesiredStream": "stdout"}}, shell_id)
    stream = received["s:Envelope"]["s:Body"]["rsp:ReceiveResponse"]["rsp:Stream"]
    out["received"] = base64.b64decode(stream["#text"]).decode()
    send(p, TRANSFER + "Delete", PWSH, {}, shell_id)
    out["deleted"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report; the trace goes to stderr
        import traceback
        traceback.print_exc()
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
