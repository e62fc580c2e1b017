package crypto

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// Private key file format
//
// A private key file is ASCII text of exactly two lines, each ending in "\n":
//
//	bulwark-ed25519-private-key
//	<64 lowercase hex digits: the 32-byte RFC 8032 seed>
//
// Only the seed is stored; the public key is derived from it on load, so the
// two can never disagree. LoadPrivateKey also accepts uppercase hex and "\r\n"
// line endings (files edited on other systems) but nothing else: no blank
// lines, comments or surrounding spaces, so a damaged file is reported rather
// than guessed at. The file must not be accessible by group or others.
const keyFileHeader = "bulwark-ed25519-private-key"

// maxKeyFileSize bounds how much LoadPrivateKey reads, so pointing it at a
// large file by mistake fails fast instead of reading it all.
const maxKeyFileSize = 4096

// Sentinel errors from LoadPrivateKey, for use with errors.Is. The returned
// errors wrap them with the file path and details.
var (
	ErrKeyFileMissing     = errors.New("key file does not exist")
	ErrKeyFileMalformed   = errors.New("key file is malformed")
	ErrKeyFilePermissions = errors.New("key file has unsafe permissions")
)

// SavePrivateKey writes k to a new file at path with mode 0600, in the format
// described above. It refuses to overwrite an existing file (the error wraps
// fs.ErrExist): silently replacing a replica's identity key would turn that
// replica into a stranger to its cluster.
func SavePrivateKey(path string, k *PrivateKey) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("crypto: save private key: refusing to overwrite existing file %s: %w", path, err)
		}
		return fmt.Errorf("crypto: save private key: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("crypto: save private key: %w", cerr)
		}
		if err != nil {
			// Leave no truncated key behind; a later load would only
			// report it as malformed.
			os.Remove(path)
		}
	}()
	// The umask can only clear bits, but be explicit: the mode is the point.
	if runtime.GOOS != "windows" {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("crypto: save private key: %w", err)
		}
	}
	content := keyFileHeader + "\n" + hex.EncodeToString(k.Seed()) + "\n"
	if _, err := io.WriteString(f, content); err != nil {
		return fmt.Errorf("crypto: save private key: %w", err)
	}
	// Sync so a crash right after startup does not lose a freshly made key
	// whose public half may already have been shared.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("crypto: save private key: %w", err)
	}
	return nil
}

// LoadPrivateKey reads a key written by SavePrivateKey. Its errors name the
// path and wrap ErrKeyFileMissing, ErrKeyFilePermissions or
// ErrKeyFileMalformed as appropriate. Permissions are checked before the
// contents are parsed, so an exposed key is reported even if it is also
// damaged.
func LoadPrivateKey(path string) (*PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("crypto: load private key %s: %w: %w", path, ErrKeyFileMissing, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("crypto: load private key: %w", err)
	}
	defer f.Close()

	// Stat the open file rather than the path so the mode checked is that
	// of the file actually read.
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("crypto: load private key: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("crypto: load private key %s: %w: not a regular file", path, ErrKeyFileMalformed)
	}
	// Windows does not expose POSIX permission bits, so the check would be
	// meaningless there.
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		what := "is accessible by others"
		if perm&0o044 != 0 {
			what = "is readable by others"
		}
		return nil, fmt.Errorf("crypto: load private key %s: %w: %s (mode %04o); chmod 600 it",
			path, ErrKeyFilePermissions, what, perm)
	}

	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("crypto: load private key: %w", err)
	}
	k, err := parseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("crypto: load private key %s: %w: %w", path, ErrKeyFileMalformed, err)
	}
	return k, nil
}

// parseKeyFile parses the file contents. Its errors are plain descriptions;
// the caller attaches the path and ErrKeyFileMalformed.
func parseKeyFile(data []byte) (*PrivateKey, error) {
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxKeyFileSize)
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	if !strings.HasSuffix(s, "\n") {
		return nil, errors.New("does not end in a newline (truncated?)")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if lines[0] != keyFileHeader {
		return nil, fmt.Errorf("first line is not %q", keyFileHeader)
	}
	if len(lines) != 2 {
		return nil, fmt.Errorf("has %d lines, want 2", len(lines))
	}
	seed, err := hex.DecodeString(lines[1])
	if err != nil {
		return nil, fmt.Errorf("seed line is not hex: %w", err)
	}
	if len(seed) != seedSize {
		return nil, fmt.Errorf("seed is %d bytes, want %d", len(seed), seedSize)
	}
	return NewPrivateKeyFromSeed(seed)
}
