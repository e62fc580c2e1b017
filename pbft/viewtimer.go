package pbft

import (
	"slices"

	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// viewTimer is PBFT's view-change timer, counted in ticks. In the normal case
// it runs while this replica holds a client request that has not executed;
// during a view change it runs once 2f+1 VIEW-CHANGEs for the new view are in,
// waiting for the NEW-VIEW.
type viewTimer struct {
	running bool
	started uint64
}

func (r *Replica) startTimer() {
	if !r.timer.running {
		r.timer = viewTimer{running: true, started: r.ticks}
	}
}

func (r *Replica) restartTimer() { r.timer = viewTimer{running: true, started: r.ticks} }

func (r *Replica) stopTimer() { r.timer = viewTimer{} }

// viewTimeout is T doubled for every view change since the last execution,
// so that some timeout eventually outlasts a slow but correct primary.
func (r *Replica) viewTimeout() uint64 {
	return r.cfg.ViewChangeTicks << min(r.failedViews, 16)
}

// checkTimer fires the timer: in the normal case it starts a view change if a
// held request is still waiting; during a view change it moves on to the
// next view. While f+1 peers report executing beyond this replica, the delay
// is its own lag, not the primary's fault, and the timer waits.
func (r *Replica) checkTimer() {
	if !r.timer.running {
		return
	}
	if r.active && r.behind() && r.ticks-r.progressTick < r.viewTimeout() {
		// f+1 peers, so a correct one, executed further: the primary makes
		// progress, and this replica is catching up (Status resends, state
		// transfer). Any request the primary starves also waits at the f+1
		// correct replicas that executed the most; their timers fire. But
		// a replica that executed nothing for a whole timeout is not
		// catching up: a faulty primary may serve the others just enough
		// (the simulator's small-scope mutation found one keeping two
		// replicas behind while the third suspected alone), and it
		// suspects too.
		r.restartTimer()
		return
	}
	if r.ticks-r.timer.started < r.viewTimeout() {
		return
	}
	if r.active {
		r.dropForgedRequests()
	}
	if r.active && !r.holdsPendingRequest() {
		r.stopTimer()
		return
	}
	if !r.hearsQuorum() {
		// Cut off from the others, this replica cannot tell a faulty primary
		// from its own isolation, and a view change needs 2f+1 replicas
		// anyway; suspecting the primary alone, or moving on alone from a
		// view change whose NEW-VIEW it missed, would only strand it in a
		// view nobody else moves to. Reconnected, it gets the NEW-VIEW
		// resent.
		r.restartTimer()
		return
	}
	if r.active && !bug(BugSuspectWithoutForwarding) && r.forwardHeld() {
		r.restartTimer()
		return
	}
	if !r.active {
		if r.viewStartedElsewhere() || !r.hearsFresh() {
			// f+1 peers (a correct one among them) work in the view this
			// replica changes to: it only missed the NEW-VIEW, which they
			// resend when its Status shows so. Or it has not heard the
			// others since a partition healed, and does not know yet.
			r.restartTimer()
			return
		}
		if bug(BugLoneEscalation) {
			r.startViewChange(r.view + 1)
			return
		}
		// The new view's primary has not started it: suspect it as a
		// working primary is suspected, and move on only with f other
		// replicas (or join f+1 that did). Moving on alone left a replica
		// waiting for a view nobody else needed: a twin on its side of a
		// partition made it the one replica to give up on a view the
		// others then started (the simulator's Twins suites).
	}
	r.suspectPrimary()
}

// viewStartedElsewhere reports whether f+1 peers, heard recently, are
// active in the view this replica is changing to.
func (r *Replica) viewStartedElsewhere() bool {
	n := 0
	for id, p := range r.peers {
		if uint32(id) != r.cfg.ID && p.seen && r.ticks-p.heard <= 4*r.cfg.StatusTicks && p.view == r.view && !p.changing {
			n++
		}
	}
	return n > r.q.f
}

// hearsFresh reports whether 2f peers sent a Status within the last two
// Status periods: what a replica knows of the others is current.
func (r *Replica) hearsFresh() bool { return r.heardWithin(2*r.cfg.StatusTicks) >= r.q.prepared() }

// suspectPrimary: the timer fired in the normal case. The replica says so
// to its peers, but a suspicion binds it to nothing: it goes on acting in
// the view, and sends its VIEW-CHANGE (which does bind it never to act in
// the view again) only once f+1 replicas suspect the primary, so at least
// one correct replica besides itself, or once f+1 VIEW-CHANGEs make it join.
// A replica whose timer fired alone, just before progress resumed, then
// withdraws its suspicion when it executes, instead of waiting alone in a
// view the others never move to. When the primary is faulty every correct
// replica holding the starved request times out, and 2f+1 >= f+1 suspect.
// Safety does not depend on when a view change starts, only on the
// VIEW-CHANGE and NEW-VIEW rules, which are unchanged.
func (r *Replica) suspectPrimary() {
	r.restartTimer() // fires again after another T while the suspicion stands
	if !r.suspecting {
		r.suspecting = true
		r.stats.Suspicions++
		r.broadcastStatus()
	}
	r.maybeChangeView()
}

// withdrawSuspicion: the replica executed in its view, so the primary makes
// progress.
func (r *Replica) withdrawSuspicion() {
	if r.active && r.suspecting && !r.slowPrimary {
		r.suspecting = false
		r.broadcastStatus()
	}
}

// maybeChangeView starts the view change once this replica and f other
// replicas, heard from recently, suspect the primary of its view (or have
// moved past it): the primary it works under, or the one whose NEW-VIEW it
// waits for.
func (r *Replica) maybeChangeView() {
	if !r.suspecting {
		return
	}
	// Only what it can show the others counts: signed suspicions (they
	// travel in its VIEW-CHANGE, see joinOnSuspicions) and VIEW-CHANGEs
	// for the next view.
	n := 1
	next := r.viewChanges[r.view+1] // nil until one arrived
	for id, p := range r.peers {
		if uint32(id) == r.cfg.ID {
			continue
		}
		if id < len(next) && next[id] != nil || p.suspicion != nil && p.suspicion.GetView() == r.view && r.ticks-p.heard <= 4*r.cfg.StatusTicks {
			n++
		}
	}
	if n > r.q.f || bug(BugLoneSuspicionChangesView) {
		r.startViewChange(r.view + 1)
	}
}

// hearsQuorum reports whether 2f peers sent a Status within the last four
// Status periods.
func (r *Replica) hearsQuorum() bool { return r.heardWithin(4*r.cfg.StatusTicks) >= r.q.prepared() }

// heardWithin counts the peers that sent a Status within the last ticks.
func (r *Replica) heardWithin(ticks uint64) int {
	n := 0
	for id, p := range r.peers {
		if uint32(id) != r.cfg.ID && p.seen && r.ticks-p.heard <= ticks {
			n++
		}
	}
	return n
}

// behind reports whether f+1 peers in this view executed beyond this replica.
func (r *Replica) behind() bool {
	n := 0
	for id, p := range r.peers {
		if uint32(id) != r.cfg.ID && p.seen && p.view == r.view && p.lastExec > r.lastExec {
			n++
		}
	}
	return n > r.q.f
}

// dropForgedRequests checks, before this replica suspects the primary, the
// client signatures of the requests it holds unordered on their connection's
// word alone, and drops those that do not verify: a correct primary refuses
// to order them, and a client must not make correct replicas suspect it. It
// runs only when the timer fires, so in the common case nothing is checked.
func (r *Replica) dropForgedRequests() {
	for k, cs := range r.clients {
		if cs.pending == nil || cs.ordered || cs.verified {
			continue
		}
		if !r.verifyClient(cs.pending) {
			r.clearPending(k, cs)
			_ = r.drop(ErrBadSignature, "held request with a forged signature")
			continue
		}
		cs.verified = true
	}
}

// holdsPendingRequest scans for a request held but not executed. It runs
// only when the timer fires, so the scan is rare.
func (r *Replica) holdsPendingRequest() bool {
	for _, cs := range r.clients {
		if cs.pending != nil {
			return true
		}
	}
	return false
}

// forwardHeld runs when the timer fires at a backup. Before it suspects the
// primary it forwards the requests it holds unordered that it did not
// forward since the last execution in this view: a correct primary may
// never have got them, or have dropped them with its key, or all keys, at
// their share of held bytes (replicas admit a flood's requests in
// different orders, so each holds some the primary refused, and a busy
// primary refuses forwards too), and a client that sent once and left
// never resends them. Such orphans otherwise fired the timer at every
// backup once the load stopped, and replaced a correct primary (twice
// after each SessionFlood attack). It reports whether it forwarded any
// while none forwarded since the last execution has waited a whole
// timeout: the primary then gets another T, but only once per request
// while it executes nothing, so a primary that ignores what it is told is
// still suspected, one timeout later, however many fresh requests arrive
// and however often clients resend (resends' forwards do not count as the
// timer's). (One that keeps executing other requests is not, here as with PBFT's
// timer, which restarts on every execution.)
func (r *Replica) forwardHeld() bool {
	var fresh []sessionKey
	overdue := false
	for k, cs := range r.clients {
		switch {
		case cs.pending == nil || cs.ordered:
		case cs.timeoutForwardedAt == 0 || cs.timeoutForwardedAt <= r.progressTick+1:
			fresh = append(fresh, k) // not forwarded since the last execution
		case r.ticks+1-cs.timeoutForwardedAt >= r.viewTimeout():
			overdue = true
		}
	}
	if overdue || len(fresh) == 0 {
		return false
	}
	slices.SortFunc(fresh, compareSessionKeys) // deterministic output
	budget := r.cfg.MaxBatchBytes * int(r.cfg.MaxInflightBatches)
	primary := int(r.q.primary(r.view))
	for _, k := range fresh {
		cs := r.clients[k]
		if budget -= cs.pendingSize; budget < 0 {
			break // the rest at the next firing; this batch restarts the timer
		}
		cs.forwardedAt, cs.timeoutForwardedAt = r.ticks+1, r.ticks+1
		r.stats.TimeoutForwards++
		r.send(primary, &wire.Message{Content: &wire.Message_Request{Request: cs.pending}})
	}
	return true
}
