"""MIT krb5's SPNEGO mechanism, with gss-ntlmssp's NTLM or MIT's Kerberos
inside (through python3-gssapi), as a peer for the Go tests. The acceptor's
Kerberos keys come from KRB5_KTNAME.

Usage: mit_spnego_peer.py accept
       mit_spnego_peer.py initiate DOMAIN\\user password

Reads one command per line on stdin and answers one line on stdout:
  step B64|-          -> ok B64|- 0|1      (the output token, whether complete)
  wrap B64            -> ok TOKEN          (gss_wrap with confidentiality, the whole token)
  unwrap HEADER DATA  -> ok B64            (gss_unwrap of header || data)
  name                -> ok NAME           (the initiator's name, on the acceptor)
Failures answer "err MESSAGE". The acceptor's users come from the file named
by NTLM_USER_FILE (DOMAIN:user:password lines).
"""

import base64
import sys

import gssapi
import gssapi.raw

SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")


def b64(data):
    return base64.b64encode(data).decode() if data else "-"


def unb64(text):
    return b"" if text == "-" else base64.b64decode(text)


def make_context(argv):
    if argv[1] == "accept":
        creds = gssapi.Credentials(usage="accept", mechs=[SPNEGO])
        return gssapi.SecurityContext(creds=creds, usage="accept")
    user, password = argv[2], argv[3]
    name = gssapi.Name(user, gssapi.NameType.user)
    creds = gssapi.raw.acquire_cred_with_password(
        name, password.encode(), usage="initiate", mechs=[NTLM]).creds
    target = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
    flags = (gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.replay_detection | gssapi.RequirementFlag.out_of_sequence_detection)
    return gssapi.SecurityContext(name=target, creds=creds, usage="initiate", mech=SPNEGO, flags=flags)


def main():
    ctx = make_context(sys.argv)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "step":
                out = ctx.step(unb64(arg) or None)
                answer = "ok %s %d" % (b64(out), 1 if ctx.complete else 0)
            elif cmd == "wrap":
                answer = "ok %s" % b64(ctx.wrap(unb64(arg), True).message)
            elif cmd == "unwrap":
                header, _, data = arg.partition(" ")
                answer = "ok %s" % b64(ctx.unwrap(unb64(header) + unb64(data)).message)
            elif cmd == "name":
                # python-gssapi keeps gss-ntlmssp's terminating NUL.
                answer = "ok %s" % str(ctx.initiator_name).rstrip("\x00")
            else:
                answer = "err unknown command %r" % cmd
        except Exception as e:  # report every failure to the Go side
            answer = "err %s: %s" % (type(e).__name__, str(e).replace("\n", " "))
        print(answer, flush=True)


if __name__ == "__main__":
    main()
