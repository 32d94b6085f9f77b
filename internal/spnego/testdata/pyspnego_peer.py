"""pyspnego's own SPNEGO (NegotiateProxy, pure Python) as a peer for the Go tests.

Usage: pyspnego_peer.py accept|initiate [DOMAIN\\user password]

Reads one command per line on stdin and answers one line on stdout:
  step B64|-          -> ok B64|- 0|1      (the output token, whether complete)
  wrap B64            -> ok HEADER DATA    (wrap_winrm: the WinRM header and sealed data)
  unwrap HEADER DATA  -> ok B64            (unwrap_winrm)
  name                -> ok NAME           (the initiator's name, on the acceptor)
  mech                -> ok NAME           (the negotiated protocol)
Failures answer "err MESSAGE". The acceptor's NTLM users come from the file
named by NTLM_USER_FILE (DOMAIN:user:password lines).

pyspnego's Negotiate always lists Kerberos first among the mechanisms it
prefers. Without a usable Kerberos (pyspnego 0.12 needs python3-gssapi and
the "krb5" module, which Debian does not package) the initiator drops it and
offers NTLM alone, and the acceptor answers an NTLM-first list with
request-mic, since NTLM is not its preferred mechanism.
"""

import base64
import sys

import spnego
from spnego import NegotiateOptions


def b64(data):
    return base64.b64encode(data).decode() if data else "-"


def unb64(text):
    return b"" if text == "-" else base64.b64decode(text)


def make_context(argv):
    options = NegotiateOptions.use_negotiate
    if argv[1] == "accept":
        return spnego.server(hostname="localhost", service="http", protocol="negotiate", options=options)
    return spnego.client(argv[2], argv[3], hostname="localhost", service="http", protocol="negotiate",
                         options=options)


def main():
    ctx = make_context(sys.argv)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "step":
                out = ctx.step(unb64(arg) or None)
                answer = "ok %s %d" % (b64(out), 1 if ctx.complete else 0)
            elif cmd == "wrap":
                res = ctx.wrap_winrm(unb64(arg))
                answer = "ok %s %s" % (b64(res.header), b64(res.data))
            elif cmd == "unwrap":
                header, _, data = arg.partition(" ")
                answer = "ok %s" % b64(ctx.unwrap_winrm(unb64(header), unb64(data)))
            elif cmd == "name":
                answer = "ok %s" % ctx.client_principal
            elif cmd == "mech":
                answer = "ok %s" % ctx.negotiated_protocol
            else:
                answer = "err unknown command %r" % cmd
        except Exception as e:  # report every failure to the Go side
            answer = "err %s: %s" % (type(e).__name__, str(e).replace("\n", " "))
        print(answer, flush=True)


if __name__ == "__main__":
    main()
