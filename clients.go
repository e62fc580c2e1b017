package bulwark

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwark-bft/bulwark/crypto"
)

// parseClients checks the cluster file's clients: absent (nil) admits every
// client key; otherwise each entry is a public key in the replicas' hex
// format, listed once and no replica's. replicas maps each replica key (as
// a string of its bytes) to the replica's id.
func parseClients(list []string, replicas map[string]int) ([]crypto.PublicKey, error) {
	if list == nil {
		return nil, nil
	}
	if len(list) == 0 {
		// The network would admit nobody: no request could ever be ordered.
		return nil, errors.New("clients: empty; leave the field out to admit every client key")
	}
	seen := make(map[string]int, len(list))
	keys := make([]crypto.PublicKey, 0, len(list))
	for i, s := range list {
		pub, err := crypto.ParsePublicKeyHex(s)
		if err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		if j, dup := seen[string(pub)]; dup {
			return nil, fmt.Errorf("clients[%d]: same as clients[%d]", i, j)
		}
		// A client with a replica's key has that replica's peer id: the
		// network would take its connection for the replica's.
		if j, dup := replicas[string(pub)]; dup {
			return nil, fmt.Errorf("clients[%d]: same as replicas[%d].public_key (a replica's key cannot be a client's)", i, j)
		}
		seen[string(pub)] = i
		keys = append(keys, pub)
	}
	return keys, nil
}

// AdmitClients rewrites the cluster file at path so that the replicas admit
// only the given client keys; with none, every key. The new file is checked
// before it replaces the old one, which it does in one rename.
func AdmitClients(path string, keys []crypto.PublicKey) error {
	c, err := Load(path)
	if err != nil {
		return err
	}
	f := c.File
	f.Clients = nil
	for _, k := range keys {
		f.Clients = append(f.Clients, k.Hex())
	}
	if _, err := validate(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cluster-*.json")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = tmp.Write(append(data, '\n'))
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("%s: %w", path, err), os.Remove(tmp.Name()))
	}
	return nil
}
