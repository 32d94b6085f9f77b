"""gss-ntlmssp (through python3-gssapi) as an NTLM peer for the Go tests.

Usage: gssntlmssp_peer.py accept
       gssntlmssp_peer.py initiate DOMAIN\\user password

Reads one command per line on stdin and answers one line on stdout:
  step B64|-     -> ok B64|- 0|1   (the output token, whether complete)
  wrap B64       -> ok B64         (gss_wrap with confidentiality)
  unwrap B64     -> ok B64 0|1     (plaintext, whether it was encrypted)
  name           -> ok NAME        (the initiator's name, on the acceptor)
Failures answer "err MESSAGE". The acceptor's users come from the file
named by NTLM_USER_FILE (DOMAIN:user:password lines).
"""

import base64
import sys

import gssapi
import gssapi.raw

NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")


def b64(data):
    return base64.b64encode(data).decode() if data else "-"


def unb64(text):
    return b"" if text == "-" else base64.b64decode(text)


def make_context(argv):
    if argv[1] == "accept":
        creds = gssapi.Credentials(usage="accept", mechs=[NTLM])
        return gssapi.SecurityContext(creds=creds, usage="accept")
    user, password = argv[2], argv[3]
    name = gssapi.Name(user, gssapi.NameType.user)
    creds = gssapi.raw.acquire_cred_with_password(
        name, password.encode(), usage="initiate", mechs=[NTLM]).creds
    target = gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service)
    flags = (gssapi.RequirementFlag.integrity | gssapi.RequirementFlag.confidentiality
             | gssapi.RequirementFlag.replay_detection | gssapi.RequirementFlag.out_of_sequence_detection)
    return gssapi.SecurityContext(name=target, creds=creds, usage="initiate", mech=NTLM, flags=flags)


def main():
    ctx = make_context(sys.argv)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        try:
            if cmd == "step":
                token = unb64(arg) or None
                out = ctx.step(token)
                reply = "ok %s %d" % (b64(out), int(ctx.complete))
            elif cmd == "wrap":
                res = ctx.wrap(unb64(arg), True)
                reply = "ok %s" % b64(res.message)
            elif cmd == "unwrap":
                res = ctx.unwrap(unb64(arg))
                reply = "ok %s %d" % (b64(res.message), int(res.encrypted))
            elif cmd == "name":
                reply = "ok %s" % ctx.initiator_name
            else:
                reply = "err unknown command"
        except gssapi.exceptions.GSSError as e:
            reply = "err " + " ".join(str(e).split())
        print(reply, flush=True)


if __name__ == "__main__":
    main()
