package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/examples/ledger/ledger"
)

// demoCmd is `ledger demo`: a testnet in a temporary directory, its four
// replicas in this process, the client workload against them, and a
// stranger trying to spend other people's money.
func demoCmd(args []string) (err error) {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	accounts := flags.Int("accounts", 8, "number of accounts")
	transfers := flags.Int("transfers", 200, "number of random transfers")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *accounts < 2 {
		return errors.New("-accounts must be at least 2")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "ledger-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	path, err := writeTestnet(dir, 4, bulwark.DefaultProtocol)
	if err != nil {
		return err
	}
	c, err := bulwark.Load(path)
	if err != nil {
		return err
	}
	fmt.Printf("1. wrote %s: %d replicas, service %s version %s\n", path, c.N(), c.File.Service.Name, c.File.Service.Version)

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	for id := range c.N() {
		key, err := crypto.LoadPrivateKey(filepath.Join(replicaDir(dir, id), "key"))
		if err != nil {
			return err
		}
		r, err := startReplica(ctx, c, uint32(id), key, filepath.Join(replicaDir(dir, id), "data"), logger)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, r.Stop()) }()
	}
	fmt.Printf("2. started its %d replicas in this process, on loopback; replica 0 listens on %v\n", c.N(), c.File.Replicas[0].Addrs)

	keys, err := accountKeys("", *accounts)
	if err != nil {
		return err
	}
	fmt.Printf("3. %d clients, one key each, open an account and make %d random transfers:\n   ", *accounts, *transfers)
	if err := runClient(ctx, c, keys, *transfers, 8, 20*time.Second); err != nil {
		return err
	}
	victim, err := ledger.AccountOf(keys[0].PublicKey())
	if err != nil {
		return err
	}
	return strangerTries(ctx, c, victim)
}

// strangerTries shows the owner-only rule from outside: a client with its
// own key and no account cannot move anyone's money, and an operation the
// service's Admit refuses is answered without being ordered.
func strangerTries(ctx context.Context, c *bulwark.Cluster, victim ledger.Account) error {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return err
	}
	cl, err := bulwark.Dial(ctx, c, key, 2, nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer cl.Close()
	me, err := ledger.AccountOf(key.PublicKey())
	if err != nil {
		return err
	}
	fmt.Println("4. a stranger, with a key but no account, goes after account 0's money; no operation names the account to debit:")
	for _, try := range []struct {
		what string
		op   []byte
	}{
		{"transfer 500 to the victim", ledger.EncodeTransfer(victim, 500)},
		{"transfer 500 to itself", ledger.EncodeTransfer(me, 500)},
		{"transfer 0 to the victim", ledger.EncodeTransfer(victim, 0)},
	} {
		res, err := cl.Do(ctx, try.op)
		if rej, ok := errors.AsType[*bulwark.RejectedError](err); ok { // Admit refused it: nothing was ordered
			fmt.Printf("   %-28s refused before ordering: %s\n", try.what+":", rej.Reason)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", try.what, err)
		}
		r, err := ledger.DecodeResult(res.Result)
		if err != nil {
			return err
		}
		fmt.Printf("   %-28s %v (it debits the sender's own account, and it has none)\n", try.what+":", r.Code)
	}

	sts, err := waitConverged(ctx, cl, c.N(), func(ctx context.Context) error {
		_, err := cl.Do(ctx, ledger.EncodeSupply()) // ordered: it gives the replicas something to agree on
		return err
	})
	if err != nil {
		return err
	}
	fmt.Println("5. every replica executed the same operations and holds the same state:")
	for _, st := range sts {
		fmt.Printf("   replica %d: view %d, last executed %d, checkpoint %d, state digest %.16s\n",
			st.ID, st.View, st.LastExecuted, st.StableCheckpoint, st.StateDigest)
	}
	return nil
}
