package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/network"
)

func newKeygenCmd() *cobra.Command {
	var (
		out    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "keygen --out FILE [--json]",
		Short: "Create a new ed25519 key and print its libp2p peer id",
		Long: "keygen writes a new ed25519 private key to FILE (mode 0600; an existing file is\n" +
			"never overwritten) and prints the libp2p peer id derived from it. With --json it prints\n" +
			"{\"peer_id\": ..., \"public_key\": ...}: the two fields of the replica's cluster-file entry\n" +
			"that come from its key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out: missing")
			}
			id, pub, err := keygen(out)
			if err != nil {
				return err
			}
			if asJSON {
				data, err := json.Marshal(map[string]string{"peer_id": id, "public_key": pub})
				if err != nil {
					return fmt.Errorf("keygen: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), string(data))
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the peer id and the public key (hex) as JSON")
	return cmd
}

// keygen saves a new key at path and returns its peer id and public key.
func keygen(path string) (peerID, publicKey string, err error) {
	key, err := crypto.GenerateKey(nil)
	if err != nil {
		return "", "", fmt.Errorf("keygen: %w", err)
	}
	if err := crypto.SavePrivateKey(path, key); err != nil {
		return "", "", fmt.Errorf("keygen: %w", err)
	}
	id, err := network.PeerIDOf(key.PublicKey())
	if err != nil {
		return "", "", fmt.Errorf("keygen: %w", err)
	}
	return id.String(), key.PublicKey().Hex(), nil
}
