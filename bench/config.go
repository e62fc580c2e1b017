package bench

import (
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-bft/bulwark"
)

// Config is one benchmark run; the report carries it whole, so a figure is
// never separated from what produced it.
type Config struct {
	Replicas int `json:"replicas"`
	// Clients is the number of closed-loop clients: operations outstanding
	// at once. They share ClientHosts client keys, each its own libp2p host.
	Clients     int           `json:"clients"`
	ClientHosts int           `json:"client_hosts"`
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	// Payload is the size of each request's operation; the null service
	// replies with as many bytes.
	Payload int    `json:"payload_bytes"`
	Service string `json:"service"`
	// Keys is the key space of the kv workload.
	Keys int `json:"keys"`
	// Reads is the fraction of operations that are linearizable reads
	// (Client.Read: a kv get, or a null Query), each operation drawn from
	// the run's seed; the rest are writes (Client.Do). 0, the default, is a
	// run of writes alone.
	Reads float64 `json:"reads"`
	// Procs runs each replica as its own `bulwark replica` process.
	Procs bool `json:"procs"`
	// Binary is the bulwark executable Procs starts (default: this one).
	Binary       string           `json:"binary,omitempty"`
	Faults       []Fault          `json:"faults"`
	Unreplicated bool             `json:"unreplicated"`
	Seed         int64            `json:"seed"`
	DataDir      string           `json:"data_dir,omitempty"`
	Protocol     bulwark.Protocol `json:"protocol"`
	// Transport is what replicas listen on: tcp, quic or both (then dialled
	// over TCP, see the network package's dial ranking).
	Transport string `json:"transport"`
	// Timeout bounds each operation; one that takes longer is an error.
	Timeout time.Duration `json:"op_timeout_ns"`
	// NoBaseline skips the fault-free run that a run with client attacks
	// otherwise starts with (Report.Baseline).
	NoBaseline bool `json:"no_baseline,omitempty"`
}

// DefaultConfig is `bulwark bench` without flags.
func DefaultConfig() Config {
	p := bulwark.DefaultProtocol
	p.MaxBatch = 256
	return Config{
		Replicas: 4, Clients: 32, Duration: 10 * time.Second, Warmup: 2 * time.Second,
		Payload: 128, Service: "null", Keys: 10_000, Seed: 1, Protocol: p, Timeout: 10 * time.Second,
		Transport: "both",
	}
}

// sessionsPerHost is how many clients share one client key and host when
// ClientHosts is not set.
const sessionsPerHost = 64

// normalize fills derived defaults and checks the configuration; every
// mistake names its flag.
func (c *Config) normalize() error {
	if c.Unreplicated {
		c.Replicas = 1
	} else if c.Replicas < 4 || (c.Replicas-1)%3 != 0 {
		return fmt.Errorf("--replicas: %d is not 3f+1 for some f >= 1 (4, 7, 10, ...)", c.Replicas)
	}
	switch {
	case c.Clients < 1:
		return fmt.Errorf("--clients: %d is below 1", c.Clients)
	case c.Duration <= 0:
		return errors.New("--duration: must be positive")
	case c.Warmup < 0:
		return errors.New("--warmup: must not be negative")
	case c.Payload < 0 || c.Payload > 1<<20:
		return fmt.Errorf("--payload: %d is outside [0, 1 MiB]", c.Payload)
	case c.Service != "null" && c.Service != "kv":
		return fmt.Errorf("--service: %q is not null or kv", c.Service)
	case c.Keys < 1:
		return fmt.Errorf("--keys: %d is below 1", c.Keys)
	case !(c.Reads >= 0 && c.Reads <= 1): // NaN too
		return fmt.Errorf("--reads: %v is outside [0, 1]", c.Reads)
	case c.Reads > 0 && c.Unreplicated:
		// The unreplicated server orders every request and its reply is not
		// marked read-only, so the client would wait out each read's
		// retransmission timeout before ordering it again.
		return errors.New("--reads: the unreplicated server answers no unordered reads; drop --reads or --unreplicated")
	case c.Timeout <= 0:
		return errors.New("--op-timeout: must be positive")
	case c.Transport != "tcp" && c.Transport != "quic" && c.Transport != "both":
		return fmt.Errorf("--transport: %q is not tcp, quic or both", c.Transport)
	}
	if c.ClientHosts <= 0 {
		c.ClientHosts = (c.Clients + sessionsPerHost - 1) / sessionsPerHost
	}
	c.ClientHosts = min(c.ClientHosts, c.Clients)
	if err := bulwark.ValidateProtocol(c.Protocol); err != nil {
		return fmt.Errorf("--batch: %w", err)
	}
	if c.Unreplicated && len(c.Faults) > 0 {
		return errors.New("--fault: an unreplicated server has no faults to tolerate; drop --fault or --unreplicated")
	}
	if n, f := faultyReplicas(c.Faults, c.Replicas), (c.Replicas-1)/3; n > f {
		return fmt.Errorf("--fault: the faults make %d replicas faulty, more than f = %d of %d replicas tolerate", n, f, c.Replicas)
	}
	for _, f := range c.Faults {
		if err := f.Validate(c.Replicas); err != nil {
			return err
		}
		if f.Kind == Partition && c.Procs {
			return fmt.Errorf("--fault %q: partitions cut links inside the process; run without --procs", f.Spec)
		}
	}
	return nil
}

// faultyReplicas counts the replicas the faults make faulty: each replica
// given a --fault mode, each replica cut off, and a killed primary (which
// may be a replica not otherwise faulty, so it counts once more).
func faultyReplicas(faults []Fault, replicas int) int {
	faulty := map[int]bool{}
	kills := 0
	for _, f := range faults {
		if id, _, ok := f.ReplicaMode(replicas); ok {
			faulty[id] = true
		} else if f.Kind == Partition {
			faulty[f.Replica] = true
		} else if f.Kind == KillPrimary {
			kills++
		}
	}
	return len(faulty) + kills
}
