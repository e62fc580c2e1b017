package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBuildsAsAnExternalModule copies this example, its service package and
// its tests, into a module of its own outside the repository
// (example.com/ledger, with a replace to this checkout) and runs its process
// test there: four replica processes, concurrent clients authorised by
// account key, a SIGKILLed primary, per-replica status. Go refuses to
// compile a module that imports another module's internal/ packages, so
// this is the proof that an embedder needs only the public API: the root
// package, statemachine, its servicetest and crypto.
func TestBuildsAsAnExternalModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and runs replica processes")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	root := goEnv(ctx, t, "", "GOMOD")
	if root == "" || root == os.DevNull {
		t.Fatal("not inside the bulwark module")
	}
	root = filepath.Dir(root)
	rootMod := mustRead(t, filepath.Join(root, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(rootMod)
	if goVersion == nil {
		t.Fatal("go.mod names no go version")
	}

	dir := filepath.Join(t.TempDir(), "ledger")
	const self = "github.com/bulwark-bft/bulwark/examples/ledger"
	for _, sub := range []string{".", "ledger"} {
		files, err := filepath.Glob(filepath.Join(root, "examples", "ledger", sub, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no sources in examples/ledger/%s: %v", sub, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if filepath.Base(f) == "external_test.go" {
				continue // this test, which would run itself again
			}
			src := bytes.ReplaceAll(mustRead(t, f), []byte(`"`+self), []byte(`"example.com/ledger`))
			if err := os.WriteFile(filepath.Join(dir, sub, filepath.Base(f)), src, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The requirements are bulwark's own, as `go get` would have written
	// them (listing them spares a module lookup, which an offline machine
	// cannot make, for the test dependencies of dependencies).
	requires := regexp.MustCompile(`(?s)\nrequire \(.*?\n\)\n`).FindAll(rootMod, -1)
	mod := "module example.com/ledger\n\ngo " + string(goVersion[1]) + "\n\n" +
		"require github.com/bulwark-bft/bulwark v0.0.0\n" + string(bytes.Join(requires, nil)) + "\n" +
		"replace github.com/bulwark-bft/bulwark => " + root + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every module the example needs is one bulwark needs: its go.sum
	// vouches for them, and the module cache already holds them.
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), mustRead(t, filepath.Join(root, "go.sum")), 0o644); err != nil {
		t.Fatal(err)
	}

	goCmd(ctx, t, dir, "vet", "./...")
	imports := goCmd(ctx, t, dir, "list", "-f", `{{join .Imports "\n"}}{{"\n"}}{{join .TestImports "\n"}}`, "./...")
	var public []string
	for _, imp := range strings.Fields(imports) {
		if strings.Contains(imp, "/internal/") || strings.HasSuffix(imp, "/internal") {
			t.Errorf("the external module imports %s", imp)
		}
		if strings.HasPrefix(imp, "github.com/bulwark-bft/bulwark") && !strings.Contains(strings.Join(public, " "), imp) {
			public = append(public, imp)
		}
	}
	t.Logf("bulwark packages the external module imports: %s", strings.Join(public, ", "))
	out := goCmd(ctx, t, dir, "test", "-count=1", "-run", "^(TestReplicaProcesses|TestConformance|TestOnlyTheOwnerDebits)$", "-v", "./...")
	for _, want := range []string{"--- PASS: TestReplicaProcesses", "--- PASS: TestConformance", "--- PASS: TestOnlyTheOwnerDebits"} {
		if !strings.Contains(out, want) {
			t.Errorf("the external module's tests did not report %q:\n%s", want, out)
		}
	}
}

// goCmd runs the go command in dir, offline (every module is in the cache
// already), and returns its output; it fails the test on an error.
func goCmd(ctx context.Context, t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func goEnv(ctx context.Context, t *testing.T, dir, name string) string {
	t.Helper()
	return strings.TrimSpace(goCmd(ctx, t, dir, "env", name))
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
