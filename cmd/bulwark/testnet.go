package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/internal/testnet"
)

func newTestnetCmd() *cobra.Command {
	var (
		n, basePort          int
		dir, host            string
		hosts, clientKeyFile string
		clientKeyHexes       []string
	)
	cmd := &cobra.Command{
		Use:   "testnet --replicas N --dir DIR [--host 127.0.0.1 | --hosts IP0,IP1,...] [--base-port P] [--client-key HEX ...] [--client-key-file FILE]",
		Short: "Create keys and a cluster file for a local test network",
		Long: "testnet creates N = 3f+1 replica keys, DIR/replica-i/key (private, mode 0600), and the\n" +
			"public cluster file DIR/cluster.json. Replica i listens on HOST, TCP and QUIC port P+i;\n" +
			"its data directory is DIR/replica-i/data. --hosts gives each replica its own IPv4\n" +
			"address instead (one per replica, in id order; it overrides --host), as for replicas\n" +
			"on separate machines or containers.\n" +
			"By default every client key may use the cluster. --client-key (repeatable) and\n" +
			"--client-key-file (one hex public key a line, the public_key keygen --json prints;\n" +
			"blank lines and lines starting with # are skipped) list the only client keys admitted.",
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
			ips, err := sameHost(host, n)
			if hosts != "" {
				ips, err = parseHosts(hosts, n)
			}
			if err != nil {
				return err
			}
			// Checked before anything is written: a bad key leaves no testnet.
			clients, err := clientKeys(clientKeyHexes, clientKeyFile)
			if err != nil {
				return err
			}
			path, err := testnet.WriteTestnet(dir, ips, ports, bulwark.DefaultProtocol)
			if err != nil {
				return err
			}
			if len(clients) > 0 {
				if err := bulwark.AdmitClients(path, clients); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %d replica keys\n", path, n)
			if len(clients) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "every client key is admitted (--client-key admits only the keys given)")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%d client keys are admitted, no others\n", len(clients))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "replicas", 4, "number of replicas, 3f+1")
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write keys and cluster.json to")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "IPv4 address the replicas listen on")
	cmd.Flags().StringVar(&hosts, "hosts", "", "comma-separated IPv4 addresses, replica i listens on the i-th (overrides --host)")
	cmd.Flags().IntVar(&basePort, "base-port", 9000, "replica i listens on TCP and UDP (QUIC) port base-port+i")
	cmd.Flags().StringArrayVar(&clientKeyHexes, "client-key", nil, "admit this client public key (hex), and only the keys listed; repeatable")
	cmd.Flags().StringVar(&clientKeyFile, "client-key-file", "", "admit the client public keys in FILE (hex, one a line), and only the keys listed")
	return cmd
}

// clientKeys parses the --client-key values and the --client-key-file
// lines; none means every client key is admitted.
func clientKeys(hexes []string, file string) ([]crypto.PublicKey, error) {
	var keys []crypto.PublicKey
	seen := make(map[string]string)
	add := func(where, s string) error {
		pub, err := crypto.ParsePublicKeyHex(s)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if prev, dup := seen[string(pub)]; dup {
			return fmt.Errorf("%s: the same key as %s", where, prev)
		}
		seen[string(pub)] = where
		keys = append(keys, pub)
		return nil
	}
	for i, s := range hexes {
		if err := add(fmt.Sprintf("--client-key: entry %d", i), strings.TrimSpace(s)); err != nil {
			return nil, err
		}
	}
	if file == "" {
		return keys, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--client-key-file: %w", err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := add(fmt.Sprintf("--client-key-file: %s line %d", file, i+1), line); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		// An empty list would admit nobody; an open cluster is the default
		// without the flag, not a file that happens to be empty.
		return nil, fmt.Errorf("--client-key-file: %s lists no key", file)
	}
	return keys, nil
}

// isIPv4 reports whether s is a dotted-quad IPv4 address.
func isIPv4(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() != nil && !strings.Contains(s, ":")
}

// parseHosts splits the --hosts list: exactly n IPv4 addresses, one per
// replica in id order.
func parseHosts(list string, n int) ([]string, error) {
	hosts := strings.Split(list, ",")
	if len(hosts) != n {
		return nil, fmt.Errorf("--hosts: %d addresses for %d replicas, want one per replica", len(hosts), n)
	}
	for i, h := range hosts {
		hosts[i] = strings.TrimSpace(h)
		if !isIPv4(hosts[i]) {
			return nil, fmt.Errorf("--hosts: entry %d, %q, is not an IPv4 address", i, hosts[i])
		}
	}
	return hosts, nil
}

// sameHost is the --host address for each of n replicas.
func sameHost(host string, n int) ([]string, error) {
	if !isIPv4(host) {
		return nil, fmt.Errorf("--host: %q is not an IPv4 address", host)
	}
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = host
	}
	return hosts, nil
}

// writeTestnet makes a key for each port (replica i listens on host,
// ports[i]) and writes the cluster file; it returns the cluster file's path.
func writeTestnet(dir, host string, ports []int, proto bulwark.Protocol) (string, error) {
	hosts, err := sameHost(host, len(ports))
	if err != nil {
		return "", err
	}
	return testnet.WriteTestnet(dir, hosts, ports, proto)
}
