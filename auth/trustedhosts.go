package auth

import (
	"net"
	"strings"
)

// HostTrusted reports whether host matches one of the WinRM TrustedHosts
// patterns: "*", an exact host name or IP address, "*.suffix" (any name
// ending in ".suffix"), or "<local>" (a name without a dot). Each pattern
// may itself be a comma-separated list, as the WinRM setting is. Names
// compare case-insensitively and ignore a trailing dot.
func HostTrusted(patterns []string, host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" {
		return false
	}
	hostIP := net.ParseIP(host)
	for _, list := range patterns {
		for p := range strings.SplitSeq(list, ",") {
			p = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(p)), ".")
			switch {
			case p == "":
			case p == "*":
				return true
			case p == "<local>":
				if hostIP == nil && !strings.Contains(host, ".") {
					return true
				}
			case strings.HasPrefix(p, "*"):
				// "*.corp.example" and "*corp.example": a suffix match on
				// names only; an IP address never matches a wildcard.
				if hostIP == nil && len(host) > len(p)-1 && strings.HasSuffix(host, p[1:]) {
					return true
				}
			default:
				if ip := net.ParseIP(strings.Trim(p, "[]")); ip != nil {
					if hostIP != nil && ip.Equal(hostIP) {
						return true
					}
				} else if p == host {
					return true
				}
			}
		}
	}
	return false
}
