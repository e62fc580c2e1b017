package systest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-bft/bulwark"
	"github.com/bulwark-bft/bulwark/bench"
)

// TestAttacks runs each attack of the issue "No client or peer can wedge
// the cluster" against four real `bulwark replica` processes on loopback,
// each attack on a fresh cluster. The attackers send only what the
// protocol allows (the Byzantine replica holds replica 3's real key); what
// they send is legal, only much or large.
//
// For every attack (runAttack):
//   - a legitimate client keeps doing ordered puts, each read back and
//     checked, during the attack and after it; every operation completes
//     within attackOpBound (5 s) during the attack (LargeRequests, whose
//     attack forces a view change: 10 s) and attackAfterBound (2 s) after;
//   - the same load runs attackWarmup (4 s) before the attack, within
//     attackAfterBound; the replicas' idle resident sets are taken after it;
//   - no replica's resident set reaches attackRSSCeiling (256 MiB) during
//     the attack (sampled every 100 ms, and VmHWM), and each returns within
//     attackRSSSlack (64 MiB) of its idle figure within attackRSSSettle
//     (15 s) once the attack and then the legitimate load (3 s after the
//     attack) have stopped, idle again as when the figure was taken;
//   - the attack shows in a counter on the replicas' --metrics (named per
//     attack below; where the replicas do not count it yet, the assertion
//     names the series expected and fails as missing);
//   - the four replicas end converged (same view, sequence number and
//     state digest).
//
// Control runs the same with no attack: the legitimate load alone meets
// every bound.
//
// On a 2-core machine the suite takes about three minutes when every
// attack is defended (Control alone: 20 s); against a cluster that does not
// defend them it takes about five, its failing waits running to their
// bounds. Volumes reduced from the say why in their attack's
// comment.
func TestAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and attacks replica processes")
	}
	bin := buildBulwark(t, t.TempDir())
	t.Run("Control", func(t *testing.T) { runAttack(t, bin, controlAttack(t)) })
	t.Run("LargeRequests", func(t *testing.T) { runAttack(t, bin, largeRequestsAttack(t)) })
	t.Run("StatusSpam", func(t *testing.T) { runAttack(t, bin, statusSpamAttack(t)) })
	t.Run("SessionFlood", func(t *testing.T) { runAttack(t, bin, sessionFloodAttack(t)) })
	t.Run("StalledFrames", func(t *testing.T) { runAttack(t, bin, stalledFramesAttack(t)) })
	t.Run("ByzantineReplica", func(t *testing.T) { runAttack(t, bin, byzantineReplicaAttack(t)) })
	t.Run("ConnectionFlood", func(t *testing.T) { runAttack(t, bin, connectionFloodAttack(t)) })
	t.Run("ForgedSignature", func(t *testing.T) { runAttack(t, bin, forgedSignatureAttack(t)) })
}

// controlAttack attacks nothing for 8 s: the legitimate load alone must
// meet every bound, so that an attack failing one is the attack's doing.
func controlAttack(t *testing.T) attackPlan {
	return attackPlan{
		prepare: func(ctx context.Context, ac *attackCluster, _ *bulwark.Client) {
			preload(ctx, t, ac, "state", 1000, 4<<10, 16) // the largest state an attack starts from (StatusSpam's)
		},
		attack: func(ctx context.Context, _ *attackCluster) { holdUntil(ctx, time.Now().Add(8*time.Second)) },
	}
}

// attackPlan is one attack.
type attackPlan struct {
	// prepare runs before the idle memory is measured: state the attack
	// needs, attack traffic prepared in advance (signatures).
	prepare func(ctx context.Context, ac *attackCluster, cl *bulwark.Client)
	// attack runs the attack to its end, every attacking host closed, and
	// checks what the attack itself must find.
	attack func(ctx context.Context, ac *attackCluster)
	// bound holds each legitimate operation during the attack (0:
	// attackOpBound).
	bound time.Duration
	// restore brings a replica the attack stopped back, before the
	// cluster must converge.
	restore func(ctx context.Context, ac *attackCluster)
	// expect checks the counters the attack must show in.
	expect func(ac *attackCluster)
	// mayChangeView: the attack kills the primary (a view change must
	// follow), or aims at the primary's own resources, its frame budget,
	// its connections or its Status queries, which can slow it enough for
	// the backups' monitor to replace it: a defence, not a fault (one CI
	// run of StalledFrames did, legitimate p99 509 ms). Every other attack
	// reaches all replicas alike, or comes from a replica that is not the
	// primary, and must not make the correct replicas replace their correct
	// primary (SessionFlood once caused 20 view changes).
	mayChangeView bool
	// correct are the replicas that stay correct throughout (nil: all
	// four), whose views runAttack checks.
	correct []int
	// keeps is what the attack legitimately leaves in the replicated
	// state, which every replica must then hold (the service's copy and
	// the snapshots of two checkpoints): the memory check after the attack
	// allows for three times as much.
	keeps int64
}

func runAttack(t *testing.T, bin string, plan attackPlan) {
	ac := startAttackCluster(t, bin, bulwark.DefaultProtocol)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	ac.clientOp(ctx, "ok", "put", "hello", "world") // the replicas are up
	cl := ac.dial(ctx, 4)
	checkedPuts(ctx, t, cl, "warm", 0, 8)
	if plan.prepare != nil {
		plan.prepare(ctx, ac, cl)
	}
	// The legitimate load runs once before the attack, so that the idle
	// figure is that of a replica that has served it (its heap grown to
	// what the load and the state need), as it is after the attack.
	warm := startLegit(ctx, t, cl, "warmup", 4, "before", attackAfterBound)
	time.Sleep(attackWarmup)
	warm.stop()
	ac.settle(ctx, cl)

	bound := plan.bound
	if bound == 0 {
		bound = attackOpBound
	}
	mon := ac.monitorRSS()
	load := startLegit(ctx, t, cl, "legit", 4, "during", bound)
	start := time.Now()
	plan.attack(ctx, ac)
	t.Logf("attack over after %v", time.Since(start).Round(100*time.Millisecond))
	mon.finish()
	load.setPhase("after", attackAfterBound)
	time.Sleep(attackAfter)
	load.stop()
	ac.expectRSSBack(3 * plan.keeps) // idle again, as when the idle figure was taken
	if plan.restore != nil {
		plan.restore(ctx, ac)
	}
	if plan.expect != nil {
		plan.expect(ac)
	}
	if !plan.mayChangeView {
		correct := plan.correct
		if correct == nil {
			correct = []int{0, 1, 2, 3}
		}
		ac.expectPrimaryKept(correct)
	}
	ac.converge(ctx, cl, 30*time.Second)
	if t.Failed() {
		ac.logMetrics("bulwark_messages_dropped_total", "bulwark_network_", "bulwark_view_changes_total", "bulwark_suspicions_total", "bulwark_slow_primary_suspicions_total", "bulwark_timeout_forwards_total", "bulwark_executed_requests_total")
	}
}

// largeRequestBound: every large put completes within it, view change
// included.
const largeRequestBound = 20 * time.Second

// Large requests: one client key, 20 sessions, 1 MB puts (bench's
// large-requests attack), and 3 s into it the primary is SIGKILLed, so
// that a view change must carry the log of large batches. Every large put
// must complete (they are legal requests), each within largeRequestBound
// (20 s), and the cluster keep serving.
// The legitimate bound is 10 s here: the view change itself takes the 2 s
// timeout and may double once.
//
// Counters: bulwark_view_changes_total >= 1 at the surviving replicas
// (exists), and bulwark_batch_bytes_sum (a histogram of the encoded bytes
// of each executed batch, the twin of bulwark_batch_size) >= the 20 MB of
// the first round of large puts: the figure that shows batches bounded by
// bytes.
func largeRequestsAttack(t *testing.T) attackPlan {
	killed := -1
	return attackPlan{
		mayChangeView: true,
		bound:         10 * time.Second,
		// One key per session: the attack leaves 20 values of 1 MB.
		keeps: bench.DefaultLargeSessions * bench.DefaultLargeSize,
		attack: func(ctx context.Context, ac *attackCluster) {
			a, err := bench.StartAttack(ctx, bench.LargeRequests, ac.c, bench.AttackOptions{Service: "kv", Timeout: largeRequestBound}, nil)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second)
			sts := ac.status(ctx)
			killed = int(sts[1].Primary)
			ac.kill(killed)
			t.Logf("SIGKILLed the primary, replica %d, %d large puts into the attack", killed, a.Stats().Completed)
			time.Sleep(6 * time.Second)
			st, err := a.Stop()
			if err != nil {
				t.Error(err)
			}
			t.Logf("large requests: %d sent, %d completed, %d errors, max latency %v (first error: %s)",
				st.Sent, st.Completed, st.Errors, st.MaxLatency.Round(time.Millisecond), st.FirstError)
			if st.Errors != 0 || st.Completed < int64(st.Sessions) {
				t.Errorf("large requests: %d of %d completed, %d failed (first: %s); every one must complete",
					st.Completed, st.Sent, st.Errors, st.FirstError)
			}
		},
		restore: func(ctx context.Context, ac *attackCluster) {
			if killed >= 0 {
				ac.start(killed)
			}
		},
		expect: func(ac *attackCluster) {
			for id := range 4 {
				if id == killed {
					continue
				}
				ac.expectCounter(id, 1, 5*time.Second, "bulwark_view_changes_total")
				ac.expectCounter(id, 20*bench.DefaultLargeSize, 3*time.Second, "bulwark_batch_bytes_sum")
			}
		},
	}
}

// Status-query spam: 8 client keys send Status queries (what `bulwark
// status` sends) back to back to replicas 0 (the primary) and 1 for 8 s
// (bench's status-spam attack). The state is 4 MB first (1,000 puts of
// 4 KiB), as a replica's state would be after some use: every answer
// carries the state digest.
//
// Counter: bulwark_status_queries_dropped_total >= 1 at replicas 0 and 1:
// queries beyond a client's fair rate left unanswered and counted.
func statusSpamAttack(t *testing.T) attackPlan {
	return attackPlan{
		mayChangeView: true, // replicas 0 (the primary) and 1 are its targets
		prepare: func(ctx context.Context, ac *attackCluster, _ *bulwark.Client) {
			preload(ctx, t, ac, "state", 1000, 4<<10, 16)
		},
		attack: func(ctx context.Context, ac *attackCluster) {
			a, err := bench.StartAttack(ctx, bench.StatusSpam, ac.c, bench.AttackOptions{Keys: 8, Targets: []uint32{0, 1}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(8 * time.Second)
			st, err := a.Stop()
			if err != nil {
				t.Error(err)
			}
			t.Logf("status spam: %d queries written, %d answered in %v", st.Sent, st.Completed, st.Duration.Round(100*time.Millisecond))
		},
		expect: func(ac *attackCluster) {
			for _, id := range []int{0, 1} {
				ac.expectCounter(id, 1, 3*time.Second, "bulwark_status_queries_dropped_total")
			}
		},
	}
}
