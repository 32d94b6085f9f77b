"""MIT GSSAPI Kerberos initiator for the Go tests.

Usage: mit_initiator.py <target principal>
Prints the base64 AP-REQ token of a context to the target, with mutual
authentication and credential delegation (GSS_C_DELEG_FLAG), made from the
ticket cache named by KRB5CCNAME.
"""
import base64
import sys

import gssapi

KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")


def main():
    target = gssapi.Name(sys.argv[1], gssapi.NameType.kerberos_principal)
    flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.delegate_to_peer
    ctx = gssapi.SecurityContext(name=target, usage="initiate", mech=KRB5, flags=flags)
    print(base64.b64encode(ctx.step()).decode())


if __name__ == "__main__":
    main()
