package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseClientAttacks(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Fault
	}{
		{"flood-client", Fault{Kind: FloodClient, Replica: -1}},
		{"large-requests@1s", Fault{Kind: LargeRequests, At: time.Second, Replica: -1}},
		{"status-spam@500ms-2s", Fault{Kind: StatusSpam, At: 500 * time.Millisecond, Until: 2 * time.Second, Replica: -1}},
	} {
		got, err := ParseFault(tc.spec)
		if err != nil {
			t.Errorf("ParseFault(%q): %v", tc.spec, err)
			continue
		}
		tc.want.Spec = tc.spec
		if got != tc.want || !got.IsClientAttack() {
			t.Errorf("ParseFault(%q) = %+v, want %+v, a client attack", tc.spec, got, tc.want)
		}
		if err := got.Validate(4); err != nil {
			t.Errorf("%s: Validate(4): %v", tc.spec, err)
		}
		if _, _, ok := got.ReplicaMode(4); ok {
			t.Errorf("%s: a client attack runs no replica in a fault mode", tc.spec)
		}
	}
	for _, tc := range []struct{ spec, want string }{
		{"flood-client:1", "takes no replica: it is a client, e.g. flood-client or flood-client@2s-8s"},
		{"large-requests@", "bad time"},
		{"status-spam@2s-1s", "not after it starts"},
		{"status-spam@-1s", "negative"},
		{"flood", `unknown fault "flood"; known: kill-primary, silent-primary, equivocate, slow-primary, wrong-result, partition, flood-client, large-requests, status-spam`},
	} {
		_, err := ParseFault(tc.spec)
		if err == nil || !strings.HasPrefix(err.Error(), `--fault "`+tc.spec+`": `) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseFault(%q) = %v, want the spec and %q", tc.spec, err, tc.want)
		}
	}
	if _, err := ParseFaults([]string{"flood-client", "flood-client@1s"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("two flood-clients: %v, want given twice", err)
	}
	faults, err := ParseFaults([]string{"flood-client", "large-requests", "status-spam", "kill-primary@1s", "wrong-result"})
	if err != nil {
		t.Fatalf("every client attack with replica faults: %v", err)
	}
	// The client attacks make no replica faulty: kill-primary and
	// wrong-result are two faults, over f = 1 of 4 replicas, and nothing else.
	if n := faultyReplicas(faults, 4); n != 2 {
		t.Fatalf("faulty replicas = %d, want 2 (client attacks count none)", n)
	}
	cfg := DefaultConfig()
	cfg.Unreplicated, cfg.Faults = true, faults[:1]
	if err := cfg.normalize(); err == nil || !strings.Contains(err.Error(), "--fault") {
		t.Fatalf("a client attack on the unreplicated server: %v, want an error naming --fault", err)
	}
}

// attackRun is a short run under one client attack, after its fault-free
// run. The issue asks that the legitimate clients keep at least half the
// fault-free throughput under each attack ("bulwark bench --fault
// flood-client reports legitimate throughput at least 50% of the
// fault-free run, side by side"), without errors.
func attackRun(t *testing.T, spec string) *Report {
	t.Helper()
	cfg := shortConfig(t)
	cfg.Service = "kv"
	// The view-change timeout of bulwark bench (2 s), not shortConfig's
	// 300 ms: the figure the issue asks for is bench's.
	cfg.Protocol.ViewChangeTicks = DefaultConfig().Protocol.ViewChangeTicks
	f, err := ParseFault(spec)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Faults = []Fault{f}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", spec, table.String())
	if rep.Baseline == nil || rep.Baseline.Ops == 0 {
		t.Fatalf("no fault-free run beside the attack: %+v", rep.Baseline)
	}
	if len(rep.Attacks) != 1 || rep.Attacks[0].Spec != spec || rep.Attacks[0].Kind != f.Kind {
		t.Fatalf("attacks = %+v, want the one %s", rep.Attacks, spec)
	}
	for _, want := range []string{"fault-free run", "under attack", "attack  ", spec} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if rep.Errors != 0 {
		t.Errorf("%d legitimate operations failed under %s", rep.Errors, spec)
	}
	// The ratio is a performance figure, measured by `bulwark bench`, not
	// asserted here: a unit test times nothing. It must exist, side by side.
	if ratio := rep.BaselineRatio(); ratio <= 0 || rep.Throughput == 0 {
		t.Errorf("%s: legitimate throughput %.0f ops/s, %.1f%% of the fault-free %.0f ops/s: legitimate clients were not served",
			spec, rep.Throughput, 100*ratio, rep.Baseline.Throughput)
	}
	t.Logf("%s: legitimate throughput %.1f%% of the fault-free run", spec, 100*rep.BaselineRatio())
	return rep
}

func TestRunFloodClient(t *testing.T) {
	rep := attackRun(t, "flood-client")
	if a := rep.Attacks[0]; a.Completed == 0 || a.Sessions != DefaultFloodSessions {
		t.Errorf("the flood completed %d requests over %d sessions; want some, over %d", a.Completed, a.Sessions, DefaultFloodSessions)
	}
}

func TestRunLargeRequests(t *testing.T) {
	rep := attackRun(t, "large-requests")
	// The large requests are legal: every one must complete too.
	if a := rep.Attacks[0]; a.Completed == 0 || a.Errors != 0 || a.Size != DefaultLargeSize {
		t.Errorf("large requests: %d completed, %d errors (first: %s), size %d; want all of them completed, of %d bytes",
			a.Completed, a.Errors, a.FirstError, a.Size, DefaultLargeSize)
	}
}

func TestRunStatusSpam(t *testing.T) {
	rep := attackRun(t, "status-spam")
	if a := rep.Attacks[0]; a.Sent == 0 || a.Completed == 0 || a.Keys != DefaultSpamKeys {
		t.Errorf("status spam: %d queries written, %d answered, from %d keys; want some answered, from %d", a.Sent, a.Completed, a.Keys, DefaultSpamKeys)
	}
}

// A client attack over part of the measured phase leaves its start and
// stop in the events; without the fault-free run (NoBaseline) the report
// has no baseline.
func TestRunClientAttackWindowWithoutBaseline(t *testing.T) {
	cfg := shortConfig(t)
	cfg.NoBaseline = true
	f, err := ParseFault("status-spam@500ms-1500ms")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Faults = []Fault{f}
	rep := run(t, cfg)
	if rep.Baseline != nil || rep.BaselineRatio() != -1 {
		t.Fatalf("baseline %+v with NoBaseline", rep.Baseline)
	}
	if len(rep.Events) != 2 || !strings.Contains(rep.Events[0].What, "status-spam started") || !strings.Contains(rep.Events[1].What, "status-spam stopped") {
		t.Fatalf("events = %+v, want the attack's start and stop", rep.Events)
	}
	if a := rep.Attacks; len(a) != 1 || a[0].FromS < 0.4 || a[0].ToS > 1.9 || a[0].ToS < a[0].FromS {
		t.Fatalf("attacks = %+v, want one from about 0.5 s to about 1.5 s", a)
	}
}
