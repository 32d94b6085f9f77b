package kerberos

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/gopsrp/gopsrp/internal/gss"
)

var (
	// ErrClockSkew: the clocks of the client, the KDC or the service are
	// too far apart (KRB_AP_ERR_SKEW, KRB_AP_ERR_TKT_NYV). It comes
	// wrapped in a *KRBError, together with gss.ErrAuthFailed.
	ErrClockSkew = errors.New("kerberos: clock skew too great")
	// ErrTicketExpired: a ticket or the ticket cache's TGT has expired
	// (KRB_AP_ERR_TKT_EXPIRED); obtain new tickets (kinit).
	ErrTicketExpired = errors.New("kerberos: ticket expired")
	// ErrNoCredentials: LoadClientConfigFromEnv found no krb5.conf or no
	// ticket cache.
	ErrNoCredentials = errors.New("kerberos: no Kerberos configuration or ticket cache")
)

// KRBError is a Kerberos protocol error (RFC 4120 KRB-ERROR) returned by
// the KDC or the service, or detected locally. It unwraps to
// gss.ErrAuthFailed, and also to ErrClockSkew or ErrTicketExpired for
// those codes. It carries no key, ticket or password.
type KRBError struct {
	// Op is what was being done: "login", "service ticket", "accept".
	Op string
	// Principal is the client or service principal concerned, if known.
	Principal string
	// Code is the RFC 4120 error code (for example 24,
	// KDC_ERR_PREAUTH_FAILED), or 0 when the failure had no KRB-ERROR
	// (a reply that does not decrypt with the password's key).
	Code int32
	// Text is a description of the code or the failure.
	Text string
}

func (e *KRBError) Error() string {
	var b strings.Builder
	b.WriteString("kerberos: ")
	b.WriteString(e.Op)
	if e.Principal != "" {
		b.WriteString(" ")
		b.WriteString(e.Principal)
	}
	b.WriteString(": ")
	if e.Code != 0 {
		b.WriteString(errorcode.Lookup(e.Code))
	} else {
		b.WriteString(e.Text)
	}
	return b.String()
}

// Unwrap returns gss.ErrAuthFailed and the sentinel of the code, if any.
func (e *KRBError) Unwrap() []error {
	errs := []error{gss.ErrAuthFailed}
	switch e.Code {
	case errorcode.KRB_AP_ERR_SKEW, errorcode.KRB_AP_ERR_TKT_NYV:
		errs = append(errs, ErrClockSkew)
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		errs = append(errs, ErrTicketExpired)
	}
	return errs
}

// krbCodeInText finds the code gokrb5 formats into its error text as
// "KRB Error: (24) ...": its Krberror keeps the KRB-ERROR only as text.
var krbCodeInText = regexp.MustCompile(`KRB Error: \((\d+)\)`)

// classify turns a gokrb5 error into ours. KDC refusals and integrity
// failures become *KRBError; network trouble stays a plain error (it is
// not an authentication failure). No secret is in gokrb5's texts, but only
// the code and a fixed description are kept.
func classify(op, principal string, err error) error {
	var ke messages.KRBError
	if errors.As(err, &ke) {
		return &KRBError{Op: op, Principal: principal, Code: ke.ErrorCode}
	}
	if m := krbCodeInText.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.ParseInt(m[1], 10, 32)
		return &KRBError{Op: op, Principal: principal, Code: int32(code)}
	}
	var kerr krberror.Krberror
	if errors.As(err, &kerr) {
		switch kerr.RootCause {
		case krberror.NetworkingError:
			return fmt.Errorf("kerberos: %s %s: cannot reach the KDC: %s", op, principal, lastText(kerr))
		case krberror.DecryptingError, krberror.ChksumError, krberror.KRBMsgError:
			return &KRBError{Op: op, Principal: principal, Text: "reply does not decrypt (wrong password or key?)"}
		case krberror.ConfigError:
			return fmt.Errorf("kerberos: %s %s: configuration: %s", op, principal, lastText(kerr))
		}
	}
	return fmt.Errorf("kerberos: %s %s: %s", op, principal, err.Error())
}

// lastText is the innermost description of a gokrb5 error.
func lastText(e krberror.Krberror) string {
	if len(e.EText) == 0 {
		return e.RootCause
	}
	return e.EText[len(e.EText)-1]
}
