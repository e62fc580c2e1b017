package bulwark_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
)

// TestValidityLimitsLiveInTheClusterFile: the limits that decide which
// requests are valid come from the cluster file, are checked field by
// field, reach the core and the client, and are part of the signing
// domain, so replicas whose files differ in them never agree.
func TestValidityLimitsLiveInTheClusterFile(t *testing.T) {
	ports, err := testnet.FreePorts(4)
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := testnet.Generate(testnet.Loopback(4), ports, bulwark.DefaultProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := bulwark.Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	f.Protocol.MaxOperationSize, f.Protocol.MaxSessions, f.Protocol.MaxClientSessions = 1000, 64, 512
	c, err := bulwark.Validate(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.ReplicaConfig(1)
	if cfg.MaxOperationSize != 1000 || cfg.MaxSessions != 64 || cfg.MaxClientSessions != 512 || c.MaxOperationSize() != 1000 {
		t.Fatalf("the core got %d, %d, %d; want the file's 1000, 64, 512", cfg.MaxOperationSize, cfg.MaxSessions, cfg.MaxClientSessions)
	}
	if cfg.ClusterID == plain.ReplicaConfig(1).ClusterID {
		t.Fatal("files that differ in their validity limits sign under one domain")
	}
	other := f
	other.Protocol.MaxSessions = 65
	if o, err := bulwark.Validate(other); err != nil || o.ReplicaConfig(1).ClusterID == cfg.ClusterID {
		t.Fatalf("max_sessions 64 and 65 sign under one domain (%v)", err)
	}

	key, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := bulwark.Dial(t.Context(), c, key, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Do(t.Context(), make([]byte, 1001)); !errors.Is(err, bulwark.ErrOperationTooLarge) {
		t.Fatalf("1001 bytes under a 1000-byte limit: %v", err)
	}

	for _, tc := range []struct {
		set  func(p *bulwark.Protocol)
		want string
	}{
		{func(p *bulwark.Protocol) { p.MaxOperationSize = 2 << 20 }, "protocol.max_operation_size: 2097152 is outside [1, 1048576]"},
		{func(p *bulwark.Protocol) { p.MaxClientSessions = -1 }, "protocol.max_client_sessions: -1 is outside"},
		{func(p *bulwark.Protocol) { p.MaxReplyCacheBytes = 1 << 40 }, "protocol.max_reply_cache_bytes: 1099511627776 is outside"},
		{func(p *bulwark.Protocol) { p.SlowPrimaryPercent = 101 }, "protocol.slow_primary_percent: 101 is outside [1, 100] (or -1: off)"},
		{func(p *bulwark.Protocol) { p.SlowPrimaryPercent = -2 }, "protocol.slow_primary_percent: -2 is outside"},
		{func(p *bulwark.Protocol) { p.PerformanceWindowTicks = 1 << 21 }, "protocol.performance_window_ticks: 2097152 is above"},
	} {
		bad := f
		tc.set(&bad.Protocol)
		if _, err := bulwark.Validate(bad); err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got %v, want one line starting %q", err, tc.want)
		}
	}
}
