"""pyspnego's CredSSP as a peer of the Go tests, driven over stdin/stdout.

Usage: pyspnego_peer.py client USER PASSWORD | server
(the server's NTLM users come from the NTLM_USER_FILE environment variable).

Lines, each way:
  TOKEN <base64>          an authentication token (empty after TOKEN: none)
  DONE <b64 domain> <b64 user> <b64 password>   (server, once complete)
  DONE                    (client, once complete)
  MSG <b64 header> <b64 data>   a sealed WinRM message; the peer answers
                          with MSG of b"echo:" + the plaintext, sealed
  ERROR <text>            and exit
Pure Python: pyspnego's own SPNEGO (use_negotiate) and NTLM (use_ntlm).
"""

import base64
import sys

import spnego
from spnego.exceptions import NegotiateOptions

OPTS = NegotiateOptions.use_negotiate | NegotiateOptions.use_ntlm


def b64(b):
    return base64.b64encode(b or b"").decode()


def unb64(s):
    return base64.b64decode(s)


def send(*parts):
    sys.stdout.write(" ".join(parts) + "\n")
    sys.stdout.flush()


def recv():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return line.rstrip("\n").split(" ")


def main():
    mode = sys.argv[1]
    if mode == "client":
        user, password = sys.argv[2], sys.argv[3]
        inner = spnego.client(user, password, protocol="negotiate", options=OPTS)
        ctx = spnego.client(user, password, protocol="credssp", credssp_negotiate_context=inner)
        in_token = None
        while True:
            out = ctx.step(in_token)
            send("TOKEN", b64(out))
            if ctx.complete:
                send("DONE")
                break
            msg = recv()
            in_token = unb64(msg[1]) if len(msg) > 1 and msg[1] else None
    else:
        inner = spnego.server(protocol="negotiate", options=OPTS)
        ctx = spnego.server(protocol="credssp", credssp_negotiate_context=inner)
        while not ctx.complete:
            msg = recv()
            out = ctx.step(unb64(msg[1]) if len(msg) > 1 else b"")
            send("TOKEN", b64(out))
        cred = ctx.get_extra_info("client_credential")
        send("DONE", b64(cred.domain_name.encode()), b64(cred.username.encode()), b64(cred.password.encode()))
    while True:
        msg = recv()
        plain = ctx.unwrap_winrm(unb64(msg[1]), unb64(msg[2]))
        res = ctx.wrap_winrm(b"echo:" + plain)
        send("MSG", b64(res.header), b64(res.data))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # reported to the test, which fails with it
        send("ERROR", type(e).__name__ + ": " + str(e).replace("\n", " "))
        sys.exit(1)
