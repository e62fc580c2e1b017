package testnet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
)

// Generate makes a key for every replica and the cluster file naming them:
// replica i listens on hosts[i] (IPv4), TCP and QUIC port ports[i].
func Generate(hosts []string, ports []int, proto bulwark.Protocol) (bulwark.File, []*crypto.PrivateKey, error) {
	if len(hosts) != len(ports) {
		return bulwark.File{}, nil, fmt.Errorf("testnet: %d hosts for %d replicas", len(hosts), len(ports))
	}
	var idBytes [8]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return bulwark.File{}, nil, fmt.Errorf("testnet: cluster id: %w", err)
	}
	f := bulwark.File{ClusterID: "testnet-" + hex.EncodeToString(idBytes[:]), Protocol: proto}
	keys := make([]*crypto.PrivateKey, len(ports))
	for i, port := range ports {
		ip := net.ParseIP(hosts[i])
		if ip == nil || ip.To4() == nil {
			return bulwark.File{}, nil, fmt.Errorf("testnet: host %q of replica %d is not an IPv4 address", hosts[i], i)
		}
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			return bulwark.File{}, nil, fmt.Errorf("testnet: %w", err)
		}
		keys[i] = key
		e, err := bulwark.NewReplicaEntry(uint32(i), key.PublicKey(), hosts[i], port)
		if err != nil {
			return bulwark.File{}, nil, fmt.Errorf("testnet: %w", err)
		}
		f.Replicas = append(f.Replicas, e)
	}
	if _, err := bulwark.Validate(f); err != nil {
		return bulwark.File{}, nil, fmt.Errorf("testnet: %w", err)
	}
	return f, keys, nil
}

// ReplicaDir is where replica id keeps its key and data under a testnet dir.
func ReplicaDir(dir string, id uint32) string {
	return filepath.Join(dir, fmt.Sprintf("replica-%d", id))
}

// WriteTestnet generates a cluster (see Generate) and writes it under dir:
// the cluster file dir/cluster.json and each replica's private key at
// ReplicaDir(dir, i)/key. It returns the cluster file's path and refuses to
// overwrite an existing one.
func WriteTestnet(dir string, hosts []string, ports []int, proto bulwark.Protocol) (string, error) {
	f, keys, err := Generate(hosts, ports, proto)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	path := filepath.Join(dir, "cluster.json")
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("testnet: refusing to overwrite existing %s", path)
	}
	for i, key := range keys {
		rdir := ReplicaDir(dir, uint32(i))
		if err := os.MkdirAll(rdir, 0o700); err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		if err := crypto.SavePrivateKey(filepath.Join(rdir, "key"), key); err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	return path, nil
}

// Loopback returns n copies of 127.0.0.1, the hosts of a local testnet.
func Loopback(n int) []string {
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = "127.0.0.1"
	}
	return hosts
}
