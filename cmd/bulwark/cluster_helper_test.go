package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/internal/testnet"
)

// startReplicas writes a 4-replica testnet on free loopback ports and runs
// the real `bulwark replica` command for each, in-process, with the extra
// flags given per replica id. It returns the cluster file and a stop
// function (idempotent, also run at cleanup) that ends the replicas and
// reports any that failed.
func startReplicas(t *testing.T, extra map[int][]string) (path string, ctx context.Context, stop func()) {
	t.Helper()
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	path, err = writeTestnet(t.TempDir(), "127.0.0.1", ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errs := make(chan error, 4)
	for i := range 4 {
		args := append([]string{"replica", "--cluster", path, "--id", fmt.Sprint(i), "--log-level", "error"}, extra[i]...)
		go func() {
			_, err := run(ctx, args...)
			errs <- err
		}()
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		for range 4 {
			if err := <-errs; err != nil {
				t.Errorf("replica: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return path, ctx, stop
}
