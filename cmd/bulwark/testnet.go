package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

func newTestnetCmd() *cobra.Command {
	var (
		n, basePort int
		dir, host   string
	)
	cmd := &cobra.Command{
		Use:   "testnet --replicas N --dir DIR [--host 127.0.0.1] [--base-port P]",
		Short: "Create keys and a cluster file for a local test network",
		Long: "testnet creates N = 3f+1 replica keys, DIR/replica-i/key (private, mode 0600), and the\n" +
			"public cluster file DIR/cluster.json. Replica i listens on HOST, TCP and QUIC port P+i;\n" +
			"its data directory is DIR/replica-i/data.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir: missing")
			}
			if n < 4 || (n-1)%3 != 0 {
				return fmt.Errorf("--replicas: %d is not 3f+1 for some f >= 1 (4, 7, 10, ...)", n)
			}
			if basePort < 1 || basePort+n-1 > 65535 {
				return fmt.Errorf("--base-port: ports %d..%d are not all in 1..65535", basePort, basePort+n-1)
			}
			ports := make([]int, n)
			for i := range ports {
				ports[i] = basePort + i
			}
			path, err := writeTestnet(dir, host, ports, defaultProtocol)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %d replica keys\n", path, n)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "replicas", 4, "number of replicas, 3f+1")
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write keys and cluster.json to")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "IPv4 address the replicas listen on")
	cmd.Flags().IntVar(&basePort, "base-port", 9000, "replica i listens on TCP and UDP (QUIC) port base-port+i")
	return cmd
}

// replicaDir is where replica id keeps its key and data under a testnet dir.
func replicaDir(dir string, id uint32) string {
	return filepath.Join(dir, fmt.Sprintf("replica-%d", id))
}

// writeTestnet makes a key for each port (replica i listens on ports[i]) and
// writes the cluster file; it returns the cluster file's path.
func writeTestnet(dir, host string, ports []int, proto protocolParams) (string, error) {
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("--host: %q is not an IPv4 address", host)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	path := filepath.Join(dir, "cluster.json")
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("testnet: refusing to overwrite existing %s", path)
	}
	var idBytes [8]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return "", fmt.Errorf("testnet: cluster id: %w", err)
	}
	f := clusterFile{ClusterID: "testnet-" + hex.EncodeToString(idBytes[:]), Protocol: proto}
	for i, port := range ports {
		id := uint32(i)
		rdir := replicaDir(dir, id)
		if err := os.MkdirAll(rdir, 0o700); err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		if err := crypto.SavePrivateKey(filepath.Join(rdir, "key"), key); err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		pid, err := network.PeerIDOf(key.PublicKey())
		if err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		p := strconv.Itoa(port)
		f.Replicas = append(f.Replicas, replicaEntry{
			ID: id, PublicKey: key.PublicKey().Hex(), PeerID: pid.String(),
			Addrs: []string{"/ip4/" + host + "/tcp/" + p, "/ip4/" + host + "/udp/" + p + "/quic-v1"},
		})
	}
	if _, err := validateCluster(f); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
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
