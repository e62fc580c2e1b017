package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

func newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Create a new ed25519 key and print its libp2p peer id",
		Long: "keygen writes a new ed25519 private key to FILE (mode 0600; an existing file is\n" +
			"never overwritten) and prints the libp2p peer id derived from it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out: missing")
			}
			id, err := keygen(out)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to")
	return cmd
}

// keygen saves a new key at path and returns its peer id.
func keygen(path string) (string, error) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	if err := crypto.SavePrivateKey(path, key); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	id, err := network.PeerIDOf(key.PublicKey())
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	return id.String(), nil
}
