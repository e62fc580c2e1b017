package pbft

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCoreIsPure keeps the core free of clocks, locks and I/O: it imports
// neither time nor sync, and nothing it depends on pulls in libp2p or Badger.
func TestCoreIsPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]bool{"time": true, "sync": true, "sync/atomic": true, "math/rand": true, "math/rand/v2": true, "os": true, "net": true}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range src.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[path] || strings.Contains(path, "libp2p") || strings.Contains(path, "badger") {
				t.Errorf("%s imports %q: the core must stay pure", f, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no core files found")
	}
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "libp2p") || strings.Contains(dep, "dgraph-io/badger") {
			t.Errorf("the core depends on %s", dep)
		}
	}
}
