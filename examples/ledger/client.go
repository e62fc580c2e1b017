package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/crypto"
)

// clientCmd is `ledger client`: open accounts, run transfers, check the
// books; a non-zero exit on any violation.
func clientCmd(args []string) error {
	flags := flag.NewFlagSet("client", flag.ContinueOnError)
	clusterPath := flags.String("cluster", "", "cluster file")
	accounts := flags.Int("accounts", 8, "number of accounts, each with its own client key")
	transfers := flags.Int("transfers", 200, "number of random transfers")
	workers := flags.Int("workers", 8, "transfers in flight at once")
	keyDir := flags.String("keys", "", "directory of the accounts' keys, made on first use (default: fresh keys)")
	timeout := flags.Duration("timeout", 20*time.Second, "for one operation")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *accounts < 2 || *workers < 1 || *transfers < 0 {
		return errors.New("-accounts must be at least 2 and -workers at least 1")
	}
	c, err := loadCluster(*clusterPath)
	if err != nil {
		return err
	}
	keys, err := accountKeys(*keyDir, *accounts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Duration(*transfers)*time.Second)
	defer cancel()
	return runClient(ctx, c, keys, *transfers, *workers, *timeout)
}

// runClient is the client workload, printing one summary line.
func runClient(ctx context.Context, c *bulwark.Cluster, keys []*crypto.PrivateKey, transfers, workers int, timeout time.Duration) error {
	began := time.Now()
	w, err := newWorkload(ctx, c, keys, workers, timeout)
	if err != nil {
		return err
	}
	defer w.close()
	w.transfers(ctx, transfers, workers)
	summary, err := w.verify(ctx)
	if summary != "" {
		fmt.Printf("ledger: %s (%v)\n", summary, time.Since(began).Round(time.Millisecond))
	}
	return err
}

// accountKeys loads n account keys from dir, making the missing ones, or
// with no dir makes n fresh keys that last as long as the process.
func accountKeys(dir string, n int) ([]*crypto.PrivateKey, error) {
	keys := make([]*crypto.PrivateKey, n)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("-keys: %w", err)
		}
	}
	for i := range keys {
		path := filepath.Join(dir, fmt.Sprintf("account-%d.key", i))
		var err error
		if dir != "" {
			keys[i], err = crypto.LoadPrivateKey(path)
			if err == nil {
				continue
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("-keys: %w", err)
			}
		}
		if keys[i], err = crypto.GenerateKey(nil); err != nil {
			return nil, err
		}
		if dir != "" {
			if err := crypto.SavePrivateKey(path, keys[i]); err != nil {
				return nil, fmt.Errorf("-keys: %w", err)
			}
		}
	}
	return keys, nil
}
