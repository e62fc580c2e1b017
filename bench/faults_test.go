package bench

import (
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	good := []struct {
		spec string
		want Fault
	}{
		{"kill-primary@5s", Fault{Kind: KillPrimary, At: 5 * time.Second, Replica: -1}},
		{"kill-primary@0s", Fault{Kind: KillPrimary, Replica: -1}},
		{"kill-primary@1500ms", Fault{Kind: KillPrimary, At: 1500 * time.Millisecond, Replica: -1}},
		{"silent-primary", Fault{Kind: SilentPrimary, Replica: -1}},
		{"equivocate", Fault{Kind: Equivocate, Replica: -1}},
		{"slow-primary", Fault{Kind: SlowPrimary, Replica: -1}},
		{"wrong-result", Fault{Kind: WrongResult, Replica: -1}},
		{"partition:2@3s-8s", Fault{Kind: Partition, At: 3 * time.Second, Until: 8 * time.Second, Replica: 2}},
		{"partition:0@10s", Fault{Kind: Partition, At: 10 * time.Second, Replica: 0}},
	}
	for _, tc := range good {
		got, err := ParseFault(tc.spec)
		if err != nil {
			t.Errorf("ParseFault(%q): %v", tc.spec, err)
			continue
		}
		tc.want.Spec = tc.spec
		if got != tc.want {
			t.Errorf("ParseFault(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}

	bad := []struct{ spec, want string }{
		{"kill-primary", "needs @TIME, e.g. kill-primary@5s"},
		{"kill-primary@", "bad time"},
		{"kill-primary@5", "bad time"},
		{"kill-primary@-1s", "negative"},
		{"kill-primary:1@5s", "takes no replica"},
		{"silent-primary@5s", "takes no replica or @TIME: replica 0 runs with --fault silent"},
		{"equivocate:1", "takes no replica"},
		{"slow-primary@1s", "--fault slow"},
		{"wrong-result@1s", "the last replica runs with --fault wrong-result"},
		{"partition", "needs a replica and a time"},
		{"partition:1", "needs a replica and a time"},
		{"partition@5s", "needs a replica and a time"},
		{"partition:x@5s", `replica "x" is not a replica id`},
		{"partition:-1@5s", `replica "-1" is not a replica id`},
		{"partition:1@-5s", "negative"},
		{"partition:1@5s-5s", "not after it starts"},
		{"partition:1@5s-2s", "not after it starts"},
		{"partition:1@5s-", "bad time"},
		{"partition:1@5s-x", "bad time"},
		{"crash", `unknown fault "crash"; known: kill-primary, silent-primary, equivocate, slow-primary, wrong-result, partition`},
		{"", "unknown fault"},
	}
	for _, tc := range bad {
		_, err := ParseFault(tc.spec)
		if err == nil {
			t.Errorf("ParseFault(%q) succeeded", tc.spec)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, `--fault "`+tc.spec+`": `) || !strings.Contains(msg, tc.want) {
			t.Errorf("ParseFault(%q) = %q, want the spec and %q", tc.spec, msg, tc.want)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("ParseFault(%q): error is not one line: %q", tc.spec, msg)
		}
	}
}

func TestParseFaultExactMessage(t *testing.T) {
	_, err := ParseFault("kill-primary")
	if want := `--fault "kill-primary": needs @TIME, e.g. kill-primary@5s`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestParseFaults(t *testing.T) {
	ok := [][]string{
		nil,
		{"kill-primary@5s", "wrong-result"},
		{"silent-primary", "wrong-result", "partition:1@1s-2s", "partition:1@2s-3s", "partition:2@1s"},
		{"equivocate", "kill-primary@10s"},
	}
	for _, specs := range ok {
		faults, err := ParseFaults(specs)
		if err != nil {
			t.Errorf("ParseFaults(%q): %v", specs, err)
		} else if len(faults) != len(specs) {
			t.Errorf("ParseFaults(%q) gave %d faults", specs, len(faults))
		}
	}

	bad := []struct {
		specs []string
		want  string
	}{
		{[]string{"kill-primary@5s", "kill-primary@9s"}, `--fault "kill-primary@9s": only one kill-primary per run (already "kill-primary@5s")`},
		{[]string{"equivocate", "equivocate"}, `--fault "equivocate": given twice`},
		{[]string{"wrong-result", "wrong-result"}, "given twice"},
		{[]string{"silent-primary", "slow-primary"}, `--fault "slow-primary": replica 0 already runs with --fault silent (from "silent-primary")`},
		{[]string{"partition:1@1s-5s", "partition:1@4s-6s"}, `overlaps "partition:1@1s-5s"`},
		{[]string{"partition:1@1s", "partition:1@10s-11s"}, "overlaps"},
		{[]string{"wrong-result", "bogus"}, `--fault "bogus": unknown fault`},
	}
	for _, tc := range bad {
		_, err := ParseFaults(tc.specs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFaults(%q) = %v, want %q", tc.specs, err, tc.want)
		}
	}
}

func TestFaultValidate(t *testing.T) {
	for _, tc := range []struct {
		spec     string
		replicas int
		want     string // "" for valid
	}{
		{"partition:3@1s", 4, ""},
		{"partition:4@1s", 4, `--fault "partition:4@1s": replica 4 does not exist in a cluster of 4 (ids 0 to 3)`},
		{"partition:0@1s", 1, ""},
		{"kill-primary@1s", 4, ""},
		{"kill-primary@1s", 3, "needs at least 4 replicas"},
		{"silent-primary", 7, ""},
		{"equivocate", 3, `--fault "equivocate": needs at least 4 replicas to tolerate a fault, have 3`},
		{"slow-primary", 1, "needs at least 4 replicas"},
		{"wrong-result", 2, "needs at least 4 replicas"},
	} {
		f, err := ParseFault(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Validate(tc.replicas)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s with %d replicas: %v", tc.spec, tc.replicas, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s with %d replicas: got %v, want %q", tc.spec, tc.replicas, err, tc.want)
		}
	}
}

func TestFaultReplicaMode(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		replica int
		mode    string
		ok      bool
	}{
		{"silent-primary", 0, "silent", true},
		{"equivocate", 0, "equivocate", true},
		{"slow-primary", 0, "slow", true},
		{"wrong-result", 6, "wrong-result", true},
		{"kill-primary@1s", -1, "", false},
		{"partition:1@1s", -1, "", false},
	} {
		f, err := ParseFault(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		replica, mode, ok := f.ReplicaMode(7)
		if replica != tc.replica || mode != tc.mode || ok != tc.ok {
			t.Errorf("%s: ReplicaMode(7) = %d, %q, %v; want %d, %q, %v", tc.spec, replica, mode, ok, tc.replica, tc.mode, tc.ok)
		}
	}
}
