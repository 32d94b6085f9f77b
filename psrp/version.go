package psrp

import (
	"strconv"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// Protocol versions (the protocolversion of SESSION_CAPABILITY) whose
// features this package adapts to. See MS-PSRP 3.1.4.1 and PowerShell's
// RemotingConstants:
//
//	2.1  PowerShell 2.0
//	2.2  PowerShell 3.0: connect/disconnect, merged streams beyond the 2.1
//	     set, 500 KiB envelopes, client-initiated key exchange
//	2.3  PowerShell 5.0: the information stream (MergeInformation,
//	     INFORMATION_RECORD) and RESET_RUNSPACE_STATE
//	2.4  PowerShell 7.6: when BOTH peers are 2.4 or later the session-key
//	     exchange is obsolete (PowerShell/PowerShell#25774)
func protoVersion(major, minor int32) clixml.Version {
	return clixml.Version{Major: major, Minor: minor, Build: -1, Revision: -1}
}

// DefaultProtocolVersion is the protocolversion a ClientPool advertises and
// a ServerPool reports unless configured otherwise: 2.3, as Windows
// PowerShell 5.1 and pypsrp.
func DefaultProtocolVersion() clixml.Version { return protoVersion(2, 3) }

// defaultPSVersion and defaultSerializationVersion are what real clients
// send (MS-PSRP 2.2.2.1; pypsrp; captures).
func defaultPSVersion() clixml.Version { return protoVersion(2, 0) }
func defaultSerializationVersion() clixml.Version {
	return clixml.Version{Major: 1, Minor: 1, Build: 0, Revision: 1}
}

// versionAtLeast reports whether v >= major.minor.
func protoAtLeast(v clixml.Version, major, minor int32) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// SupportedServerVersion reports whether a ClientPool accepts a server that
// announces protocol v in its SESSION_CAPABILITY: any 2.x with x >= 1.
//
// The rule follows PowerShell. Its client accepts the server's version when
// it equals its own or is an older one it knows (a 2.3 client accepts 2.0,
// 2.1 and 2.2: RunClientNegotiationAlgorithm), and a PowerShell 7.6 server
// answers a 2.0-2.3 client with the client's own version, so real servers
// announce at most what the client announced. This package refuses 2.0,
// the protocol of pre-release Windows 7 builds only (PowerShell names it
// ProtocolVersionWin7RC), and every other major version: a 3.x server would
// speak a protocol whose incompatibility the major number announces. It
// accepts a 2.x above its own: minor versions only add messages and
// properties that each side gates on the other's version, and this package
// gates every feature on the server's announced version.
func SupportedServerVersion(v clixml.Version) bool {
	return v.Major == 2 && v.Minor >= 1
}

// VersionSupportsConnect reports whether a peer at protocol v supports
// disconnect/connect and the larger (500 KiB) envelope: 2.2 and later.
// PowerShell 3.0 and 4.0 hosts announce 2.2 and have both; 2.1 (PowerShell
// 2.0) has neither.
func VersionSupportsConnect(v clixml.Version) bool { return protoAtLeast(v, 2, 2) }

// VersionSupportsInformation reports whether a peer at protocol v has the
// information stream and RESET_RUNSPACE_STATE: 2.3 and later.
func VersionSupportsInformation(v clixml.Version) bool { return protoAtLeast(v, 2, 3) }

// keyExchangeObsolete reports whether two peers skip the session-key
// exchange: only when both are at 2.4 or later.
func keyExchangeObsolete(a, b clixml.Version) bool {
	return protoAtLeast(a, 2, 4) && protoAtLeast(b, 2, 4)
}

func versionString(v clixml.Version) string {
	s := strconv.Itoa(int(v.Major)) + "." + strconv.Itoa(int(v.Minor))
	if v.Build >= 0 {
		s += "." + strconv.Itoa(int(v.Build))
		if v.Revision >= 0 {
			s += "." + strconv.Itoa(int(v.Revision))
		}
	}
	return s
}
