package bulwark_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/statemachine"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
	"github.com/bulwark-bft/bulwark/statemachine/null"
)

// syncBuffer is a log destination safe for the replica's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWrongServiceIsNamedInTheLog: a replica running another service than
// the rest (a cluster file that names none cannot stop it at start) logs,
// at its first checkpoint, that its state digest is not the one 2f+1
// replicas signed.
func TestWrongServiceIsNamedInTheLog(t *testing.T) {
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := testnet.WriteTestnet(dir, testnet.Loopback(4), ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	for id := range uint32(4) {
		key, err := crypto.LoadPrivateKey(filepath.Join(testnet.ReplicaDir(dir, id), "key"))
		if err != nil {
			t.Fatal(err)
		}
		var svc statemachine.Service = kv.New()
		logger := slog.New(slog.DiscardHandler)
		if id == 3 {
			svc, logger = null.New(), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
		r, err := bulwark.StartReplica(t.Context(), bulwark.ReplicaOptions{
			Cluster: c, ID: id, Key: key, DataDir: filepath.Join(testnet.ReplicaDir(dir, id), "data"), Service: svc, Logger: logger,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Stop() })
	}
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := bulwark.Dial(ctx, c, key, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; !strings.Contains(logs.String(), "state digest differs from the one 2f+1 replicas signed"); i++ {
		if ctx.Err() != nil {
			t.Fatalf("after %d operations, no divergence logged by the null replica; its log:\n%s", i, logs.String())
		}
		if _, err := cl.Do(ctx, kv.EncodePut(fmt.Appendf(nil, "k%d", i), []byte("v"))); err != nil {
			t.Fatal(err)
		}
	}
}
