"""MIT GSSAPI Kerberos acceptor for the Go tests.

Reads commands on stdin, one per line, base64 arguments; answers one line:
  step <token>          -> "ok <token or -> <initiator> <complete> <delegated>"
                           (accepts the AP-REQ; delegated is 1 when the
                           initiator delegated a credential)
  initdeleg <principal> -> "ok <token>"        (an AP-REQ to the principal,
                           made with the delegated credential)
  unwrap <token>        -> "ok <plaintext>"    (gss_unwrap of header+data)
  wrapiov <plaintext>   -> "ok <header> <data>" (gss_wrap_iov, header separate)
  mic <message>         -> "ok <mic>"
Errors answer "err <text>". The keytab comes from KRB5_KTNAME.
"""
import base64
import sys

import gssapi
import gssapi.raw as raw
from gssapi.raw import IOV, IOVBufferType

KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")


def b64(b):
    return base64.b64encode(b or b"").decode() or "-"


def unb64(s):
    return b"" if s == "-" else base64.b64decode(s)


def main():
    creds = gssapi.Credentials(usage="accept", mechs=[KRB5])
    ctx = gssapi.SecurityContext(creds=creds, usage="accept")
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        try:
            cmd = parts[0]
            if cmd == "step":
                out = ctx.step(unb64(parts[1]))
                deleg = int(ctx.complete and ctx.delegated_creds is not None)
                print("ok", b64(out), str(ctx.initiator_name), int(ctx.complete), deleg)
            elif cmd == "initdeleg":
                if ctx.delegated_creds is None:
                    raise ValueError("no delegated credential")
                target = gssapi.Name(unb64(parts[1]).decode(), gssapi.NameType.kerberos_principal)
                ictx = gssapi.SecurityContext(name=target, creds=ctx.delegated_creds, usage="initiate", mech=KRB5)
                print("ok", b64(ictx.step()))
            elif cmd == "unwrap":
                res = ctx.unwrap(unb64(parts[1]))
                if not res.encrypted:
                    raise ValueError("not encrypted")
                print("ok", b64(res.message))
            elif cmd == "wrapiov":
                iov = IOV(IOVBufferType.header, unb64(parts[1]), IOVBufferType.padding, std_layout=False)
                raw.wrap_iov(ctx, iov, confidential=True)
                print("ok", b64(iov[0].value), b64((iov[1].value or b"") + (iov[2].value or b"")))
            elif cmd == "mic":
                print("ok", b64(ctx.get_signature(unb64(parts[1]))))
            else:
                print("err unknown command")
        except Exception as e:  # report, keep serving
            print("err", type(e).__name__, str(e).replace("\n", " "))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
