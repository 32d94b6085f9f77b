// Package interop holds tests only: third-party WinRM and PSRP clients
// (pypsrp with pyspnego from ../shared/peers, and Debian's pywinrm) driven
// against the emulated endpoint of session/sessiontest over every
// authentication mechanism with message encryption. Our client and our
// endpoint could be wrong the same way; these clients were written by
// others against real Windows hosts.
package interop
