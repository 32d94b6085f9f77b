package sessiontest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// FileSystem is the emulated host's disk, on which the endpoint carries out
// file transfers: the scripts of package session's CopyTo, CopyFrom, Upload
// and Download, and those of pypsrp's Client.copy and Client.fetch, which
// the endpoint recognises by their exact text (it does not interpret
// PowerShell). Windows paths map into Root: C:\temp\x.txt is
// Root/C/temp/x.txt, a relative path is taken from the current location
// C:\Users\User\Documents, and a path that would leave Root (.. above a
// drive, UNC paths) is refused as access denied. Names compare as the
// local file system does (case-sensitive on Linux, unlike Windows).
//
// Its methods are safe for concurrent use.
type FileSystem struct {
	srv *Server

	mu     sync.Mutex
	root   string
	own    bool  // root was made here: removed when the server closes
	free   int64 // bytes writable before "disk full"; < 0 means no limit
	denied []string
}

// currentLocation is the directory a relative path starts from, where a
// remote session starts on Windows (the user's Documents).
const currentLocation = `C:\Users\User\Documents`

// Files returns the server's emulated file system. Its root is a temporary
// directory, made on first use and removed when the server closes, unless
// SetRoot chose another.
func (s *Server) Files() *FileSystem {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	if s.files == nil {
		s.files = &FileSystem{srv: s, free: -1}
	}
	return s.files
}

// Root returns the directory the host's drives live in, making a temporary
// one if none was set.
func (f *FileSystem) Root() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.root == "" {
		dir, err := os.MkdirTemp("", "sessiontest-files-")
		if err != nil {
			panic("sessiontest: " + err.Error())
		}
		f.root, f.own = dir, true
	}
	return f.root
}

// SetRoot makes dir (which must exist) the directory the host's drives
// live in; it is not removed at Close. Set it before the first transfer.
func (f *FileSystem) SetRoot(dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.own {
		_ = os.RemoveAll(f.root)
	}
	f.root, f.own = dir, false
}

// SetFreeSpace simulates a disk with n bytes free: writes of file
// transfers beyond that fail as Windows does when a disk is full
// (ERROR_DISK_FULL). Removed files give their space back. A negative n
// means no limit (the default).
func (f *FileSystem) SetFreeSpace(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free = n
}

// DenyAccess makes the Windows path winPath, and everything under it,
// refuse file transfers as access denied (UnauthorizedAccessException),
// as an ACL would: tests run as root, whom file modes do not stop.
func (f *FileSystem) DenyAccess(winPath string) {
	w, _, err := cleanWinPath(winPath)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied = append(f.denied, strings.ToLower(w))
}

// LocalPath returns where the Windows path winPath lives on this machine.
func (f *FileSystem) LocalPath(winPath string) (string, error) {
	_, parts, err := cleanWinPath(winPath)
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{f.Root()}, parts...)...), nil
}

// release removes a root made here.
func (f *FileSystem) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.own {
		_ = os.RemoveAll(f.root)
		f.own = false
	}
}

// isDenied reports whether the cleaned Windows path w is under a path
// given to DenyAccess.
func (f *FileSystem) isDenied(w string) bool {
	w = strings.ToLower(w)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.denied {
		if w == d || strings.HasPrefix(w, strings.TrimSuffix(d, `\`)+`\`) {
			return true
		}
	}
	return false
}

// take reserves n bytes of free space, or reports the disk full.
func (f *FileSystem) take(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.free < 0 {
		return true
	}
	if n > f.free {
		return false
	}
	f.free -= n
	return true
}

// giveBack returns the space of a removed file.
func (f *FileSystem) giveBack(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.free >= 0 {
		f.free += n
	}
}

// errEscapes reports a path that would leave the file system's root.
var errEscapes = errors.New("sessiontest: the path leaves the emulated file system")

// errBadPath reports a path Windows would refuse as malformed.
var errBadPath = errors.New("sessiontest: illegal characters in path")

// cleanWinPath resolves a Windows path as GetUnresolvedProviderPathFromPSPath
// and GetFullPath do for the file system (relative to currentLocation; .
// and .. folded; / taken as \) and returns it in canonical form
// (C:\a\b) and as the parts of its local path (C, a, b).
func cleanWinPath(p string) (string, []string, error) {
	p = strings.ReplaceAll(strings.TrimSpace(p), "/", `\`)
	p = strings.TrimPrefix(p, `Microsoft.PowerShell.Core\FileSystem::`)
	switch {
	case strings.HasPrefix(p, `\\`):
		return "", nil, errEscapes // UNC: another host
	case len(p) >= 2 && p[1] == ':' && isDriveLetter(p[0]):
		if len(p) > 2 && p[2] != '\\' {
			p = p[:2] + `\` + p[2:] // drive-relative: from the drive's root
		}
	case strings.HasPrefix(p, `\`):
		p = "C:" + p
	default:
		p = currentLocation + `\` + p
	}
	drive := strings.ToUpper(p[:1])
	parts := []string{drive}
	for _, c := range strings.Split(p[2:], `\`) {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(parts) == 1 {
				return "", nil, errEscapes
			}
			parts = parts[:len(parts)-1]
			continue
		}
		if strings.ContainsAny(c, "<>:\"|?*") || strings.IndexFunc(c, func(r rune) bool { return r < 32 }) >= 0 {
			return "", nil, errBadPath
		}
		parts = append(parts, c)
	}
	return parts[0] + `:\` + strings.Join(parts[1:], `\`), parts, nil
}

func isDriveLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
