"""Stand-in for pykrb5 (the PyPI package "krb5"), which Debian does not package.

pyspnego 0.12 imports `gssapi` and `krb5` together in spnego/_gss.py and
offers no Kerberos at all when either is missing, although its Kerberos
context is python3-gssapi over MIT krb5 and `krb5` serves only to get a
ticket from a password or keytab, or from a named ticket cache. A client
that already holds a ticket in the default cache (kinit, KRB5CCNAME) never
calls into `krb5`, so this empty module lets the unmodified pyspnego reach
its GSSAPI path. Any attempt to use it fails loudly rather than quietly.
"""


def __getattr__(name):
    raise AttributeError(
        "krb5.%s: this is the test stand-in for pykrb5, which is not installed; "
        "only a ticket from the default ticket cache (kinit, KRB5CCNAME) can be used" % name
    )
