package bulwark

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bulwark-bft/bulwark/statemachine"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/pbft"
)

// File is the public cluster description every replica and client reads:
// no private key material, only what others may know.
type File struct {
	ClusterID string         `json:"cluster_id"`
	Replicas  []ReplicaEntry `json:"replicas"`
	Protocol  Protocol       `json:"protocol"`
	// Clients, if present, are the hex public keys of the only clients the
	// replicas admit (to order requests, read and ask for status); absent,
	// every client key is admitted.
	Clients []string `json:"clients,omitempty"`
	// Service, if present, names the service every replica must run: a
	// replica whose service identifies as another refuses to start, and the
	// name and version are part of every signed message, so that replicas
	// started from cluster files that disagree on it never agree on anything.
	Service *ServiceID `json:"service,omitempty"`
}

// ServiceID is a service's name and version (statemachine.Identified).
type ServiceID struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// signingDomain is the cluster id the replicas and clients sign under: the
// cluster file's, the service's name and version when it names one, and a
// digest of the protocol section when it sets a validity limit, so that
// replicas whose files disagree on any of them never agree on anything.
// (Files that set none keep signing under the bare cluster id, as every
// file did before these fields existed.)
func (f File) signingDomain() string {
	d := f.ClusterID
	if f.Service != nil {
		d += "\x00service=" + f.Service.Name + "@" + f.Service.Version
	}
	p := f.Protocol
	if p.MaxOperationSize != 0 || p.MaxSessions != 0 || p.MaxClientSessions != 0 || p.MaxReplyCacheBytes != 0 || p.ClientIdleSequences != 0 || p.OrderedReads {
		b, _ := json.Marshal(p.withDefaults()) // a struct of numbers: cannot fail
		sum := sha256.Sum256(b)
		d += "\x00protocol=" + hex.EncodeToString(sum[:8])
	}
	return d
}

// CheckService reports whether svc is the service the cluster file names:
// nil if the file names none, or svc identifies as exactly it.
func (c *Cluster) CheckService(svc statemachine.Service) error {
	want := c.File.Service
	if want == nil {
		return nil
	}
	id, ok := svc.(statemachine.Identified)
	if !ok {
		return fmt.Errorf("the cluster file names service %s version %s, and this service does not say which it is (statemachine.Identified)", want.Name, want.Version)
	}
	if name, version := id.ServiceIdentity(); name != want.Name || version != want.Version {
		return fmt.Errorf("the cluster file names service %s version %s, this replica runs %s version %s", want.Name, want.Version, name, version)
	}
	return nil
}

// ReplicaEntry is one replica: its id (its index), ed25519 public key, the
// libp2p peer id derived from it, and the multiaddrs it listens on.
type ReplicaEntry struct {
	ID        uint32   `json:"id"`
	PublicKey string   `json:"public_key"`
	PeerID    string   `json:"peer_id"`
	Addrs     []string `json:"addrs"`
}

// Protocol holds the PBFT parameters all replicas must share. Zero
// MaxBatchBytes and MaxMessageSize take their defaults, as in pbft.Config,
// and are then left out of the file: files written before they existed mean
// the defaults. A file that writes 0 for them is refused.
type Protocol struct {
	CheckpointInterval uint64 `json:"checkpoint_interval"`
	Window             uint64 `json:"window"`
	MaxBatch           int    `json:"max_batch"`
	// MaxBatchBytes bounds the encoded requests of one batch.
	MaxBatchBytes int `json:"max_batch_bytes,omitempty"`
	// MaxMessageSize is the network's frame limit, in and out, and the
	// largest message the core may have to send.
	MaxMessageSize  int    `json:"max_message_size,omitempty"`
	ViewChangeTicks uint64 `json:"view_change_ticks"`
	TickMS          int    `json:"tick_ms"`
	// The limits below decide which requests are valid and what the
	// replicated client table keeps, so every replica must use the same:
	// the whole protocol section is part of what every message is signed
	// under (see signingDomain), and replicas whose files differ in it
	// verify none of each other's messages. Left out (0), each takes the
	// core's default.
	//
	// MaxOperationSize bounds one operation, at most
	// pbft.DefaultMaxOperationSize; clients refuse larger ones before
	// sending (ErrOperationTooLarge).
	MaxOperationSize int `json:"max_operation_size,omitempty"`
	// MaxSessions bounds session ids (pbft.Config.MaxSessions).
	MaxSessions uint64 `json:"max_sessions,omitempty"`
	// MaxClientSessions, MaxReplyCacheBytes and ClientIdleSequences bound
	// the client table (pbft.Config).
	MaxClientSessions   int    `json:"max_client_sessions,omitempty"`
	MaxReplyCacheBytes  int    `json:"max_reply_cache_bytes,omitempty"`
	ClientIdleSequences uint64 `json:"client_idle_sequences,omitempty"`
	// OrderedReads turns the fast read path off: every read is ordered like
	// a write, and every operation completes on f+1 matching replies. By
	// default reads go unordered, answered from executed state, and then
	// reads and writes alike complete on 2f+1 matching replies: the rule
	// that keeps fast reads linearizable when f replicas lie (see
	// client.Config.FastReads). All clients must follow the same rule, so
	// it is part of the signing domain like the limits above.
	OrderedReads bool `json:"ordered_reads,omitempty"`
	// How backups measure the primary, to replace one that is slow to
	// propose (pbft.Config's fields of the same names; 0 takes the core's
	// default): over windows of performance_window_ticks, a primary whose
	// median propose delay is slow_primary_delay_factor times the recent
	// one (and min_propose_delay_ticks) while it orders less than
	// slow_primary_percent of a recent window is suspected; -1 for
	// slow_primary_percent turns the measure off. They decide when a view
	// changes, never what executes.
	PerformanceWindowTicks uint64 `json:"performance_window_ticks,omitempty"`
	SlowPrimaryDelayFactor uint64 `json:"slow_primary_delay_factor,omitempty"`
	MinProposeDelayTicks   uint64 `json:"min_propose_delay_ticks,omitempty"`
	SlowPrimaryPercent     int    `json:"slow_primary_percent,omitempty"`
}

// DefaultProtocol is what a new testnet gets.
var DefaultProtocol = Protocol{
	CheckpointInterval: pbft.DefaultCheckpointInterval,
	Window:             2 * pbft.DefaultCheckpointInterval,
	MaxBatch:           pbft.DefaultMaxBatchSize,
	MaxBatchBytes:      pbft.DefaultMaxBatchBytes,
	MaxMessageSize:     network.DefaultMaxFrameSize,
	ViewChangeTicks:    pbft.DefaultViewChangeTicks,
	TickMS:             10,
}

// withDefaults fills the fields whose zero means "the default".
func (p Protocol) withDefaults() Protocol {
	if p.MaxBatchBytes == 0 {
		p.MaxBatchBytes = pbft.DefaultMaxBatchBytes
	}
	if p.MaxMessageSize == 0 {
		p.MaxMessageSize = network.DefaultMaxFrameSize
	}
	return p
}

// Cluster is a validated cluster file with its fields parsed.
type Cluster struct {
	File  File
	Pubs  []crypto.PublicKey
	Peers []network.Peer
	// Clients are the admitted client keys; nil admits every client.
	Clients []crypto.PublicKey
}

// N is the number of replicas.
func (c *Cluster) N() int { return len(c.Pubs) }

// AdmitsEveryClient reports whether the cluster file lists no client keys,
// so that every key may order requests and query the replicas.
func (c *Cluster) AdmitsEveryClient() bool { return c.Clients == nil }

// Tick is the protocol's clock tick.
func (c *Cluster) Tick() time.Duration {
	return time.Duration(c.File.Protocol.TickMS) * time.Millisecond
}

// ViewChangeTimeout is how long a backup waits for progress before it
// suspects the primary.
func (c *Cluster) ViewChangeTimeout() time.Duration {
	return time.Duration(c.File.Protocol.ViewChangeTicks) * c.Tick()
}

// MaxMessageSize is the frame limit of the cluster's hosts, replicas' and
// clients' alike.
func (c *Cluster) MaxMessageSize() int { return c.File.Protocol.withDefaults().MaxMessageSize }

// ReplicaConfig is the core configuration of replica id, less its signer
// and service.
func (c *Cluster) ReplicaConfig(id uint32) pbft.Config {
	p := c.File.Protocol.withDefaults()
	return pbft.Config{
		ClusterID: c.File.signingDomain(), ID: id, Replicas: c.Pubs,
		Verifier:           crypto.Ed25519Verifier{},
		CheckpointInterval: p.CheckpointInterval, WindowSize: p.Window,
		MaxBatchSize: p.MaxBatch, MaxBatchBytes: p.MaxBatchBytes, MaxMessageSize: p.MaxMessageSize,
		ViewChangeTicks:  p.ViewChangeTicks,
		MaxOperationSize: p.MaxOperationSize, MaxSessions: p.MaxSessions,
		MaxClientSessions: p.MaxClientSessions, MaxReplyCacheBytes: p.MaxReplyCacheBytes, ClientIdleSequences: p.ClientIdleSequences,
		PerformanceWindowTicks: p.PerformanceWindowTicks, SlowPrimaryDelayFactor: p.SlowPrimaryDelayFactor,
		MinProposeDelayTicks: p.MinProposeDelayTicks, SlowPrimaryPercent: p.SlowPrimaryPercent,
	}
}

// MaxOperationSize is the largest operation the cluster accepts.
func (c *Cluster) MaxOperationSize() int {
	return cmp.Or(c.File.Protocol.MaxOperationSize, pbft.DefaultMaxOperationSize)
}

// Load reads and validates a cluster file. Every mistake is one line naming
// the file and the field.
func Load(path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster file: %w", err)
	}
	return Parse(path, data)
}

// Parse validates the cluster file data; name prefixes its errors.
func Parse(name string, data []byte) (*Cluster, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	// Fields the file leaves out keep these defaults; a 0 written in the
	// file stays 0 and is refused.
	f := File{Protocol: Protocol{MaxBatchBytes: pbft.DefaultMaxBatchBytes, MaxMessageSize: network.DefaultMaxFrameSize}}
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("%s: %s: %w", name, te.Field, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	c, err := validate(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Validate checks f field by field and parses it; zero MaxBatchBytes and
// MaxMessageSize take their defaults.
func Validate(f File) (*Cluster, error) {
	f.Protocol = f.Protocol.withDefaults()
	return validate(f)
}

func validate(f File) (*Cluster, error) {
	switch n := len(f.Replicas); {
	case f.ClusterID == "":
		return nil, errors.New("cluster_id: missing")
	case len(f.ClusterID) > maxClusterID:
		// It is part of every signed transcript.
		return nil, fmt.Errorf("cluster_id: %d bytes is above %d", len(f.ClusterID), maxClusterID)
	case n < 4 || (n-1)%3 != 0:
		return nil, fmt.Errorf("replicas: %d replicas is not 3f+1 for some f >= 1 (4, 7, 10, ...)", n)
	case n > maxReplicas:
		return nil, fmt.Errorf("replicas: %d replicas is above %d", n, maxReplicas)
	case f.Service != nil && (f.Service.Name == "" || f.Service.Version == ""):
		return nil, errors.New("service: name and version are both required when the section is present")
	case f.Service != nil && len(f.Service.Name)+len(f.Service.Version) > maxClusterID:
		return nil, fmt.Errorf("service: name and version are %d bytes together, above %d", len(f.Service.Name)+len(f.Service.Version), maxClusterID)
	}
	c := &Cluster{File: f}
	seenKey := make(map[string]int, len(f.Replicas))
	for i, r := range f.Replicas {
		field := fmt.Sprintf("replicas[%d]", i)
		if r.ID != uint32(i) {
			return nil, fmt.Errorf("%s.id: is %d, want %d (ids are the positions in the list)", field, r.ID, i)
		}
		if pub, err := crypto.ParsePublicKeyHex(r.PublicKey); err == nil {
			if j, dup := seenKey[string(pub)]; dup {
				return nil, fmt.Errorf("%s.public_key: same as replicas[%d].public_key", field, j)
			}
			seenKey[string(pub)] = i
		}
		pub, p, err := parseEntry(field, r)
		if err != nil {
			return nil, err
		}
		c.Pubs = append(c.Pubs, pub)
		c.Peers = append(c.Peers, p)
	}
	if err := checkSharedAddrs(c.Peers); err != nil {
		return nil, err
	}
	if err := validateProtocol(f.Protocol); err != nil {
		return nil, err
	}
	if err := checkCore(c); err != nil {
		return nil, err
	}
	clients, err := parseClients(f.Clients, seenKey)
	if err != nil {
		return nil, err
	}
	c.Clients = clients
	return c, nil
}

// parseEntry checks one replica entry; field names it in errors.
func parseEntry(field string, r ReplicaEntry) (crypto.PublicKey, network.Peer, error) {
	pub, err := crypto.ParsePublicKeyHex(r.PublicKey)
	if err != nil {
		return nil, network.Peer{}, fmt.Errorf("%s.public_key: %w", field, err)
	}
	pid, err := peer.Decode(r.PeerID)
	if err != nil {
		return nil, network.Peer{}, fmt.Errorf("%s.peer_id: %w", field, err)
	}
	want, err := network.PeerIDOf(pub)
	if err != nil {
		return nil, network.Peer{}, fmt.Errorf("%s.public_key: %w", field, err)
	}
	if pid != want {
		return nil, network.Peer{}, fmt.Errorf("%s.peer_id: does not match public_key (want %s)", field, want)
	}
	switch {
	case len(r.Addrs) == 0:
		return nil, network.Peer{}, fmt.Errorf("%s.addrs: empty", field)
	case len(r.Addrs) > maxAddrs:
		return nil, network.Peer{}, fmt.Errorf("%s.addrs: %d addresses is above %d", field, len(r.Addrs), maxAddrs)
	}
	p := network.Peer{ID: r.ID, PeerID: pid}
	for j, a := range r.Addrs {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return nil, network.Peer{}, fmt.Errorf("%s.addrs[%d]: %w", field, j, err)
		}
		p.Addrs = append(p.Addrs, ma)
	}
	return pub, p, nil
}

// SingleServer is a Cluster of one unreplicated server, which no cluster
// file can describe: the benchmark harness's yardstick. Clients dialing it
// accept the one reply.
func SingleServer(clusterID string, server ReplicaEntry, proto Protocol) (*Cluster, error) {
	server.ID = 0
	pub, p, err := parseEntry("server", server)
	if err != nil {
		return nil, err
	}
	return &Cluster{
		File: File{ClusterID: clusterID, Replicas: []ReplicaEntry{server}, Protocol: proto.withDefaults()},
		Pubs: []crypto.PublicKey{pub}, Peers: []network.Peer{p},
	}, nil
}
