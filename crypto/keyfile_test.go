package crypto

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestKeyFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replica.key")
	k := mustKey(t, 9)
	if err := SavePrivateKey(path, k); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	want := "bulwark-ed25519-private-key\n" + strings.Repeat("09", 32) + "\n"
	if string(data) != want {
		t.Errorf("file contents = %q, want %q", data, want)
	}
	got, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Seed(), k.Seed()) || !bytes.Equal(got.PublicKey(), k.PublicKey()) {
		t.Error("loaded key differs from saved key")
	}
}

func TestSavePrivateKeyRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replica.key")
	if err := SavePrivateKey(path, mustKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	err := SavePrivateKey(path, mustKey(t, 2))
	if err == nil {
		t.Fatal("second save succeeded; want refusal")
	}
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v; want a refusal naming the path and wrapping fs.ErrExist", err)
	}
	k, err := LoadPrivateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Seed(), mustKey(t, 1).Seed()) {
		t.Error("original key was overwritten")
	}
}

func TestLoadPrivateKeyErrors(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not meaningful on Windows")
	}
	good := "bulwark-ed25519-private-key\n" + strings.Repeat("ab", 32) + "\n"
	tests := []struct {
		name     string
		content  *string // nil: no file
		mode     fs.FileMode
		want     error // nil: success
		contains string
	}{
		{"valid", ptr(good), 0o600, nil, ""},
		{"valid owner read-only", ptr(good), 0o400, nil, ""},
		{"valid CRLF uppercase", ptr("bulwark-ed25519-private-key\r\n" + strings.Repeat("AB", 32) + "\r\n"), 0o600, nil, ""},
		{"missing", nil, 0, ErrKeyFileMissing, "does not exist"},
		{"world readable", ptr(good), 0o644, ErrKeyFilePermissions, "is readable by others (mode 0644); chmod 600 it"},
		{"group readable", ptr(good), 0o640, ErrKeyFilePermissions, "mode 0640"},
		{"group writable", ptr(good), 0o620, ErrKeyFilePermissions, "accessible by others (mode 0620)"},
		{"exposed and malformed reports exposure", ptr("junk"), 0o666, ErrKeyFilePermissions, "chmod 600"},
		{"empty", ptr(""), 0o600, ErrKeyFileMalformed, "newline"},
		{"bad header", ptr("bulwark-rsa-private-key\n" + strings.Repeat("ab", 32) + "\n"), 0o600, ErrKeyFileMalformed, "first line"},
		{"no seed line", ptr("bulwark-ed25519-private-key\n"), 0o600, ErrKeyFileMalformed, "1 lines"},
		{"bad hex", ptr("bulwark-ed25519-private-key\n" + strings.Repeat("zz", 32) + "\n"), 0o600, ErrKeyFileMalformed, "not hex"},
		{"short seed", ptr("bulwark-ed25519-private-key\n" + strings.Repeat("ab", 31) + "\n"), 0o600, ErrKeyFileMalformed, "31 bytes"},
		{"long seed", ptr("bulwark-ed25519-private-key\n" + strings.Repeat("ab", 33) + "\n"), 0o600, ErrKeyFileMalformed, "33 bytes"},
		{"truncated", ptr(good[:len(good)-1]), 0o600, ErrKeyFileMalformed, "newline"},
		{"trailing line", ptr(good + "extra\n"), 0o600, ErrKeyFileMalformed, "3 lines"},
		{"spaces", ptr("bulwark-ed25519-private-key\n " + strings.Repeat("ab", 32) + "\n"), 0o600, ErrKeyFileMalformed, "not hex"},
		{"huge", ptr(good + strings.Repeat("x", 5000)), 0o600, ErrKeyFileMalformed, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replica.key")
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			k, err := LoadPrivateKey(path)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if k.Seed()[0] != 0xab {
					t.Errorf("seed = %x", k.Seed())
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want errors.Is %v", err, tt.want)
			}
			for _, other := range []error{ErrKeyFileMissing, ErrKeyFileMalformed, ErrKeyFilePermissions} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("err = %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %q, want it to name %s and contain %q", err, path, tt.contains)
			}
		})
	}
}

func TestLoadPrivateKeyMissingIsNotExist(t *testing.T) {
	_, err := LoadPrivateKey(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want it to wrap fs.ErrNotExist too", err)
	}
}

func TestLoadPrivateKeyDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPrivateKey(dir); !errors.Is(err, ErrKeyFileMalformed) {
		t.Errorf("err = %v, want ErrKeyFileMalformed", err)
	}
}

func ptr(s string) *string { return &s }
