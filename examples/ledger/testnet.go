package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/examples/ledger/ledger"
)

// testnetCmd is `ledger testnet [-n 4] DIR`.
func testnetCmd(args []string) error {
	flags := flag.NewFlagSet("testnet", flag.ContinueOnError)
	n := flags.Int("n", 4, "number of replicas (3f+1)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return errors.New("usage: ledger testnet [-n 4] DIR")
	}
	path, err := writeTestnet(flags.Arg(0), *n, bulwark.DefaultProtocol)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}

// writeTestnet writes a cluster of n replicas on free loopback ports under
// dir: the public cluster file dir/cluster.json, and each replica's private
// key at dir/replica-I/key. In a real deployment each organisation makes its
// own key and sends only the public half (and its addresses) to whoever
// assembles the cluster file.
func writeTestnet(dir string, n int, proto bulwark.Protocol) (string, error) {
	path := filepath.Join(dir, "cluster.json")
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("testnet: refusing to overwrite %s", path)
	}
	ports, err := freePorts(n)
	if err != nil {
		return "", err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("testnet: cluster id: %w", err)
	}
	f := bulwark.File{
		ClusterID: "ledger-" + hex.EncodeToString(id[:]),
		Protocol:  proto,
		// Naming the service makes a replica started with any other
		// service, or another version of this one, refuse to start.
		Service: &bulwark.ServiceID{Name: ledger.Name, Version: ledger.Version},
	}
	keys := make([]*crypto.PrivateKey, n)
	for i, port := range ports {
		if keys[i], err = crypto.GenerateKey(nil); err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		e, err := bulwark.NewReplicaEntry(uint32(i), keys[i].PublicKey(), "127.0.0.1", port)
		if err != nil {
			return "", fmt.Errorf("testnet: %w", err)
		}
		f.Replicas = append(f.Replicas, e)
	}
	// Validate is what Load runs on the file: better to fail here than at
	// every replica.
	if _, err := bulwark.Validate(f); err != nil {
		return "", fmt.Errorf("testnet: %w", err)
	}
	for i, key := range keys {
		rdir := replicaDir(dir, i)
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

// replicaDir holds replica id's key and data directory in a testnet.
func replicaDir(dir string, id int) string {
	return filepath.Join(dir, fmt.Sprintf("replica-%d", id))
}

// freePorts finds n loopback ports free for both TCP and UDP: a replica
// listens on TCP and QUIC (UDP) with the same number. They are released
// before returning, so another process could take one first; on loopback,
// for a testnet, that race is remote.
func freePorts(n int) ([]int, error) {
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 20*n {
			return nil, errors.New("testnet: no ports free for both TCP and UDP")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken for UDP: try another
		}
		held = append(held, u)
		ports = append(ports, port)
	}
	return ports, nil
}
