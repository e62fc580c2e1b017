package bulwark_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// A cluster of four replicas of the kv service on this machine, and a client
// that writes and reads through it. In production each replica runs on its
// own organisation's machine, from the same cluster file.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "bulwark-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The cluster file: every replica's key, peer id and addresses.
	file := bulwark.File{ClusterID: "example", Protocol: bulwark.DefaultProtocol,
		Service: &bulwark.ServiceID{Name: "kv", Version: "1"}}
	var keys []*crypto.PrivateKey
	for id := range 4 {
		key, err := crypto.GenerateKey(nil)
		if err != nil {
			log.Fatal(err)
		}
		pid, err := network.PeerIDOf(key.PublicKey())
		if err != nil {
			log.Fatal(err)
		}
		port := strconv.Itoa(freePort())
		file.Replicas = append(file.Replicas, bulwark.ReplicaEntry{
			ID: uint32(id), PublicKey: key.PublicKey().Hex(), PeerID: pid.String(),
			Addrs: []string{"/ip4/127.0.0.1/tcp/" + port},
		})
		keys = append(keys, key)
	}
	cluster, err := bulwark.Validate(file)
	if err != nil {
		log.Fatal(err)
	}

	// Each replica: its id, key, data directory and the service.
	for id, key := range keys {
		r, err := bulwark.StartReplica(ctx, bulwark.ReplicaOptions{
			Cluster: cluster, ID: uint32(id), Key: key,
			DataDir: filepath.Join(dir, strconv.Itoa(id)), Service: kv.New(),
		})
		if err != nil {
			log.Fatal(err)
		}
		defer r.Stop()
	}

	// A client: its own key, a few concurrent sessions.
	me, err := crypto.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := bulwark.Dial(ctx, cluster, me, 4, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Do(ctx, kv.EncodePut([]byte("greeting"), []byte("hello"))); err != nil {
		log.Fatal(err)
	}
	res, err := client.Read(ctx, kv.EncodeGet([]byte("greeting")))
	if err != nil {
		log.Fatal(err)
	}
	got, err := kv.DecodeResult(res.Result)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", got.Value)
	// Output: hello
}

// freePort is a loopback TCP port nobody listens on right now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
