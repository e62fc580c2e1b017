package network

import (
	"strings"
	"testing"

	"github.com/bulwark-bft/bulwark/crypto"
)

func TestConfigFrameLimitsAndBudget(t *testing.T) {
	k := newKey(t)
	pid, err := PeerIDOf(k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	base := Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Replicas: []Peer{{ID: 0, PeerID: pid}}, Logger: quietLog}

	cfg, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxClientFrameSize != DefaultMaxClientFrameSize || cfg.ReplicaFrameBudget != DefaultReplicaFrameBudget ||
		cfg.ClientFrameBudget != DefaultClientFrameBudget || cfg.admitted != nil {
		t.Fatalf("defaults: client frame %d, budgets %d/%d, admitted %v", cfg.MaxClientFrameSize, cfg.ReplicaFrameBudget, cfg.ClientFrameBudget, cfg.admitted)
	}
	// The whole budget is a small part of the replica's 256 MiB ceiling.
	if total := cfg.ReplicaFrameBudget + cfg.ClientFrameBudget; total > 64<<20 {
		t.Fatalf("default frame budget %d bytes in all", total)
	}

	small := base
	small.MaxFrameSize = 1024
	if cfg, err := small.withDefaults(); err != nil || cfg.MaxClientFrameSize != 1024 {
		t.Fatalf("MaxFrameSize 1024: client frame %d, %v", cfg.MaxClientFrameSize, err)
	}

	for _, tc := range []struct {
		name, want string
		tweak      func(*Config)
	}{
		{"client frame above frame", "Config.MaxClientFrameSize", func(c *Config) { c.MaxFrameSize, c.MaxClientFrameSize = 1024, 2048 }},
		{"negative client frame", "Config.MaxClientFrameSize", func(c *Config) { c.MaxClientFrameSize = -1 }},
		{"replica budget below a frame", "Config.ReplicaFrameBudget", func(c *Config) { c.ReplicaFrameBudget = DefaultMaxFrameSize - 1 }},
		{"client budget below a frame", "Config.ClientFrameBudget", func(c *Config) { c.ClientFrameBudget = 1 }},
		{"bad client key", "Config.Clients[0]", func(c *Config) { c.Clients = []crypto.PublicKey{{1}} }},
	} {
		cfg := base
		tc.tweak(&cfg)
		if _, err := cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
}
