"""Drive the emulated endpoint with pywinrm, a third-party WinRM client.

pywinrm only opens cmd shells, which the endpoint does not emulate, so this
sends a WS-Man Enumerate of the shells through pywinrm's transport (its
authentication and message encryption) and prints one JSON line with the
status and whether the answer is an EnumerateResponse.
"""
import json
import os
import uuid

from winrm.protocol import Protocol

env = os.environ
endpoint = "%s://127.0.0.1:%s/wsman" % ("https" if env.get("PEER_SSL") == "1" else "http", env["PEER_PORT"])
p = Protocol(
    endpoint,
    transport=env["PEER_AUTH"],
    username=env.get("PEER_USER"),
    password=env.get("PEER_PASSWORD"),
    server_cert_validation="ignore",
    message_encryption=env.get("PEER_ENCRYPTION", "auto"),
    kerberos_hostname_override=env.get("PEER_HOSTNAME") or None,
)
envelope = """<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration">
<s:Header>
<wsa:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</wsa:Action>
<wsman:MaxEnvelopeSize s:mustUnderstand="true">153600</wsman:MaxEnvelopeSize>
<wsa:MessageID>uuid:%s</wsa:MessageID>
<wsman:OperationTimeout>PT20S</wsman:OperationTimeout>
<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>
<wsman:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/windows/shell</wsman:ResourceURI>
<wsa:To>%s</wsa:To>
</s:Header>
<s:Body><wsen:Enumerate><wsman:OptimizeEnumeration/><wsman:MaxElements>32000</wsman:MaxElements></wsen:Enumerate></s:Body>
</s:Envelope>""" % (str(uuid.uuid4()).upper(), endpoint)
result = {}
try:
    answer = p.send_message(envelope)
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8")
    result["enumerate_response"] = "EnumerateResponse" in answer
except Exception as e:
    result["exception"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(result))
