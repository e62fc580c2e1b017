package byzantine

import (
	"strings"
	"testing"
)

func TestParseTakesWhatAReplicaCanDo(t *testing.T) {
	for _, name := range []string{"silent", "equivocate", "bad-signature", "wrong-result", "slow",
		"wrong-digest", "digest-lie", "repropose", "forge-request", "bad-state", "skip-sequence", "bad-new-view", "censor", "stale-read"} {
		if k, err := Parse(name); err != nil || k.String() != name {
			t.Errorf("Parse(%q) = %v, %v", name, k, err)
		}
	}
	for _, name := range []string{"", "honest"} {
		if k, err := Parse(name); err != nil || k != Honest {
			t.Errorf("Parse(%q) = %v, %v; want Honest", name, k, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"sneaky", `fault "sneaky" is not one of silent, equivocate, bad-signature, wrong-result, slow, wrong-digest, digest-lie, repropose, forge-request, bad-state, skip-sequence, bad-new-view, censor or stale-read`},
		{"Silent", `fault "Silent" is not one of silent,`},
		{"replay", `fault "replay" exists only in the simulator; a replica takes silent,`},
		{"twin", `exists only in the simulator`},
		{"mutate", `exists only in the simulator`},
	} {
		_, err := Parse(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line with %q", tc.name, err, tc.want)
		}
	}
}
