package credssp

import (
	"fmt"

	"github.com/gopsrp/gopsrp/internal/gss"
)

// NTSTATUS values a CredSSP server reports in errorCode.
const (
	StatusUnsuccessful     uint32 = 0xC0000001
	StatusInvalidParameter uint32 = 0xC000000D
	StatusAccessDenied     uint32 = 0xC0000022
	StatusLogonFailure     uint32 = 0xC000006D
	StatusAccountRestrict  uint32 = 0xC000006E
	StatusPasswordExpired  uint32 = 0xC0000071
	StatusAccountDisabled  uint32 = 0xC0000072
	StatusNotSupported     uint32 = 0xC00000BB
	StatusAccountLockedOut uint32 = 0xC0000234
	// SecELogonDenied is the SSPI HRESULT SEC_E_LOGON_DENIED, which
	// pyspnego (and SSPI-based servers) put in errorCode for a wrong password.
	SecELogonDenied uint32 = 0x8009030C
)

var statusNames = map[uint32]string{
	StatusUnsuccessful:     "STATUS_UNSUCCESSFUL",
	StatusInvalidParameter: "STATUS_INVALID_PARAMETER",
	StatusAccessDenied:     "STATUS_ACCESS_DENIED",
	StatusLogonFailure:     "STATUS_LOGON_FAILURE",
	StatusAccountRestrict:  "STATUS_ACCOUNT_RESTRICTION",
	StatusPasswordExpired:  "STATUS_PASSWORD_EXPIRED",
	StatusAccountDisabled:  "STATUS_ACCOUNT_DISABLED",
	StatusNotSupported:     "STATUS_NOT_SUPPORTED",
	StatusAccountLockedOut: "STATUS_ACCOUNT_LOCKED_OUT",
	SecELogonDenied:        "SEC_E_LOGON_DENIED",
}

// StatusError is a failure the server reported in the errorCode field of
// a TSRequest. It wraps gss.ErrAuthFailed.
type StatusError struct {
	// Code is the NTSTATUS.
	Code uint32
}

func (e *StatusError) Error() string {
	if name, ok := statusNames[e.Code]; ok {
		return fmt.Sprintf("credssp: server refused authentication: %s (0x%08X)", name, e.Code)
	}
	return fmt.Sprintf("credssp: server refused authentication: NTSTATUS 0x%08X", e.Code)
}

// Unwrap returns gss.ErrAuthFailed.
func (e *StatusError) Unwrap() error { return gss.ErrAuthFailed }

// VersionError is a peer whose TSRequest version is below the minimum
// accepted. It wraps gss.ErrUnsupported.
type VersionError struct {
	// Version is the peer's version; Min the lowest accepted.
	Version, Min int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("credssp: peer speaks CredSSP version %d, below the minimum %d", e.Version, e.Min)
}

// Unwrap returns gss.ErrUnsupported.
func (e *VersionError) Unwrap() error { return gss.ErrUnsupported }
