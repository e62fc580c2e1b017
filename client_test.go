package bulwark_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
	"github.com/bulwark-bft/bulwark/pbft"
)

// TestClientErrorsAreTyped: an operation over the limit fails at once,
// before anything is sent; one the cluster never answers (here no replica
// runs) fails when its context ends with a NoQuorumError that says how far
// it got and still matches the context's error.
func TestClientErrorsAreTyped(t *testing.T) {
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := testnet.Generate(testnet.Loopback(4), ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	c, err := bulwark.Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := bulwark.Dial(t.Context(), c, key, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	start := time.Now()
	_, err = cl.Do(t.Context(), make([]byte, pbft.DefaultMaxOperationSize+1))
	if !errors.Is(err, bulwark.ErrOperationTooLarge) || time.Since(start) > time.Second {
		t.Fatalf("an operation one byte over the limit: %v after %v, want ErrOperationTooLarge at once", err, time.Since(start))
	}

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = cl.Do(ctx, []byte("op"))
	nq, ok := errors.AsType[*bulwark.NoQuorumError](err)
	if !ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no replica running: %v, want a NoQuorumError wrapping the deadline", err)
	}
	if nq.Replicas != 4 || nq.Connected != 0 || !nq.Sent || nq.Replied != 0 || nq.Need != 3 {
		t.Fatalf("no replica running: %+v, want 4 replicas, 0 connected, sent, 0 replies, 3 needed (2f+1: the cluster has fast reads)", *nq)
	}
	if !strings.Contains(err.Error(), "0 of 4 replicas connected, 0 replied, 0 matching replies (need 3)") {
		t.Fatalf("error text %q lacks the counts", err)
	}

	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := cl.Do(t.Context(), []byte("op")); !errors.Is(err, bulwark.ErrClientClosed) {
		t.Fatalf("after Close: %v, want ErrClientClosed", err)
	}
}
