"""Run native commands and PowerShell scripts on the emulated endpoint's
WinRS cmd shell resource with pywinrm's Session.run_cmd and Session.run_ps,
unmodified, and print one JSON line: for each case its stdout, stderr (as
text) and status code.

Debian's pywinrm 0.3.0 has a Python 3 bug in run_ps: it gives its CLIXML
cleaner the stderr bytes, which it compares with a str, so run_ps raises
TypeError whenever a script wrote to stderr (pywinrm 0.4 compares bytes).
When the installed pywinrm has that bug, the cleaner is given the stderr
decoded as UTF-8 and its answer encoded back; its parsing is pywinrm's own.
"""
import json
import os

import winrm

env = os.environ
scheme = "https" if env.get("PEER_SSL") == "1" else "http"
target = "%s://127.0.0.1:%s/wsman" % (scheme, env["PEER_PORT"])

result = {"cases": {}}
try:
    winrm.Session._clean_error_msg(None, b"x")
except TypeError:
    clean = winrm.Session._clean_error_msg

    def clean_bytes(self, msg):
        if isinstance(msg, bytes):
            return clean(self, msg.decode("utf-8")).encode("utf-8")
        return clean(self, msg)

    winrm.Session._clean_error_msg = clean_bytes
    result["bytes_bug"] = True

try:
    s = winrm.Session(
        target,
        auth=(env["PEER_USER"], env["PEER_PASSWORD"]),
        transport="ntlm",
        server_cert_validation="ignore",
        message_encryption=env.get("PEER_ENCRYPTION", "auto"),
    )

    def record(name, rs):
        out, err = rs.std_out, rs.std_err
        result["cases"][name] = {
            "stdout": out.decode("utf-8") if isinstance(out, bytes) else out,
            "stderr": err.decode("utf-8") if isinstance(err, bytes) else err,
            "code": rs.status_code,
        }

    record("echo", s.run_cmd("echo", ["hello", "world"]))
    record("tool", s.run_cmd("tool.exe", ["one", "two"]))
    record("cmd_chain", s.run_cmd("cmd", ["/c", "echo out&& echo err>&2"]))
    record("ps_output", s.run_ps("Write-Output 'from ps'"))
    record("ps_error", s.run_ps("Write-Error 'ps boom'"))
except Exception as e:
    result["exception"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(result))
