package bulwark_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// TestClientsSharingAKey: two clients with one key, each with a connection
// of its own (as two processes have), run concurrently and both complete
// every operation: their sessions do not collide, and each gets the replies
// of its own sessions although the replicas send the key's replies to both.
func TestClientsSharingAKey(t *testing.T) {
	c, _ := startCluster(t)
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const ops = 40
	var wg sync.WaitGroup
	for p := range 2 {
		cl, err := bulwark.Dial(ctx, c, key, 4, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for w := range 4 {
			wg.Go(func() {
				for i := range ops / 4 {
					k := fmt.Appendf(nil, "p%d-w%d-%d", p, w, i)
					octx, ocancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := cl.Do(octx, kv.EncodePut(k, []byte("v")))
					ocancel()
					if err != nil {
						t.Errorf("client %d: put %s: %v", p, k, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
}
